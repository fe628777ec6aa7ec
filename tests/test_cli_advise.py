"""`hamn hadr advise` on documented samples, through the real console."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

OURS = Path(__file__).resolve().parent / "fixtures_db2"


def advise(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hamn_tui", "hadr", "advise", *args], input=stdin, capture_output=True, text=True, timeout=30)


def test_peer_standby_may_take_over_gracefully_only():
    out = advise(str(OURS / "v115_standby_peer.txt"), "--json")
    assert out.returncode == 0, out.stderr
    v = json.loads(out.stdout)
    assert (v["graceful"]["verdict"], v["peer_window_only"]["verdict"], v["force"]["verdict"]) == ("allowed", "refused", "refused")


def test_disconnected_peer_inside_the_window_with_the_primary_down_and_fenced():
    text = (OURS / "v115_standby_disconnected_peer.txt").read_text()
    v = json.loads(advise("-", "--json", "--now", "1715656200", "--primary-down", "--fenced", stdin=text).stdout)
    assert v["peer_window_only"]["verdict"] == "allowed"
    assert v["estimated_loss_bytes"] == 0
    late = json.loads(advise("-", "--json", "--now", "1715656226", "--primary-down", "--fenced", stdin=text).stdout)
    assert late["peer_window_only"]["verdict"] == "refused"
    assert any("SQL1770N reason 9" in r for r in late["peer_window_only"]["reasons"])


def test_remote_catchup_pending_never_without_fencing():
    v = json.loads(advise(str(OURS / "v115_standby_remote_catchup_pending.txt"), "--json", "--primary-down").stdout)
    assert (v["graceful"]["verdict"], v["peer_window_only"]["verdict"], v["force"]["verdict"]) == ("refused", "refused", "refused")


def test_on_a_primary_nothing_is_allowed_and_bad_input_is_one_line():
    v = json.loads(advise(str(OURS / "03_db2pd_v105_primary_peer_single_standby.txt"), "--json").stdout)
    assert {v[k]["verdict"] for k in ("graceful", "peer_window_only", "force")} == {"refused"}
    bad = advise("-", stdin="hello world\n")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
