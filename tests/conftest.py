"""Shared helpers: a minimal valid runbook, and running `hamn validate` on text."""
from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from pathlib import Path

import hypothesis  # noqa: F401  - imported (and assertion-rewritten) now, before any TUI worker thread exists:
# CPython 3.11.7 tracks the AST validator's depth globally (gh-106905), so pytest compiling a
# lazily imported plugin module while a thread compiles too fails with "AST constructor
# recursion depth mismatch"
import pytest
from click.testing import CliRunner

from hamn_tui.cli import main

# Tests (and the hamn processes they start) keep keys, crash reports and runs out of the
# user's home, and never sign with the user's ssh-agent.
_HOME = Path(tempfile.mkdtemp(prefix="hamn-test-home-"))
os.environ["XDG_CONFIG_HOME"] = str(_HOME / "config")
os.environ["XDG_STATE_HOME"] = str(_HOME / "state")
os.environ.pop("SSH_AUTH_SOCK", None)
os.environ.pop("HAMN_AUDIT_DIR", None)
os.environ.pop("HAMN_CLUSTER", None)
atexit.register(shutil.rmtree, _HOME, True)

REPO = Path(__file__).resolve().parent.parent
LOCATED = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<msg>.+)$")

MINIMAL = '''\
[runbook]
id = "demo"
title = "Demo"
version = "1"
databases = ["db2"]
summary = "A minimal runbook the tests mutate."

[params.target]
type = "host"
description = "where to go"
default = "mn2"

[params.mode]
type = "choice"
choices = ["fast", "slow"]
default = "fast"
description = "how"

[[steps]]
id = "look"
title = "Look"
kind = "check"
[[steps.verify]]
node = "standby"
probe = "db2.hadr"
field = "state"
equals = "PEER"

[[steps]]
id = "pick"
title = "Pick"
kind = "choice"
options = [ { id = "go", label = "Go" }, { id = "stay", label = "Stay" } ]

[[steps]]
id = "act"
title = "Act"
node = "standby"
user = "{{ cluster.db2.instance }}"
run = "db2 takeover hadr on database {{ cluster.db2.database }}"
mutating = true
when = { choice = "pick", equals = "go" }
[steps.rollback]
run = "db2 takeover hadr on database {{ cluster.db2.database }}"
node = "primary"
'''


class Validated:
    def __init__(self, exit_code: int, output: str):
        self.exit_code = exit_code
        self.output = output
        self.lines = [l for l in output.splitlines() if l.strip()]

    def located(self) -> list[re.Match[str]]:
        return [m for m in (LOCATED.match(l) for l in self.lines) if m]


@pytest.fixture
def validate_text(tmp_path: Path):
    """Write `text` as demo.toml (or `name`) and run `hamn validate` on it."""

    def run(text: str | bytes, name: str = "demo.toml", *extra: str) -> Validated:
        path = tmp_path / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        result = CliRunner().invoke(main, ["validate", str(path), *extra])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        return Validated(result.exit_code, result.output.replace(str(tmp_path) + "/", ""))

    return run
