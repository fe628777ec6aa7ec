"""Inputs at their limits: options that are no number, numbers no DB2 prints, inputs larger than any status,
values that cannot be true, crashes close together, a key file that is no private key, a directory with no
runbooks, a primary with 100 standbys on an 80-column console, an output subscriber that raises, and the
DB2 samples the tests read — all inside the repository."""
from __future__ import annotations

import asyncio
import datetime as dt
import gc
import importlib
import json
import os
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from .conftest import REPO

FIXTURES = REPO / "tests" / "fixtures_db2"
STANDBY = FIXTURES / "v115_standby_peer.txt"
DISCONNECTED_PEER = FIXTURES / "v115_standby_disconnected_peer.txt"
CAP = 4 * 1024 * 1024
TOO_LARGE = "input larger than 4 MiB: not db2pd/snapshot/db cfg output"


def hamn(*args: str, stdin: Any = None, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    """`python -m hamn_tui ARGS` from the repository; stdin is bytes, or an open file handed over as is."""
    kw: dict[str, Any] = {"input": stdin} if isinstance(stdin, bytes) else {"stdin": stdin if stdin is not None else subprocess.DEVNULL}
    return subprocess.run([sys.executable, "-m", "hamn_tui", *args], capture_output=True, cwd=REPO, timeout=timeout,
                          env=env or {**os.environ, "COLUMNS": "200"}, **kw)


def one_line(r: subprocess.CompletedProcess[bytes], code: int) -> str:
    """The single stderr line of a refused command (exit `code`, nothing on stdout, no traceback)."""
    err = r.stderr.decode()
    assert r.returncode == code, (r.returncode, err)
    assert r.stdout == b"", r.stdout[:200]
    assert "Traceback" not in err and err.count("\n") == 1 and err.endswith("\n"), err
    return err.rstrip("\n")


def edited(tmp_path: Path, source: Path, old: str, new: str, name: str = "edited.txt") -> Path:
    text = source.read_text()
    assert old in text, old
    path = tmp_path / name
    path.write_text(text.replace(old, new))
    return path


# --- 1. options that are no number, numbers no DB2 prints --------------------------------------------

@pytest.mark.parametrize("now", ["inf", "nan", "-inf", "-1"])
def test_advise_now_must_be_a_finite_epoch(now: str):
    err = one_line(hamn("hadr", "advise", str(STANDBY), "--now", now, "--json"), 2)
    assert err.startswith(f"hamn hadr advise: --now {float(now):g}: expected epoch seconds"), err


@pytest.mark.parametrize("interval", ["inf", "nan", "-5", "0"])
def test_status_watch_interval_must_be_finite_and_positive(interval: str):
    """Before: inf slept forever (or crashed the sleep), nan crashed it, a negative one spun."""
    start = time.monotonic()
    r = hamn("status", "--training", "standby-fails", "--watch", "--interval", interval, "--count", "2", timeout=60)
    err = one_line(r, 2)
    assert err.startswith(f"hamn status: --interval {float(interval):g}: expected seconds"), err
    assert time.monotonic() - start < 30


BIG = "9" * 5000


@pytest.mark.parametrize("command", ["parse", "advise"])
@pytest.mark.parametrize(("old", "new", "line", "key"), [
    ("HADR_LOG_GAP(bytes) = 0", f"HADR_LOG_GAP(bytes) = {BIG}", 33, "HADR_LOG_GAP(bytes)"),
    ("(1715656322)", f"({BIG})", 45, "PEER_WINDOW_END"),
    ("(1715656322)", f"({'9' * 400})", 45, "PEER_WINDOW_END"),  # under Python's own limit: crashed advise (int → float)
    ("S0000318.LOG, 4410, 1312345678\n            STANDBY", f"S0000318.LOG, 4410, {BIG}\n            STANDBY", 31, "PRIMARY_LOG_FILE,PAGE,POS"),
    ("HADR_TIMEOUT(seconds) = 120", f"HADR_TIMEOUT(seconds) = {BIG}", 22, "HADR_TIMEOUT(seconds)"),
], ids=["log-gap", "epoch", "epoch-400-digits", "log-position", "duration"])
def test_a_huge_number_is_a_parse_error_with_its_line(tmp_path: Path, command: str, old: str, new: str, line: int, key: str):
    path = edited(tmp_path, STANDBY, old, new)
    err = one_line(hamn("hadr", command, str(path), "--json"), 1)
    assert err.startswith(f"hamn hadr {command}: {path}:{line}: {key}: "), err
    assert re.search("64-bit|finite", err) and "set_int_max_str_digits" not in err and len(err) < 400, err


# --- 2. two crashes in one second ---------------------------------------------------------------------

def test_two_crashes_in_the_same_instant_write_two_crash_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    """The clock is frozen, so the two reports share their time to the microsecond (and the pid): the
    second must still get a file of its own, not overwrite the first."""
    from hamn_tui.cli.runbooks import runbooks

    cli_main = importlib.import_module("hamn_tui.cli.main")  # the module: `hamn_tui.cli.main` is also the click group
    calls: list[int] = []

    def boom(**_: object) -> None:
        calls.append(1)
        raise RuntimeError(f"bug number {len(calls)}")

    class Frozen(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> dt.datetime:  # type: ignore[override]
            return dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.timezone.utc)

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setattr(runbooks, "callback", boom)
    monkeypatch.setattr(sys, "argv", ["hamn", "runbooks"])
    monkeypatch.setattr(dt, "datetime", Frozen)
    for _ in range(2):
        with pytest.raises(SystemExit) as exc:
            cli_main.entry()
        assert exc.value.code == 70
    monkeypatch.undo()
    said = [Path(line.split("(details in ")[1].rstrip(")")) for line in capsys.readouterr().err.splitlines()]
    assert len(said) == 2 and said[0] != said[1]
    assert sorted((tmp_path / "state" / "hamn").glob("crash-*.txt")) == sorted(said)
    assert [("bug number 1" in f.read_text(), "bug number 2" in f.read_text()) for f in said] == [(True, False), (False, True)]
    assert all(f.stat().st_mode & 0o077 == 0 for f in said)  # a traceback may show paths and values: the operator's only


# --- 3. one input cap, files and stdin alike ------------------------------------------------------------

@pytest.mark.parametrize("command", ["parse", "advise"])
def test_stdin_larger_than_the_cap_is_refused_promptly(command: str):
    data = b"HADR_ROLE = STANDBY\n" * (20 * 1024 * 1024 // 20)  # 20 MB
    start = time.monotonic()
    err = one_line(hamn("hadr", command, "-", stdin=data), 1)
    assert err == f"hamn hadr {command}: <stdin>: {TOO_LARGE}"
    assert time.monotonic() - start < 20


@pytest.mark.parametrize("command", ["parse", "advise"])
@pytest.mark.parametrize("where", ["file", "stdin"])
def test_a_huge_sparse_input_is_refused_reading_only_the_cap_plus_one_byte(tmp_path: Path, command: str, where: str):
    """100 MB (sparse: no disk used). Given as stdin, the file's offset afterwards shows how much was read."""
    path = tmp_path / "huge.txt"
    with open(path, "wb") as fh:
        fh.truncate(100 * 1024 * 1024)
    start = time.monotonic()
    if where == "file":
        err = one_line(hamn("hadr", command, str(path)), 1)
        assert err == f"hamn hadr {command}: {path}: {TOO_LARGE}"
    else:
        with open(path, "rb") as fh:
            err = one_line(hamn("hadr", command, "-", stdin=fh), 1)
            assert os.lseek(fh.fileno(), 0, os.SEEK_CUR) == CAP + 1
        assert err == f"hamn hadr {command}: <stdin>: {TOO_LARGE}"
    assert time.monotonic() - start < 20


@pytest.mark.parametrize("command", ["parse", "advise"])
def test_the_cap_itself_is_allowed_one_byte_more_is_not(tmp_path: Path, command: str):
    sample = STANDBY.read_bytes() + b"\n"
    at_cap = sample + b" " * (CAP - len(sample) - 1) + b"\n"  # a blank last line: still the same status
    assert len(at_cap) == CAP
    ok = hamn("hadr", command, "-", "--json", stdin=at_cap)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)  # a status (parse) or the verdicts (advise)
    assert one_line(hamn("hadr", command, "-", "--json", stdin=at_cap + b"\n"), 1) == f"hamn hadr {command}: <stdin>: {TOO_LARGE}"


# --- 4. values that cannot be true ------------------------------------------------------------------------

def advise_json(path: Path, *args: str) -> dict[str, Any]:
    r = hamn("hadr", "advise", str(path), "--json", *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_a_negative_log_gap_is_reported_and_makes_graceful_unknown(tmp_path: Path):
    assert advise_json(STANDBY)["graceful"]["verdict"] == "allowed"  # the unedited sample
    path = edited(tmp_path, STANDBY, "HADR_LOG_GAP(bytes) = 0", "HADR_LOG_GAP(bytes) = -4096")
    v = advise_json(path)
    assert v["graceful"]["verdict"] == "unknown"
    assert any("HADR_LOG_GAP" in r and "-4096" in r and "negative" in r for r in v["graceful"]["reasons"]), v["graceful"]
    parsed = json.loads(hamn("hadr", "parse", str(path), "--json").stdout)
    ch = parsed["channels"][0]
    assert ch["log_gap_bytes"] is None and "HADR_LOG_GAP" in ch["implausible"]["log_gap_bytes"]
    assert any(w.startswith("line 33: HADR_LOG_GAP(bytes)") for w in parsed["warnings"]), parsed["warnings"]


def test_negative_log_positions_leave_the_possible_loss_unknown(tmp_path: Path):
    text = DISCONNECTED_PEER.read_text().replace("S0000318.LOG, 4406, 1312329011\n            STANDBY_LOG",
                                                  "S0000318.LOG, 4406, -1312329011\n            STANDBY_LOG")
    path = tmp_path / "edited.txt"
    path.write_text(text.replace("HADR_LOG_GAP(bytes) = 0", "HADR_LOG_GAP(bytes) = -1"))
    v = advise_json(path, "--now", "1715656200", "--primary-down", "--fenced")
    assert v["estimated_loss_bytes"] is None
    assert v["force"]["verdict"] == "refused" or v["force"]["verdict"] == "allowed"  # the loss is said, not decided on
    assert any("PRIMARY_LOG_FILE,PAGE,POS" in r and "impossible" in r for r in v["force"]["reasons"]), v["force"]
    assert any("HADR_LOG_GAP" in r and "impossible" in r for r in v["force"]["reasons"]), v["force"]
    assert any("an unknown amount of log" in r for r in v["force"]["reasons"]), v["force"]


WINDOW_END = "PEER_WINDOW_END = 05/14/2024 03:10:30.000000 (1715656230)"


@pytest.mark.parametrize("printed", [
    "PEER_WINDOW_END = 05/16/2024 03:10:30.000000 (1715656230)",  # two days from its epoch
    "PEER_WINDOW_END = 05/14/2024 06:17:42.000000 (1715656230)",  # 3h07m12s: no time zone's offset
])
def test_a_peer_window_end_whose_date_and_epoch_disagree_makes_peer_window_only_unknown(tmp_path: Path, printed: str):
    args = ("--now", "1715656200", "--primary-down", "--fenced")
    assert advise_json(DISCONNECTED_PEER, *args)["peer_window_only"]["verdict"] == "allowed"  # the unedited sample
    v = advise_json(edited(tmp_path, DISCONNECTED_PEER, WINDOW_END, printed), *args)
    assert v["peer_window_only"]["verdict"] == "unknown"
    assert any(r.startswith("PEER_WINDOW_END = ") and "no time zone" in r for r in v["peer_window_only"]["reasons"]), v


def test_a_peer_window_end_in_another_time_zone_is_still_trusted(tmp_path: Path):
    """The zone is unknown: a local time 5 h behind its epoch (as in IBM's 10.1 sample, -7 h) is fine."""
    path = edited(tmp_path, DISCONNECTED_PEER, WINDOW_END, "PEER_WINDOW_END = 05/13/2024 22:10:30.000000 (1715656230)")
    v = advise_json(path, "--now", "1715656200", "--primary-down", "--fenced")
    assert v["peer_window_only"]["verdict"] == "allowed", v


# --- 5. a directory with no runbooks, a key that is no private key, 100 standbys, a raising subscriber ------

def test_validate_a_directory_without_runbooks_says_so(tmp_path: Path):
    from hamn_tui.cli import main

    (tmp_path / "notes.txt").write_text("not a runbook")
    result = CliRunner().invoke(main, ["validate", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert result.output == f"{tmp_path}:1:1: no runbooks here: a directory stands for the *.toml files in it, and it has none\n"


RUNBOOK = """[runbook]
id = "t"
title = "t"
version = "1"
databases = ["db2"]
summary = "s"

[[steps]]
id = "look"
title = "look"
run = "echo looked"
mutating = false
"""


@pytest.mark.parametrize("which", ["public key", "public key, mode 600", "/etc/passwd"])
def test_key_that_is_not_a_private_key_is_one_line(tmp_path: Path, which: str):
    key = tmp_path / "keys" / "op"
    key.parent.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "op", "-f", str(key)], check=True, timeout=30)
    given = {"public key": Path(f"{key}.pub"), "/etc/passwd": Path("/etc/passwd")}.get(which)
    if given is None:
        given = tmp_path / "keys" / "copy-of-op.pub"
        given.write_bytes(Path(f"{key}.pub").read_bytes())
        given.chmod(0o600)
    (tmp_path / "t.toml").write_text(RUNBOOK)
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_STATE_HOME": str(tmp_path / "state")}
    env.pop("SSH_AUTH_SOCK", None)
    r = hamn("run", str(tmp_path / "t.toml"), "--headless", "--key", str(given), "--audit-dir", str(tmp_path / "runs"), env=env)
    err = one_line(r, 2)
    assert err.startswith(f"hamn run: the signing key {given} is not a private key"), err
    assert [p for p in (tmp_path / "runs").glob("*") if p.is_dir()] == []  # no run was started


def hundred_standbys() -> bytes:
    lines = (FIXTURES / "v115_primary_two_standbys_one_disconnected.txt").read_text().splitlines(keepends=True)
    head, block = lines[:3], "".join(lines[3:47])
    assert block.lstrip().startswith("HADR_ROLE = PRIMARY") and lines[47].strip() == "HADR_ROLE = PRIMARY"
    blocks = []
    for i in range(100):
        state = ("PEER", "DISCONNECTED", "REMOTE_CATCHUP")[i % 3]
        blocks.append(block.replace("STANDBY_ID = 1", f"STANDBY_ID = {i + 1}")
                      .replace("STANDBY_MEMBER_HOST = xcatmn2", f"STANDBY_MEMBER_HOST = sb{i:03d}")
                      .replace("HADR_STATE = PEER", f"HADR_STATE = {state}"))
    return ("".join(head) + "".join(blocks)).encode()


def test_a_hundred_standbys_are_readable_at_80_columns():
    r = hamn("hadr", "parse", "-", stdin=hundred_standbys(), env={**os.environ, "COLUMNS": "80"})
    assert r.returncode == 0, r.stderr
    text = r.stdout.decode()
    assert max(len(line) for line in text.splitlines()) <= 80
    words = re.findall(r"[\w]+", text)  # whatever the layout: every host and every state whole, not folded away
    assert [w for w in words if w.startswith("sb")] == [f"sb{i:03d}" for i in range(100)]
    assert (words.count("PEER"), words.count("REMOTE_CATCHUP")) == (34, 33)
    sections = re.split(r"HADR channel #\d+ of 100", text)[1:]
    assert len(sections) == 100
    for i, section in enumerate(sections):
        state = re.search(r"│ state\s+│ (\S+)", section)
        host = re.search(r"│ standby host\s+│ (\S+)", section)
        assert (state and state.group(1), host and host.group(1)) == (("PEER", "DISCONNECTED", "REMOTE_CATCHUP")[i % 3], f"sb{i:03d}")


def test_a_raising_output_subscriber_leaves_no_open_transport_behind(monkeypatch: pytest.MonkeyPatch):
    """The sink raises on the first chunk of a large output: the command is stopped, the error comes back,
    and once the loop is closed nothing of the subprocess is reclaimed late ("Event loop is closed")."""
    from hamn_tui.transport.local import LocalTransport

    unraisable: list[str] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: unraisable.append(f"{u.exc_value!r} in {u.object!r}"))

    def sink(stream: str, chunk: bytes) -> None:
        raise RuntimeError("the subscriber broke")

    async def go() -> None:
        with pytest.raises(RuntimeError, match="the subscriber broke"):
            await asyncio.wait_for(LocalTransport(kill_grace_s=0.5).run("local", "seq 1 300000; sleep 30", on_output=sink,
                                                                       timeout_s=20), 25)

    start = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(go())
        gc.collect()
    assert time.monotonic() - start < 15  # the command was stopped, not waited for
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert unraisable == []


def test_quitting_the_tui_mid_command_leaves_no_subprocess_for_the_garbage_collector():
    """The app quits while a local command runs (the run is cancelled, a kill script stops the
    command's tree, the loop closes): neither subprocess may be reclaimed after its loop is gone.
    It showed as "Event loop is closed" in whichever test ran next, so this runs the two TUI tests
    that exposed it, in their own pytest, with that warning made an error."""
    tests = [f"tests/test_tui_screens.py::{name}" for name in (
        "test_leaving_a_running_run_is_refused_and_quit_asks", "test_rollback_shows_its_plan_then_undoes_and_a_note_reaches_the_audit_log")]
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error::pytest.PytestUnraisableExceptionWarning",
                          *tests], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "2 passed" in out.stdout and "warning" not in out.stdout, out.stdout[-3000:]


# --- 6. the repository stands alone ----------------------------------------------------------------------

def test_the_tests_read_db2_samples_only_from_inside_the_repository():
    outside = re.compile(r"""parents\[\d+\]\s*/\s*["']shared|["']\.\./shared|/work/shared""")
    offenders = [f"{p.name}:{n}" for p in sorted((REPO / "tests").glob("*.py")) if p.name != Path(__file__).name
                 for n, line in enumerate(p.read_text().splitlines(), 1) if outside.search(line)]
    assert offenders == []
    readme = (FIXTURES / "README.md").read_text()
    for sample in sorted(FIXTURES.glob("*.txt")):
        assert f"`{sample.name}`" in readme, f"{sample.name}: no provenance in tests/fixtures_db2/README.md"
    assert sorted(p.name for p in (FIXTURES / "messages").glob("*.txt")) == [
        "m01_takeover_success.txt", "m02_takeover_sql1770n_rc7_primary_unreachable.txt", "m05_stop_hadr_sql1769n_rc2_active_standby.txt",
        "m06_sql1117n_rollforward_pending.txt", "m10_sql1035n_in_use_v97_text.txt", "m15_restore_sql2539w_prompt.txt"]
    assert "`messages/`" in readme
