"""A headless run killed with -9 mid-command resumes where it stopped; no step runs twice unasked."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from hamn_tui.app.runs import read_run

BOOK = """
[runbook]
id = "resumable"
title = "three steps"
version = "1"
databases = ["db2"]
summary = "s"

[[steps]]
id = "one"
title = "one"
run = "echo one >> {d}/count"
irreversible = true

[[steps]]
id = "two"
title = "two, slow"
run = "echo two >> {d}/count; touch {d}/started; sleep 61.25"
irreversible = true
timeout_s = 300

[[steps]]
id = "three"
title = "three"
run = "echo three >> {d}/count"
irreversible = true
"""


def hamn(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hamn_tui", "run", *args], capture_output=True, text=True, cwd=cwd, timeout=60)


def test_kill_9_then_resume_repeats_nothing(tmp_path: Path):
    book = tmp_path / "resumable.toml"
    book.write_text(BOOK.format(d=tmp_path))
    audit = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "hamn_tui", "run", str(book), "--headless", "--yes", "--audit-dir", str(audit)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 20
        while not (tmp_path / "started").exists():
            assert time.time() < deadline, "step two never started"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        subprocess.run(["pkill", "-f", "sleep 61.25"])
    [journal] = list(audit.glob("resumable-*"))  # the run's directory of audit log segments
    contents = read_run(journal)
    assert contents.finished is None and contents.state.in_flight == "two" and contents.state.sent_in_flight
    assert (tmp_path / "count").read_text().split() == ["one", "two"]

    fresh = hamn(str(book), "--headless", "--yes", "--audit-dir", str(audit), cwd=tmp_path)
    assert fresh.returncode == 2 and "an unfinished run of resumable exists" in fresh.stderr and "--resume" in fresh.stderr

    waiting = hamn(str(book), "--headless", "--yes", "--resume", "--audit-dir", str(audit), cwd=tmp_path)
    assert waiting.returncode == 4, waiting.stdout + waiting.stderr
    assert "the outcome is unknown" in waiting.stdout
    assert (tmp_path / "count").read_text().split() == ["one", "two"]  # nothing re-ran

    done = hamn(str(book), "--headless", "--yes", "--resume", "--answer", "two=done:the sleep was only a wait", "--audit-dir", str(audit), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "count").read_text().split() == ["one", "two", "three"]
    final = read_run(journal)
    assert final.finished == "done"
    assert final.state.outcomes == {"one": "done", "two": "done", "three": "done"}
    sent = [r["data"]["command"] for r in final.records if r["type"] == "command_sent"]
    assert [c.split(">>")[0].strip() for c in sent] == ["echo one", "echo two", "echo three"]


def test_torn_last_line_is_ignored_and_reported(tmp_path: Path):
    book = tmp_path / "resumable.toml"
    book.write_text(BOOK.format(d=tmp_path).replace("sleep 61.25", "true"))
    audit = tmp_path / "runs"
    out = hamn(str(book), "--headless", "--yes", "--audit-dir", str(audit), cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    [journal] = list(audit.glob("*/audit-000.jsonl"))
    lines = journal.read_bytes().split(b"\n")
    # cut the run_finished record in half, as a crash mid-write would
    cut = next(i for i, line in enumerate(lines) if b'"type":"run_finished"' in line)
    journal.write_bytes(b"\n".join(lines[:cut]) + b"\n" + lines[cut][: len(lines[cut]) // 2])
    contents = read_run(journal)
    assert contents.torn and contents.finished is None and contents.resumable
