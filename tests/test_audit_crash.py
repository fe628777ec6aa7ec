"""Crash safety: kill -9 anywhere, full disks, failing fsyncs, two writers, torn tails, resumes."""
from __future__ import annotations

import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hamn_tui.audit import writer as writer_module
from hamn_tui.audit.errors import AuditError
from hamn_tui.audit.verify import verify_path
from hamn_tui.audit.writer import AuditWriter
from hamn_tui.app.runs import read_run

from .test_audit_support import Lab, hermetic, lines_of, run_book  # noqa: F401

STEPS = 50


def long_book(tmp: Path, name: str = "crashy") -> Path:
    lines = [f'[runbook]\nid = "{name}"\ntitle = "many steps"\nversion = "1"\ndatabases = ["db2"]\nsummary = "s"\n']
    for n in range(STEPS):
        mutating = n % 3 == 0
        lines.append(f'[[steps]]\nid = "s{n}"\ntitle = "step {n}"\nrun = "echo {n} >> {tmp}/count; echo out {n}; sleep 0.02"\n'
                     + ("irreversible = true\n" if mutating else "mutating = false\n"))
    path = tmp / f"{name}.toml"
    path.write_text("\n".join(lines))
    return path


def clean_env(tmp: Path) -> dict[str, str]:
    """No ssh-agent; keys, state (crash reports) and config under tmp."""
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp / "config"), "XDG_STATE_HOME": str(tmp / "state")}
    env.pop("SSH_AUTH_SOCK", None)
    return env


def hamn(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hamn_tui", *args], capture_output=True, text=True, timeout=60, env=env)


def one_crash(tmp: Path, seed: int) -> str:
    """Run, kill -9 at a random moment, check the log, resume to the end, check again."""
    rng = random.Random(seed)
    tmp.mkdir()
    env = clean_env(tmp)
    book = long_book(tmp)
    audit = tmp / "runs"
    common = [str(book), "--headless", "--yes", "--audit-dir", str(audit)]
    proc = subprocess.Popen([sys.executable, "-m", "hamn_tui", "run", *common], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.time() + 20
        # from the moment the run is on record (log_open and run_started); before that nothing
        # ran, and a new run, not a resume, is what follows
        while not any(p.read_bytes().count(b"\n") >= 2 for p in audit.glob("*/audit-000.jsonl")):
            assert time.time() < deadline and proc.poll() is None, "the run never opened its log"
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.9))
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    [run] = list(audit.iterdir())
    segment = run / "audit-000.jsonl"
    crashed = verify_path(segment)
    assert crashed.status == "INCOMPLETE", f"seed {seed}: {crashed.line}"  # intact up to its last record
    kept = len(crashed.segments[0].records)
    # resume: exit 4 when the kill came mid-command (an unknown outcome needs the operator), then answer it
    for _ in range(3):
        out = hamn("run", *common, "--resume", env=env)
        if out.returncode == 0:
            break
        assert out.returncode == 4, f"seed {seed}: {out.stdout}{out.stderr}"
        state = read_run(run).state
        assert state.in_flight and state.sent_in_flight, f"seed {seed}: waiting without an unknown step: {out.stdout}"
        common_answer = ["--answer", f"{state.in_flight}=done:checked by hand after the crash"]
        out = hamn("run", *common, "--resume", *common_answer, env=env)
        if out.returncode == 0:
            break
    assert out.returncode == 0, f"seed {seed}: {out.stdout}{out.stderr}"
    final = hamn("audit", "verify", str(run), env=env)
    assert final.returncode == 0 and final.stdout.splitlines()[-1].startswith("VALID"), f"seed {seed}: {final.stdout}"
    assert segment.read_bytes()[: crashed.segments[0].size] == segment.read_bytes()  # the crashed segment was never touched
    assert len(verify_path(segment).segments[0].records) == kept
    ran = (tmp / "count").read_text().split()
    assert len(ran) == len(set(ran)), f"seed {seed}: a step ran twice: {ran}"
    return f"seed {seed}: killed after {kept} records; {len(list(run.glob('audit-*.jsonl')))} segments"


def test_kill_9_at_random_points_then_resume_to_a_valid_log(tmp_path):
    seeds = [1000 + n for n in range(20)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda s: one_crash(tmp_path / f"crash{s}", s), seeds))
    print("\n".join(results))
    assert len(results) == 20


@pytest.fixture
def lab(tmp_path) -> Lab:
    return Lab(tmp_path)


TWO = """
[[steps]]
id = "first"
title = "first"
run = "echo first >> TMP/ran"
irreversible = true

[[steps]]
id = "second"
title = "second"
run = "echo second >> TMP/ran"
irreversible = true
"""


@pytest.mark.parametrize("failing", ["write", "fsync"])
def test_a_write_error_stops_the_run_before_the_next_command(lab, tmp_path, monkeypatch, failing):
    real_write, real_fsync = writer_module._write, writer_module._fsync
    state = {"armed": False}

    def write(fd: int, data: bytes) -> int:
        if state["armed"] and failing == "write":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        if b'"type":"step_finished"' in data and b'"first"' in data:
            state["armed"] = True  # the disk fills up after the first step
        return real_write(fd, data)

    def fsync(fd: int) -> None:
        if state["armed"] and failing == "fsync":
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_fsync(fd)

    monkeypatch.setattr(writer_module, "_write", write)
    monkeypatch.setattr(writer_module, "_fsync", fsync)
    writer = AuditWriter(tmp_path / "run" / "audit-000.jsonl", signer=lab.alice())
    with pytest.raises(AuditError, match="stopping before anything else runs"):
        run_book(TWO, tmp_path, writer)
    assert (tmp_path / "ran").read_text().split() == ["first"]  # the second command never ran unrecorded
    assert writer.broken
    with pytest.raises(AuditError, match="could not be written"):
        writer(object())  # type: ignore[arg-type]
    assert verify_path(tmp_path / "run" / "audit-000.jsonl").status in ("INCOMPLETE", "INVALID")


def test_a_full_disk_stops_a_real_run(tmp_path):
    """A 256 KiB tmpfs as the audit directory; a command's output fills it."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a small tmpfs")
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(small)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        book = tmp_path / "filler.toml"
        book.write_text(f'''[runbook]
id = "filler"
title = "fill the disk"
version = "1"
databases = ["db2"]
summary = "s"

[[steps]]
id = "big"
title = "much output"
run = "head -c 1000000 /dev/urandom | base64"
mutating = false

[[steps]]
id = "after"
title = "must not run"
run = "touch {tmp_path}/after"
irreversible = true
''')
        env = clean_env(tmp_path)
        out = subprocess.run([sys.executable, "-m", "hamn_tui", "run", str(book), "--headless", "--yes", "--quiet-output", "--audit-dir", str(small)],
                             capture_output=True, text=True, timeout=60, env=env)
        assert out.returncode == 1, out.stdout + out.stderr
        assert "cannot write the audit log" in out.stderr and "No space left" in out.stderr
        assert "internal error" not in out.stderr
        assert not (tmp_path / "after").exists()
        [run] = list(small.iterdir())
        report = verify_path(run, outputs=False)
        assert report.status == "INCOMPLETE", report.line
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_a_torn_tail_is_kept_and_the_resume_starts_a_new_segment(lab, tmp_path):
    env = clean_env(tmp_path)
    book = long_book(tmp_path, "torn")
    audit = tmp_path / "runs"
    # a finished run, cut as a power loss would cut it
    out = hamn("run", str(book), "--headless", "--yes", "--audit-dir", str(audit), env=env)
    assert out.returncode == 0
    [run] = list(audit.iterdir())
    seg = run / "audit-000.jsonl"
    lines = lines_of(seg)
    cut = next(i for i, line in enumerate(lines) if b'"step_id":"s20"' in line and b'"command_sent"' in line)
    torn = lines[cut][:50]
    seg.write_bytes(b"".join(x + b"\n" for x in lines[:cut]) + torn)  # a power loss mid-record
    Path(str(seg) + ".sig").unlink()
    before = seg.read_bytes()
    assert verify_path(seg).status == "INCOMPLETE"
    contents = read_run(run)
    assert contents.torn and contents.resumable and contents.state.outcomes.get("s19") == "done"
    resumed = hamn("run", str(book), "--headless", "--yes", "--resume", "--audit-dir", str(audit), env=env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert seg.read_bytes() == before  # never repaired in place
    second = run / "audit-001.jsonl"
    opened = json.loads(lines_of(second)[0])["data"]
    assert opened["previous"]["file"] == "audit-000.jsonl" and opened["previous"]["torn_bytes"] == 50 and opened["segment"] == 1
    assert verify_path(run).status == "VALID"
    # the new segment pins the old one: changing, cutting or removing it is caught
    seg.write_bytes(before[:-10])
    assert "is not what it names" in verify_path(run).line
    seg.write_bytes(before.replace(b"out 3", b"out 4", 1))
    assert verify_path(run).status == "INVALID"
    seg.unlink()
    r = verify_path(run)
    assert r.status == "INVALID" and "is missing" in r.line


def test_a_second_writer_is_refused(lab, tmp_path):
    path = tmp_path / "run" / "audit-000.jsonl"
    first = AuditWriter(path, signer=lab.alice())
    second = AuditWriter(path, signer=lab.alice())
    from hamn_tui.record.events import Note

    first(Note("hello"))
    with pytest.raises(AuditError, match="another hamn is writing|already exists"):
        second(Note("me too"))
    first.close()
    with pytest.raises(AuditError, match="already exists"):
        AuditWriter(path, signer=lab.alice())


def test_a_run_still_going_on_is_not_resumed_twice(tmp_path):
    env = clean_env(tmp_path)
    book = tmp_path / "slow.toml"
    book.write_text(f'[runbook]\nid = "slow"\ntitle = "t"\nversion = "1"\ndatabases = ["db2"]\nsummary = "s"\n\n'
                    f'[[steps]]\nid = "wait"\ntitle = "wait"\nrun = "touch {tmp_path}/started; sleep 7.75"\nmutating = false\n')
    audit = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "hamn_tui", "run", str(book), "--headless", "--audit-dir", str(audit)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.time() + 20
        while not (tmp_path / "started").exists():
            assert time.time() < deadline
            time.sleep(0.02)
        out = hamn("run", str(book), "--headless", "--resume", "--audit-dir", str(audit), env=env)
        assert out.returncode == 2 and "still going on in another hamn process" in out.stderr, out.stderr
    finally:
        proc.kill()
        proc.wait()
        subprocess.run(["pkill", "-f", "sleep 7.75"])
