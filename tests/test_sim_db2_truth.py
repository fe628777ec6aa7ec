"""The DB2 simulator tells the truth (issue 13): what it prints is in DB2's documentation, or it says
it does not know.

Each test here failed before its correction: SQL1770N reason codes used only for their documented
situation; a CONNECT during an activation answered with the activation's documented outcome (not an
invented SQL1776N reason); DEACTIVATE with applications connected ending as DB2 documents; clock
skew reaching the peer-window check; CONGESTED as an injectable fault; a graceful takeover that fails
half-way leaving two standbys.
"""
from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from hamn_tui.app.situation import classify
from hamn_tui.app.status import StatusReader
from hamn_tui.app.targets import TrainingTarget
from hamn_tui.probes.db2.db2pd import parse_db2pd
from hamn_tui.sim import messages as m
from hamn_tui.sim.scenario import Action
from hamn_tui.sim.shell import Shell
from hamn_tui.sim.training import Training

from .sim_support import sh

DB2 = "xcatdb"
NUMBERED_1770 = re.compile(r'SQL1770N  Takeover HADR cannot complete\. Reason code = "(\d+)"')


def db2(t: Training, node: str, command: str) -> tuple[int, str]:
    status, out, _ = sh(t, node, command, user=DB2)
    return status, out


def db2pd(t: Training, node: str):
    return parse_db2pd(db2(t, node, "db2pd -db XCATDB -hadr")[1])


def scenario_file(tmp_path: Path, body: str, name: str = "s.toml") -> str:
    path = tmp_path / name
    path.write_text('[scenario]\ntitle = "t"\nsummary = "s"\nstory = "s"\n\n' + body +
                    '\n[[rehearse]]\nrunbook = "db2-hadr-verify"\n')
    return str(path)


# --- SQL1770N: a reason code only for its documented situation ---------------------------------------------

def test_only_the_documented_sql1770n_reason_codes_exist():
    assert m.sql1770n(7).text == 'SQL1770N  Takeover HADR cannot complete. Reason code = "7".'  # fixture m02
    assert m.sql1770n(9).status == 4
    for undocumented in (1, 2, 3, 4):
        with pytest.raises(ValueError, match="not documented"):
            m.sql1770n(undocumented)


def test_refused_takeovers_print_no_invented_reason_code_and_each_situation_says_its_own_rule():
    """Graceful out of PEER, BY FORCE in LOCAL_CATCHUP and TAKEOVER on the primary: DB2 refuses all three
    (documented), but no source gives their SQL1770N reason codes; before, the first two both said "2"."""
    t = Training("healthy")
    assert db2(t, "mn2", "db2 deactivate database XCATDB")[0] == 0
    assert db2(t, "mn2", "db2 activate database XCATDB")[0] == 0
    status, local_catchup = db2(t, "mn2", "db2 takeover hadr on database XCATDB by force")  # no time has passed
    assert status == 4 and t.sim.nodes["mn2"].db.hadr.state == "LOCAL_CATCHUP"
    t.vclock.advance(3)
    assert t.sim.nodes["mn2"].db.hadr.state in ("REMOTE_CATCHUP", "PEER")
    t.apply(Action(action="partition", nodes=["mn1", "mn2"]))
    t.vclock.advance(200)
    assert t.sim.nodes["mn2"].db.hadr.state != "PEER"
    graceful = db2(t, "mn2", "db2 takeover hadr on database XCATDB")[1]
    on_primary = db2(t, "mn1", "db2 takeover hadr on database XCATDB")[1]
    for out in (local_catchup, graceful, on_primary):
        assert "SQL1770N" in out and not NUMBERED_1770.search(out), out
        assert out.startswith("hamn training:")
    assert "LOCAL_CATCHUP" in local_catchup and "PEER" in graceful and "only be issued on the standby" in on_primary
    assert len({local_catchup, graceful, on_primary}) == 3
    assert (t.sim.nodes["mn1"].db.cfg.role, t.sim.nodes["mn2"].db.cfg.role) == ("PRIMARY", "STANDBY")  # nothing changed


def test_stop_hadr_on_a_standard_database_prints_no_invented_reason_code():
    t = Training("fresh-install")
    status, out = db2(t, "mn1", "db2 stop hadr on database XCATDB")
    assert status == 4 and "SQL1769N" in out and 'Reason code = "1"' not in out


# --- CONNECT during an activation ---------------------------------------------------------------------------

def _primary_restarting(standby_up: bool) -> Training:
    """mn1's instance died and was started again; mn2 (the standby) is active or not."""
    t = Training("healthy")
    if not standby_up:
        assert db2(t, "mn2", "db2 deactivate database XCATDB")[0] == 0
    t.apply(Action(action="kill_db2", node="mn1"))
    assert db2(t, "mn1", "db2start")[0] == 0
    t.vclock.advance(5)
    return t


@pytest.mark.parametrize("standby_up", [False, True])
def test_a_connect_during_the_activation_waits_and_gets_its_documented_outcome(standby_up: bool):
    """A client connecting while the primary waits for its standby waits too (ACTIVATE DATABASE usage notes):
    with no standby it gets SQL1768N reason 7 like the activation; when the standby connects 20 s into the
    wait, it connects. Before: SQL1776N reason 1 in both cases."""
    t = _primary_restarting(standby_up)
    if standby_up:  # the standby is cut off for the first 20 s of the wait, then connects
        t.apply(Action(action="partition", nodes=["mn1", "mn2"]))
        t.vclock.call_at(t.vclock.now() + 20, lambda: t.apply(Action(action="heal", nodes=["mn1", "mn2"])))
    seen: list[tuple[int, str, str]] = []
    t.vclock.call_at(t.vclock.now() + 10, lambda: seen.append(Shell(t.sim, t.sim.nodes["mn1"], DB2).run("db2 connect to XCATDB")))
    status, out = db2(t, "mn1", "db2 activate database XCATDB")
    assert len(seen) == 1
    c_status, c_out, _ = seen[0]
    assert "SQL1776N" not in c_out
    if standby_up:
        assert (status, c_status) == (0, 0) and "Database Connection Information" in c_out
    else:
        rc7 = 'SQL1768N  Unable to start HADR. Reason code = "7".\n'
        assert (status, out) == (4, rc7) and (c_status, c_out) == (4, rc7)


def test_an_hadr_primary_started_by_a_connection_stays_up_after_the_last_disconnect():
    """HADR wiki, HADR Commands: an HADR database started by any means has its activation flag set. Before,
    the simulator stopped it at the next second like an implicitly activated standard database."""
    t = _primary_restarting(standby_up=True)
    for node in ("mn1", "sn1", "sn2"):
        assert sh(t, node, "service xcatd stop")[0] == 0
    status, out = db2(t, "mn1", "db2 connect to XCATDB && db2 connect reset")
    assert status == 0 and "Database Connection Information" in out
    t.vclock.advance(30)
    mn1 = t.sim.nodes["mn1"].db
    assert mn1.active and mn1.explicit and mn1.cfg.role == "PRIMARY"


# --- DEACTIVATE with applications connected --------------------------------------------------------------------

def test_deactivate_with_connections_warns_then_stops_when_the_last_application_leaves():
    """SQL1495W: the deactivation succeeds but the database serves its applications until the last one
    disconnects (DEACTIVATE DATABASE usage notes); then it stops cleanly (no peer window on the standby).
    Before, the database stayed up for good."""
    t = Training("healthy")
    mn1, mn2 = t.sim.nodes["mn1"].db, t.sim.nodes["mn2"].db
    assert t.sim.applications(t.sim.nodes["mn1"])
    status, out = db2(t, "mn1", "db2 deactivate database XCATDB")
    assert (status, out.split()[0]) == (2, "SQL1495W")
    t.vclock.advance(5)
    assert mn1.active  # xcatd is still connected
    for node in ("sn1", "sn2", "mn1"):
        sh(t, node, "service xcatd stop")
    t.vclock.advance(1)
    assert not mn1.active
    assert (mn2.hadr.state, mn2.hadr.connect_status) == ("REMOTE_CATCHUP_PENDING", "DISCONNECTED")


# --- clock skew reaches the peer-window check ---------------------------------------------------------------------

def _crash_with_skew(tmp_path: Path, mn1_skew: float, mn2_skew: float) -> Training:
    body = (f"[nodes.mn1]\nclock_skew_s = {mn1_skew}\n\n[nodes.mn2]\nclock_skew_s = {mn2_skew}\n\n"
            '[[faults]]\naction = "crash_node"\nnode = "mn1"\nat_s = 0\n')
    return Training(scenario_file(tmp_path, body, f"skew{mn1_skew}_{mn2_skew}.toml".replace("-", "m")))


def test_peer_window_end_is_the_primarys_clock_and_the_standby_judges_it_by_its_own(tmp_path: Path):
    """PEER_WINDOW_END comes from the primary's clock; PEER WINDOW ONLY needs the standby's clock + 5 s before
    it (HADR wiki, HADR Config). 200 s after the crash, 100 s of the 300 s window are left in true time: a
    standby whose clock runs 100 s ahead is refused with SQL1770N reason 9. Before, skew changed nothing."""
    synced = _crash_with_skew(tmp_path, 0, 0)
    ahead = _crash_with_skew(tmp_path, 0, 100)
    behind = _crash_with_skew(tmp_path, -60, 0)
    for t in (synced, ahead, behind):
        t.vclock.advance(200)
    ends = {name: db2pd(t, "mn2").channels[0].peer_window_end_epoch for name, t in (("synced", synced), ("behind", behind))}
    assert ends["synced"] - ends["behind"] == 60  # set by mn1's clock, 60 s behind
    assert db2(synced, "mn2", "db2 takeover hadr on database XCATDB by force peer window only")[0] == 0
    assert db2(ahead, "mn2", "db2 takeover hadr on database XCATDB by force peer window only") == \
        (4, 'SQL1770N  Takeover HADR cannot complete. Reason code = "9".\n')
    assert ahead.sim.nodes["mn2"].db.cfg.role == "STANDBY"
    date = re.search(r"-- Date (\S+)", db2(ahead, "mn2", "db2pd -db XCATDB -hadr")[1]).group(1)  # type: ignore[union-attr]
    date_synced = re.search(r"-- Date (\S+)", db2(synced, "mn2", "db2pd -db XCATDB -hadr")[1]).group(1)  # type: ignore[union-attr]
    assert date != date_synced  # the standby's db2pd prints its own clock


# --- CONGESTED --------------------------------------------------------------------------------------------------

def test_congested_is_a_fault_a_scenario_injects_and_db2pd_and_the_probes_show_it(tmp_path: Path):
    """facts §2.4, HADR wiki "HADR Monitoring": the socket is alive but one side cannot send. The congested side
    reports CONGESTED since the congestion began; NEARSYNC commits wait, so the primary's log does not move."""
    t = Training(scenario_file(tmp_path, '[[faults]]\naction = "congest_hadr"\nnode = "mn1"\nat_s = 0\n'))
    began = int(t.vclock.now())
    pos = t.sim.nodes["mn1"].db.end
    t.vclock.advance(30)
    p, s = db2pd(t, "mn1").channels[0], db2pd(t, "mn2").channels[0]
    assert (p.connect_status, p.connect_status_time_epoch, p.state) == ("CONGESTED", began, "PEER")
    assert s.connect_status == "CONNECTED"
    assert t.sim.nodes["mn1"].db.end == pos  # commits wait for the standby
    situation = classify(asyncio.run(StatusReader(TrainingTarget(t)).read()))
    assert situation.kind == "replication_degraded" and "mn1: connect_status = CONGESTED" in situation.evidence
    t.apply(Action(action="decongest_hadr", node="mn1"))
    t.vclock.advance(30)
    assert db2pd(t, "mn1").channels[0].connect_status == "CONNECTED"
    assert t.sim.nodes["mn1"].db.end > pos and t.sim.nodes["mn2"].db.end >= pos


def test_congested_9_7_db2pd_says_congested():
    t = Training("healthy", db2_level="9.7")
    t.apply(Action(action="congest_hadr", node="mn1"))
    t.vclock.advance(5)
    out = db2(t, "mn1", "db2pd -db XCATDB -hadr")[1]
    assert "Congested" in out and parse_db2pd(out).channels[0].connect_status == "CONGESTED"


# --- a graceful takeover that fails half-way ---------------------------------------------------------------------------

def test_a_graceful_takeover_that_fails_half_way_leaves_two_standbys_and_force_on_either_recovers(tmp_path: Path):
    """HADR wiki, HADR Takeover ("How to recover from failed takeover"): the old primary became a standby, the
    old standby never heard so and stays one — two standbys with identical logs, never two primaries. The
    issuer waited HADR_TIMEOUT for a primary that stopped answering: SQL1770N reason 7 (facts §6)."""
    t = Training(scenario_file(tmp_path, '[[faults]]\naction = "takeover_fails_halfway"\nnode = "mn2"\nat_s = 0\n'))
    sim = t.sim
    mn1, mn2 = sim.nodes["mn1"].db, sim.nodes["mn2"].db
    tables = mn1.tables()
    start = t.vclock.now()
    assert db2(t, "mn2", "db2 takeover hadr on database XCATDB") == (4, 'SQL1770N  Takeover HADR cannot complete. Reason code = "7".\n')
    assert 119 <= t.vclock.now() - start <= 121
    assert (mn1.cfg.role, mn2.cfg.role) == ("STANDBY", "STANDBY")
    assert [r.rid for r in mn1.log] == [r.rid for r in mn2.log]
    assert {db2pd(t, n).channels[0].role for n in ("mn1", "mn2")} == {"STANDBY"}
    diag1 = sim.nodes["mn1"].fs.text("/var/lib/db2/sqllib/db2dump/db2diag.log")
    assert m.DIAG_PRIMARY_NONFORCED in diag1 and m.diag_role_set("STANDBY", "PRIMARY") in diag1
    t.vclock.advance(30)
    assert (mn1.cfg.role, mn2.cfg.role) == ("STANDBY", "STANDBY")  # they do not pair up by themselves
    assert db2(t, "mn2", "db2 takeover hadr on database XCATDB by force")[0] == 0
    t.vclock.advance(30)
    assert (mn2.cfg.role, mn1.hadr.state, mn1.hadr.connect_status) == ("PRIMARY", "PEER", "CONNECTED")
    assert mn2.tables() == tables or set(tables) <= set(mn2.tables())


# --- every message names its source ---------------------------------------------------------------------------------

def test_every_message_the_simulator_defines_names_its_source():
    """messages.py: each DB2 message text (SQLnnnn, DB2nnnnn, ADMnnnnn) is defined under a `# source:` comment."""
    lines = (Path(m.__file__)).read_text().splitlines()
    defining = re.compile(r'(msg\("(SQL|DB2|ADM)\d{4,5}[A-Z]"|^\w+ = "(SQL|ADM)\d{4,5}[A-Z] |Msg\(f?"(SQL|DB2)\d{4,5}[A-Z] |^ADM12500E = )')
    missing = [f"{i + 1}: {line.strip()}" for i, line in enumerate(lines)
               if defining.search(line) and not any("# source:" in prev for prev in lines[max(0, i - 6): i + 1])]
    assert missing == []
    sim = Path(m.__file__).parent
    for path in [sim / "hadr.py", *sorted((sim / "commands").glob("*.py"))]:
        text = path.read_text().splitlines()
        bare = [f"{path.name}:{i + 1}" for i, line in enumerate(text)
                if "m.msg(" in line and not any("# source:" in prev for prev in text[max(0, i - 2): i + 1])]
        assert bare == []
