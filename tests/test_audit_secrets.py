"""A secret given as a parameter appears nowhere: not in the log, the stored outputs, the
recordings, the export — even when a command prints it, split across output chunks, on
stderr, or a capture picks it up."""
from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys

from .test_audit_support import hermetic  # noqa: F401

SECRET = "Hunter2-Zq9-s3cr3t"

BOOK = """[runbook]
id = "leaky"
title = "commands that print a secret"
version = "1"
databases = ["db2"]
summary = "s"

[params.pw]
type = "secret"
description = "the database password"

[[steps]]
id = "print"
title = "print it"
run = "echo pw={{ params.pw }}; echo {{ params.pw }} >&2"
mutating = false
capture = [ { name = "got", regex = "pw=(\\\\S+)" } ]

[[steps]]
id = "split"
title = "print it in two chunks"
run = "printf '%s' {{ params.pw }} | cut -c1-6 | tr -d '\\\\n'; sleep 0.4; printf '%s' {{ params.pw }} | cut -c7-"
mutating = false

[[steps]]
id = "fail"
title = "fail with it"
run = "echo {{ params.pw }} >&2; exit 3"
mutating = false
allow_failure = true
"""


def test_a_secret_appears_nowhere(tmp_path):
    book = tmp_path / "leaky.toml"
    book.write_text(BOOK)
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_STATE_HOME": str(tmp_path / "state"), "HAMN_SECRET_PW": SECRET}
    env.pop("SSH_AUTH_SOCK", None)
    audit = tmp_path / "runs"
    out = subprocess.run([sys.executable, "-m", "hamn_tui", "run", str(book), "--headless", "--audit-dir", str(audit)],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    [run] = list(audit.iterdir())

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "hamn_tui", "audit", *args], capture_output=True, text=True, timeout=60, env=env)

    assert cli("verify", str(run)).returncode == 0
    assert cli("export", str(run), "--format", "html", "-o", str(tmp_path / "report.html"), "--casts", str(tmp_path / "casts")).returncode == 0
    assert cli("export", str(run), "--format", "md", "-o", str(tmp_path / "report.md")).returncode == 0
    shown = cli("show", str(run), "--output")
    assert shown.returncode == 0

    forms = [SECRET.encode(), hashlib.sha256(SECRET.encode()).hexdigest().encode(), SECRET[:10].encode()]
    everything: list[tuple[str, bytes]] = [("show", shown.stdout.encode())]
    for path in [*run.rglob("*"), *tmp_path.glob("report.*"), *(tmp_path / "casts").glob("*")]:
        if path.is_file():
            data = path.read_bytes()
            everything.append((str(path), data))
            if path.suffix == ".gz":
                everything.append((f"{path} (uncompressed)", gzip.decompress(data)))
    assert len(everything) > 10
    for name, data in everything:
        for form in forms:
            assert form not in data, f"{form!r} found in {name}"
    # the redaction is there, and counted
    import json

    log = (run / "audit-000.jsonl").read_text()
    assert '"value":"******"' in log and '"pw":"******"' in log
    results = {r["data"]["step_id"]: r["data"] for r in map(json.loads, log.splitlines()) if r["type"] == "command_finished"}
    assert results["print"]["redactions"] == 2 and results["split"]["redactions"] == 1 and results["fail"]["redactions"] == 1

    def blob(sha: str) -> bytes:
        return gzip.decompress((run / "outputs" / f"{sha}.gz").read_bytes())

    assert blob(results["print"]["stdout_sha256"]) == b"pw=******\n"
    assert blob(results["print"]["stderr_sha256"]) == b"******\n"
    assert blob(results["split"]["stdout_sha256"]) == b"******\n"  # printed in two chunks, 0.4 s apart
    assert results["split"]["stdout_bytes"] == len(SECRET) + 1  # the transport's count of what the command printed
