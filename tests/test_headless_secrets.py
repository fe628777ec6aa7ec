"""A secret a command prints never reaches the operator's screen in headless mode."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hamn_tui.record.events import CommandFinished, OutputChunk
from hamn_tui.cli.headless import HeadlessPrinter

BOOK = """
[runbook]
id = "echoes"
title = "a command that echoes its password"
version = "1"
databases = ["db2"]
summary = "s"

[params.pw]
type = "secret"
description = "instance password"

[[steps]]
id = "leak"
title = "prints the secret, split over two writes, and on stderr"
run = "printf '%s' {{ params.pw }} | cut -c1-4 | tr -d '\\\\n'; sleep 0.2; printf '%s' {{ params.pw }} | cut -c5-; echo {{ params.pw }} >&2"
mutating = false
"""


def test_headless_run_never_shows_the_secret(tmp_path: Path):
    (tmp_path / "echoes.toml").write_text(BOOK)
    env = dict(os.environ, HAMN_SECRET_PW="s3cr3t-Pa55", XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    env.pop("SSH_AUTH_SOCK", None)
    out = subprocess.run([sys.executable, "-m", "hamn_tui", "run", str(tmp_path / "echoes.toml"), "--headless", "--audit-dir", str(tmp_path / "runs")],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "s3cr3t" not in out.stdout + out.stderr and "Pa55" not in out.stdout + out.stderr
    assert out.stdout.count("******") >= 3  # the command line, and the echoed value on stdout and stderr


def test_printer_joins_a_secret_split_across_chunks():
    lines: list[str] = []

    class Out:
        def write(self, s):
            lines.append(s)

    p = HeadlessPrinter(out=Out())
    p.secrets = ["hunter2"]
    for chunk in (b"pass: hun", b"ter", b"2 ok\n", b"tail hu"):
        p(OutputChunk("s", "n", "stdout", chunk))
    p(CommandFinished("s", "n", "exited", 0, None, 0, 0, 0))
    assert "".join(lines) == "pass: ****** ok\ntail hu"
