"""Each fault scenario makes the runbooks' gates stop or branch as db2-hadr-facts.md says.

What was sent is read from the runner's CommandSent events: a refused takeover must never have
been sent, and plain BY FORCE only ever after its typed DATA LOSS confirmation.
"""
from __future__ import annotations

import re

from hamn_tui.sim.scenario import scenario_names
from hamn_tui.sim.training import Training

from .sim_support import run, sh

FENCED = {"attest-fenced", "keep-fenced"}
PLAIN_FORCE = "db2 takeover hadr on database XCATDB by force"
PWO = PLAIN_FORCE + " peer window only"


def _takeovers(r) -> list[str]:
    return [c for c in r.commands() if "takeover" in c]


# --- peer-window-expired ------------------------------------------------------------------------

def test_peer_window_expired_sql1770n_rc9_then_no_escalation_by_itself():
    """The gate passed; while the confirmation was typed the window closed: DB2 refuses PEER WINDOW ONLY
    with SQL1770N reason 9, the step is recorded failed, and choosing "stop" sends no other takeover."""
    r = run("peer-window-expired", "failover-unplanned", yes=True, confirms={"takeover-pwo": "XCATDB"},
            attests=FENCED | {"no-force"}, choices={"accept-loss": "stop"})
    assert r.steps["takeover-pwo"] == "failed"
    assert 'SQL1770N  Takeover HADR cannot complete. Reason code = "9".' in r.output("takeover-pwo")
    assert _takeovers(r) == [PWO]
    assert r.steps["takeover-force"] == "skipped" and r.steps["verify-primary"] == "failed"
    assert r.outcome == "failed"
    assert r.training.sim.nodes["mn2"].db.hadr.state == "REMOTE_CATCHUP_PENDING"


def test_peer_window_expired_force_waits_for_its_own_typed_confirmation():
    """Choosing "force" is not enough: without `--confirm takeover-force=XCATDB DATA LOSS` nothing is sent."""
    r = run("peer-window-expired", "failover-unplanned", yes=True, confirms={"takeover-pwo": "XCATDB"},
            attests=FENCED, choices={"accept-loss": "force"})
    assert r.outcome == "waiting"
    assert _takeovers(r) == [PWO]


# --- remote-catchup-pending (the data-loss trap) ---------------------------------------------------

def test_remote_catchup_pending_never_runs_plain_by_force_without_the_typed_confirmation():
    """In REMOTE_CATCHUP_PENDING the PEER WINDOW ONLY gate refuses (nothing sent), and BY FORCE waits
    for the distinct typed confirmation; "stop" ends the run with no takeover at all."""
    waiting = run("remote-catchup-pending", "failover-unplanned", yes=True, confirms={"takeover-pwo": "XCATDB"},
                  attests=FENCED, choices={"accept-loss": "force"})
    assert waiting.steps["takeover-pwo"] == "failed" and waiting.outcome == "waiting"
    assert _takeovers(waiting) == []
    stopped = run("remote-catchup-pending", "failover-unplanned", yes=True, confirms={"takeover-pwo": "XCATDB"},
                  attests=FENCED | {"no-force"}, choices={"accept-loss": "stop"})
    assert _takeovers(stopped) == [] and stopped.outcome == "failed"
    assert stopped.training.sim.nodes["mn2"].db.cfg.role == "STANDBY"


def test_remote_catchup_pending_forced_takeover_loses_what_the_standby_never_received():
    """With the typed DATA LOSS confirmation BY FORCE runs; cn005, written on mn1 after the link failed, is gone."""
    r = run("remote-catchup-pending", "failover-unplanned", yes=True,
            confirms={"takeover-pwo": "XCATDB", "takeover-force": "XCATDB DATA LOSS"}, attests=FENCED, choices={"accept-loss": "force"})
    assert r.outcome == "done"
    assert _takeovers(r) == [PLAIN_FORCE]
    t = r.training
    assert sh(t, "mn2", "lsdef cn001")[0] == 0
    assert sh(t, "mn2", "lsdef cn005")[0] == 1
    assert ("node", "cn005") in t.sim.nodes["mn1"].db.tables()  # only the fenced old primary has it


# --- backup-sql1035n ------------------------------------------------------------------------------

def test_sql1035n_stops_the_setup_before_anything_reaches_the_standby():
    """xcatd restarted on sn2 as the backup starts: BACKUP fails with SQL1035N, the run stops, the
    restore on mn2 is never sent, and the always section brings xCAT back."""
    r = run("backup-sql1035n", "db2-hadr-setup", yes=True, confirms={"restore-standby": "mn2"}, attests={"same-db2-level"})
    assert r.outcome == "failed"
    assert r.steps["backup-primary"] == "failed"
    assert re.search(r"SQL1035N\s+The operation failed because the specified database cannot be\s+connected", r.output("backup-primary"))
    assert not any("restore" in c for c in r.commands())
    assert [c for s, n, c in r.sent if n == "mn2"] == ["service xcatd status", "service xcatd stop", "service dhcpd status"]
    assert r.steps["ensure-xcatd-primary"] == "done"
    assert r.training.sim.nodes["mn2"].db.cfg.role == "STANDARD"


# --- site-master-own-address (each preflight check: tests/test_preflight.py) -----------------------

def test_site_master_on_an_own_address_fails_the_preflight_though_hadr_is_healthy():
    """The HADR verify passes; only the read-only preflight sees the site table name mn1 itself."""
    assert run("site-master-own-address", "db2-hadr-verify").outcome == "done"
    r = run("site-master-own-address", "xcat-ha-preflight", attests={"udp-firewall"})
    assert r.outcome == "failed" and [s for s, o in r.steps.items() if o == "failed"] == ["site-master"]
    assert "network-servers" not in r.steps  # it stops at the first wrong answer
    assert r.training.sim.nodes["mn1"].db.tables()[("site", "clustersite")]["master"] == "192.0.2.11"  # nothing was changed


def test_sql1035n_text_follows_the_db2_level():
    t = Training("backup-sql1035n", db2_level="9.7")
    sh(t, "mn1", "service xcatd start")
    status, out, _ = sh(t, "mn1", "db2 backup database XCATDB to /var/lib/db2/backup", user="xcatdb")
    assert (status, out) == (4, "SQL1035N  The database is currently in use.  SQLSTATE=57019\n")


# --- diverged-logs --------------------------------------------------------------------------------

def test_diverged_logs_reintegration_fails_and_branches_to_the_reinit_decision():
    """START HADR AS STANDBY succeeds, the standby then shuts itself down (ADM12500E); the wait runs out,
    the divergence is found in db2diag.log, and "stop" ends the run at the PEER gate with nothing restored."""
    r = run("diverged-logs", "failback", roles={"primary": "mn2", "standby": "mn1"}, yes=True,
            confirms={"takeover-back": "XCATDB"}, choices={"reintegration": "stop"})
    assert r.steps["start-as-standby"] == "done"
    assert r.steps["wait-peer"] == "failed"
    assert "ADM12500E" in r.output("show-divergence")
    assert r.steps["gate-peer"] == "failed" and r.outcome == "failed"
    assert not any("restore" in c or "takeover" in c for c in r.commands())


def test_diverged_logs_reinit_from_a_fresh_backup_then_fail_back():
    r = run("diverged-logs", "failback", roles={"primary": "mn2", "standby": "mn1"}, yes=True,
            confirms={"takeover-back": "XCATDB", "restore-old-primary": "RESTORE XCATDB"}, choices={"reintegration": "reinit"})
    assert r.outcome == "done", r.steps
    assert r.commands("backup-primary")[0] == "db2 backup database XCATDB online to /var/lib/db2/backup"
    mn1 = r.training.sim.nodes["mn1"]
    assert mn1.db.cfg.role == "PRIMARY" and ("node", "cn005") not in mn1.db.tables()


# --- split-brain ----------------------------------------------------------------------------------

def test_split_brain_db2_refuses_the_old_primary_and_the_runbook_stops():
    """mn1 came back with autostart: DB2 refused it as primary (SQL1776N reason 6). event-primary-lost must
    not restart it: it stops at "the standby is still the standby" with no DB2 command sent."""
    t = Training("split-brain")
    assert "SQL1776N reason code 6" in t.sim.nodes["mn1"].fs.text("/var/lib/db2/sqllib/db2dump/db2diag.log")
    r = run(t, "event-primary-lost", yes=True, choices={"action": "restart-primary"})
    assert r.outcome == "failed" and r.steps["standby-still-standby"] == "failed"
    assert r.commands() == []
    status, out, _ = sh(t, "mn1", "db2 activate database XCATDB", user="xcatdb")
    assert (status, out) == (4, 'SQL1776N  The command cannot be issued on an HADR database. Reason code = "6".\n')


def test_split_brain_by_force_gives_two_primaries_and_verify_sees_it():
    """START HADR AS PRIMARY BY FORCE skips DB2's check (facts §5.3): two primaries; the verify runbook's role check fails."""
    t = Training("split-brain")
    assert sh(t, "mn1", "db2 start hadr on database XCATDB as primary by force", user="xcatdb")[0] == 0
    r = run(t, "db2-hadr-verify", roles={"primary": "mn2", "standby": "mn1"})
    assert r.steps["roles"] == "failed" and r.outcome == "failed"


# --- network-partition ------------------------------------------------------------------------------

def test_network_partition_no_takeover_while_the_old_primary_answers():
    """The console reaches mn1, so it is not fenced: failover-unplanned stops at primary-gone; no takeover is sent."""
    r = run("network-partition", "failover-unplanned", yes=True, confirms={"takeover-pwo": "XCATDB"}, attests=FENCED)
    assert r.steps["primary-gone"] == "failed" and r.outcome == "failed"
    assert _takeovers(r) == []


def test_network_partition_graceful_takeover_refused_out_of_peer():
    """failover-planned's gate refuses DISCONNECTED_PEER (nothing sent); DB2 itself refuses with SQL1770N, whose
    reason code for this case no source gives: the simulator says so instead of printing a number."""
    r = run("network-partition", "failover-planned", yes=True, confirms={"takeover": "XCATDB"})
    assert r.steps["gate-peer"] == "failed" and r.outcome == "failed"
    assert r.commands() == []
    status, out, _ = sh(r.training, "mn2", "db2 takeover hadr on database XCATDB", user="xcatdb")
    assert status == 4 and "SQL1770N" in out and not re.search(r'Reason code = "\d+"', out)


# --- the node-crash caveat (facts §2.2) --------------------------------------------------------------

def test_node_crash_graceful_takeover_inside_hadr_timeout_fails_with_rc7():
    """After a crash the standby still reports PEER/CONNECTED until HADR_TIMEOUT; a graceful takeover then
    waits for the dead primary and fails with SQL1770N reason 7, after which the state is DISCONNECTED_PEER."""
    t = Training("primary-node-crash")
    _, before, _ = sh(t, "mn2", "db2pd -db XCATDB -hadr", user="xcatdb")
    assert re.search(r"HADR_STATE = PEER\n", before) and "HADR_CONNECT_STATUS = CONNECTED" in before
    status, out, _ = sh(t, "mn2", "db2 takeover hadr on database XCATDB", user="xcatdb")
    assert (status, out) == (4, 'SQL1770N  Takeover HADR cannot complete. Reason code = "7".\n')
    assert t.sim.nodes["mn2"].db.hadr.state == "DISCONNECTED_PEER"
    assert 119 <= t.clock() - t.t0 <= 121


# --- congested, takeover-fails-halfway (issue 13) -------------------------------------------------------

def test_congested_failover_planned_gate_refuses_and_nothing_is_sent():
    """mn1 reports CONGESTED: the graceful-takeover verdict reads the primary's side and refuses."""
    r = run("congested", "failover-planned", yes=True, confirms={"takeover": "XCATDB"})
    assert r.steps["gate-peer"] == "failed" and r.outcome == "failed"
    assert r.commands() == []


def test_takeover_failing_half_way_leaves_two_standbys_and_the_run_stops():
    """The connection drops mid-takeover: SQL1770N reason 7 after HADR_TIMEOUT, both nodes STANDBY, no
    BY FORCE sent by the runbook (IBM Db2 HADR wiki, HADR Takeover: recover from a failed takeover by hand)."""
    r = run("takeover-fails-halfway", "failover-planned", yes=True, confirms={"takeover": "XCATDB"})
    assert r.steps["takeover"] == "failed" and r.outcome == "failed"
    assert r.output("takeover") == 'SQL1770N  Takeover HADR cannot complete. Reason code = "7".\n'
    assert _takeovers(r) == ["db2 takeover hadr on database XCATDB"]
    sim = r.training.sim
    assert (sim.nodes["mn1"].db.cfg.role, sim.nodes["mn2"].db.cfg.role) == ("STANDBY", "STANDBY")


def test_every_scenario_is_exercised_by_a_test():
    """Scenarios named by the tests of this file and of test_sim_runbooks.py."""
    from pathlib import Path

    here = Path(__file__).parent
    text = "".join((here / f).read_text() for f in ("test_sim_faults.py", "test_sim_runbooks.py"))
    assert [s for s in scenario_names() if f'"{s}"' not in text] == []


# --- large-site ---------------------------------------------------------------------------------

def test_large_site_service_node_faults():
    """large-site (256 service nodes): `fail_service` makes xcatd's restart exit 1; `hang_service`
    makes its stop take 240 virtual seconds, longer than the runbook's 180 s timeout (an unknown
    outcome, though the restart does finish); a powered-off service node cannot be reached.
    tests/test_sim_large_site.py runs the failover over all 256 of them."""
    t = Training("large-site")
    status, _, err = sh(t, "sn42", "service xcatd restart")
    assert status == 1 and "status=1/FAILURE" in err
    before = t.clock()
    status, _, _ = sh(t, "sn64", "service xcatd restart")
    assert status == 0 and t.clock() - before == 240
    assert sh(t, "sn65", "service xcatd restart")[0] == 0 and t.clock() - before == 240
    assert not t.sim.nodes["sn17"].up and t.sim.nodes["sn18"].up


def test_the_data_loss_decision_and_the_forced_takeover_each_wait_for_a_second_operator():
    """Four eyes (issue 15): choosing "force" at accept-loss and the BY FORCE takeover each make an
    approval request (the simulated colleague approves in training, and the log says so); the
    command runs only after its approval, and "stop" needs none."""
    from hamn_tui.record.events import ApprovalDecided, ApprovalRequested, CommandSent

    r = run("remote-catchup-pending", "failover-unplanned", yes=True,
            confirms={"takeover-pwo": "XCATDB", "takeover-force": "XCATDB DATA LOSS"}, attests=FENCED, choices={"accept-loss": "force"})
    assert r.outcome == "done"
    asked = [e for e in r.events if isinstance(e, ApprovalRequested)]
    assert [e.step_id for e in asked] == ["accept-loss", "takeover-force"]
    assert "choose accept-loss = force" in asked[0].request and PLAIN_FORCE in asked[1].request
    decided = [(e.step_id, e.verdict) for e in r.events if isinstance(e, ApprovalDecided)]
    assert decided == [("accept-loss", "approved"), ("takeover-force", "approved")]
    order = [type(e).__name__ for e in r.events if isinstance(e, (ApprovalDecided, CommandSent)) and e.step_id == "takeover-force"]
    assert order == ["ApprovalDecided", "CommandSent"]
    stopped = run("remote-catchup-pending", "failover-unplanned", yes=True, confirms={"takeover-pwo": "XCATDB"},
                  attests=FENCED | {"no-force"}, choices={"accept-loss": "stop"})
    assert not any(isinstance(e, ApprovalRequested) for e in stopped.events)


# --- witnesses-cut-off (issue 15: the trainee meets the witness wait) -------------------------------

def test_a_takeover_with_no_witness_off_the_standby_waits_and_proceeding_marks_the_run_degraded():
    """mn1 is down and the console reaches no service node: the PEER WINDOW ONLY takeover on mn2 (the
    only witness left is mn2 itself) is not sent until the trainee types PROCEED UNWITNESSED."""
    from hamn_tui.record.events import QuestionAsked, WitnessGate
    from hamn_tui.record.fold import RunFold

    answers = dict(yes=True, confirms={"takeover-pwo": "XCATDB"}, attests=FENCED)
    waiting = run("witnesses-cut-off", "failover-unplanned", **answers)
    assert waiting.outcome == "waiting" and _takeovers(waiting) == []
    assert [(e.step_id, e.kind) for e in waiting.events if isinstance(e, QuestionAsked)][-1] == ("takeover-pwo", "unwitnessed")
    assert not any(isinstance(e, WitnessGate) for e in waiting.events)

    r = run("witnesses-cut-off", "failover-unplanned", unwitnessed={"takeover-pwo"}, **answers)
    assert r.outcome == "done" and _takeovers(r) == [PWO]
    [gate] = [e for e in r.events if isinstance(e, WitnessGate) and e.step_id == "takeover-pwo"]
    assert gate.outcome == "unwitnessed"
    fold = RunFold()
    for e in r.events:
        fold.apply(e)
    assert len(fold.state.degraded) == 1 and fold.state.degraded[0].startswith("takeover-pwo ran unwitnessed")
    later = [e for e in r.events if isinstance(e, WitnessGate) and e.step_id != "takeover-pwo" and r.events.index(e) > r.events.index(gate)]
    assert later and all(e.outcome == "cosigned" for e in later)  # the switch is back: nothing else waits
    by = {e.step_id: e.witness for e in later}
    assert by["restart-xcatd-service-nodes"] == "hamn-witness@mn2 (simulated)"  # a step on the service nodes: not theirs


def test_the_same_crash_with_the_service_nodes_reachable_is_cosigned_by_one_of_them():
    r = run("primary-node-crash", "failover-unplanned", yes=True, confirms={"takeover-pwo": "XCATDB"}, attests=FENCED)
    from hamn_tui.record.events import WitnessGate

    [gate] = [e for e in r.events if isinstance(e, WitnessGate) and e.step_id == "takeover-pwo"]
    assert gate.outcome == "cosigned" and gate.witness == "hamn-witness@sn1 (simulated)"
