"""`hamn hadr parse` through the real console (python -m hamn_tui): JSON, stdin, table, and one-line errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO
from .test_db2_parse import MINE

CHANNEL_KEYS = {"role", "state", "syncmode", "connect_status", "log_gap_bytes", "primary_host", "standby_host", "peer_window_s",
                "peer_window_end_epoch", "flags", "flags_reported", "primary_log_pos", "standby_log_pos", "standby_replay_log_pos",
                "hadr_timeout_s", "time_since_last_recv_s", "extra"}


def hamn(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "COLUMNS": "200"}  # the table's width when stdout is not a terminal
    return subprocess.run([sys.executable, "-m", "hamn_tui", "hadr", *args], input=stdin, capture_output=True, cwd=REPO, timeout=60, env=env)


def test_parse_file_json():
    r = hamn("parse", str(MINE / "v115_standby_disconnected_peer.txt"), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert list(out)[:4] == ["format", "database", "activated", "hadr_active"]
    assert (out["format"], out["database"], out["activated"], out["role"]) == ("db2pd-10", "XCATDB", True, "STANDBY")
    ch = out["channels"][0]
    assert CHANNEL_KEYS <= set(ch)
    assert (ch["state"], ch["connect_status"], ch["peer_window_s"], ch["peer_window_end_epoch"], ch["standby_log_pos"]) == (
        "DISCONNECTED_PEER", "DISCONNECTED", 120.0, 1715656230, 1312329011)
    assert r.stderr == b""


@pytest.mark.parametrize("args", [["parse", "-", "--json"], ["parse", "--json"]])
def test_parse_stdin_json(args: list[str]):
    r = hamn(*args, stdin=(MINE / "01_db2pd_v97_primary_peer_ibmwiki.txt").read_bytes())
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert (out["format"], out["database"], out["channels"][0]["state"], out["channels"][0]["log_gap_bytes"]) == ("db2pd-9", "HADRDB", "PEER", 1412)


def test_not_activated_json_has_no_role():
    r = hamn("parse", str(MINE / "08_db2pd_database_not_activated.txt"), "--json")
    out = json.loads(r.stdout)
    assert (r.returncode, out["activated"], out["role"], out["channels"]) == (0, False, None, [])


def test_table_output_is_readable():
    r = hamn("parse", str(MINE / "v115_primary_two_standbys_one_disconnected.txt"))
    assert r.returncode == 0, r.stderr
    text = r.stdout.decode()
    for word in ("db2pd-10", "XCATDB", "PEER", "DISCONNECTED", "SUPERASYNC", "xcatdr1", "S0000317.LOG page 2901 pos 1306008960"):
        assert word in text
    r = hamn("parse", str(MINE / "dbcfg_v115_standby_rollforward_pending.txt"))
    assert r.returncode == 0 and "rollforward_pending" in r.stdout.decode()


def _one_line_error(r: subprocess.CompletedProcess[bytes]) -> str:
    assert r.returncode == 1
    assert r.stdout == b""
    err = r.stderr.decode()
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    return err.strip()


def test_errors_are_one_line_naming_file_and_line(tmp_path: Path):
    cases = {
        "empty.txt": (b"", "empty.txt: empty input"),
        "ls.txt": (b"total 12\nfoo\n", "ls.txt:1: not a DB2 HADR status"),
        "garbage.bin": (bytes(range(256)) * 4, "garbage.bin:2: not text"),
        "cut97.txt": ((MINE / "01_db2pd_v97_primary_peer_ibmwiki.txt").read_bytes().split(b"S0000833.LOG")[0],
                      "cut97.txt:17: header row 'PrimaryFile PrimaryPg PrimaryLSN' has no value row after it"),
        "cut10.txt": ((MINE / "v115_standby_peer.txt").read_bytes()[:900], "cut10.txt:19: the HADR block at lines 4-19 ends without PRIMARY_LOG_FILE,PAGE,POS"),
    }
    for name, (data, expected) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        err = _one_line_error(hamn("parse", str(path), "--json"))
        assert err.startswith(f"hamn hadr parse: {path.parent}/{expected}"), err


def test_errors_on_stdin_and_missing_file(tmp_path: Path):
    err = _one_line_error(hamn("parse", "-", stdin=b"HADR is not active.\n"))
    assert err.startswith("hamn hadr parse: <stdin>:1: 'HADR is not active.' without the db2pd banner")
    err = _one_line_error(hamn("parse", str(tmp_path / "nope.txt")))
    assert err == f"hamn hadr parse: {tmp_path}/nope.txt: cannot read: No such file or directory"
    err = _one_line_error(hamn("parse", str(tmp_path)))
    assert "cannot read" in err


def test_group_help_lists_parse():
    r = hamn("--help")
    assert r.returncode == 0 and b"parse" in r.stdout
