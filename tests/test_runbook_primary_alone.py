"""event-primary-alone (issue 13, item 7): an HADR primary without its standby cannot start (SQL1768N
reason 7); the runbook starts it BY FORCE with the partner proven fenced, or stops HADR.

All on the `primary-alone` scenario: mn1 crashed yesterday and stays powered off, mn2 took over inside
the peer window and served xCAT, then mn2's DB2 died and its restart ended with SQL1768N reason 7.
"""
from __future__ import annotations

from hamn_tui.sim.scenario import Action
from hamn_tui.sim.training import Training

from .sim_support import run, sh

MN2_PRIMARY = {"primary": "mn2", "standby": "mn1"}
RC7 = 'SQL1768N  Unable to start HADR. Reason code = "7".\n'
FORCE = "db2 start hadr on database XCATDB as primary by force"


def _force(t: Training):
    return run(t, "event-primary-alone", roles=MN2_PRIMARY, yes=True, choices={"how": "force"},
               confirms={"start-by-force": "XCATDB BY FORCE"}, attests={"attest-fenced", "next"})


def test_the_scenario_is_a_survivor_whose_activation_fails_with_sql1768n_rc7():
    """The simulator produces it: mn2 is PRIMARY on disk, down, and an ACTIVATE waits HADR_TIMEOUT for mn1 in vain."""
    t = Training("primary-alone")
    mn2 = t.sim.nodes["mn2"]
    assert (mn2.db.cfg.role, mn2.db.active, t.sim.nodes["mn1"].up) == ("PRIMARY", False, False)
    start = t.vclock.now()
    assert sh(t, "mn2", "db2 activate database XCATDB", user="xcatdb") == (4, RC7, "")
    assert 119 <= t.vclock.now() - start <= 121 and not mn2.db.active
    assert sh(t, "mn2", "db2 start hadr on database XCATDB as primary", user="xcatdb")[1] == RC7  # START HADR too


def test_by_force_with_the_partner_fenced_brings_the_survivor_up_as_primary_alone():
    t = Training("primary-alone")
    r = _force(t)
    assert r.outcome == "done", r.steps
    assert r.output("activate") == RC7 and r.steps["alone"] == "done"
    assert r.commands("start-by-force") == [FORCE]
    assert r.steps["stop-hadr"] == r.steps["activate-standard"] == "skipped"
    mn2 = t.sim.nodes["mn2"].db
    assert mn2.active and mn2.cfg.role == "PRIMARY" and (mn2.hadr.state, mn2.hadr.connect_status) == ("DISCONNECTED", "DISCONNECTED")
    assert sh(t, "mn2", "lsdef -t site -i master")[0] == 0  # xcatd reads its tables again
    assert r.steps["next"] == "done"


def test_after_by_force_the_partner_comes_back_as_standby_and_reaches_peer():
    """START HADR command: after a start BY FORCE the primary still accepts the standby whenever it comes back."""
    t = Training("primary-alone")
    assert _force(t).outcome == "done"
    assert sh(t, "local", "rpower mn1 on")[0] == 0
    t.vclock.advance(120)
    assert sh(t, "mn1", "db2start && db2 start hadr on database XCATDB as standby", user="xcatdb")[0] == 0
    t.vclock.advance(60)
    mn1 = t.sim.nodes["mn1"].db
    assert (mn1.cfg.role, mn1.hadr.state, mn1.hadr.connect_status) == ("STANDBY", "PEER", "CONNECTED")


def test_stop_hadr_runs_the_survivor_as_a_plain_database():
    t = Training("primary-alone")
    r = run(t, "event-primary-alone", roles=MN2_PRIMARY, yes=True, choices={"how": "standard"},
            confirms={"stop-hadr": "STOP HADR"}, attests={"next"})
    assert r.outcome == "done", r.steps
    assert r.commands("stop-hadr") == ["db2 stop hadr on database XCATDB"]
    assert not any("by force" in c for c in r.commands())
    mn2 = t.sim.nodes["mn2"].db
    assert mn2.active and mn2.cfg.role == "STANDARD"
    _, out, _ = sh(t, "mn2", "db2pd -db XCATDB -hadr", user="xcatdb")
    assert "HADR is not active." in out
    assert sh(t, "mn2", "lsdef -t site -i master")[0] == 0


def test_the_gate_refuses_by_force_while_the_partner_still_answers():
    """mn1 was powered on again (DB2 not started): the attestation is not enough, the gate reads that mn1
    answers and the start BY FORCE is never sent."""
    t = Training("primary-alone")
    t.apply(Action(action="power_on", node="mn1"))
    t.vclock.advance(120)
    assert t.sim.nodes["mn1"].up
    r = _force(t)
    assert r.steps["start-by-force"] == "failed" and r.outcome == "failed"
    assert FORCE not in r.commands() and r.commands("start-by-force") == []
    assert not t.sim.nodes["mn2"].db.active


def test_waiting_changes_nothing_and_the_run_says_the_database_is_still_down():
    t = Training("primary-alone")
    r = run(t, "event-primary-alone", roles=MN2_PRIMARY, yes=True, choices={"how": "wait"}, attests={"wait-for-partner", "next"})
    assert r.outcome == "failed" and r.steps["final-state"] == "failed"
    assert r.commands() == ["db2start", "db2 activate database XCATDB"]
    assert t.sim.nodes["mn2"].db.cfg.role == "PRIMARY" and not t.sim.nodes["mn2"].db.active


def test_a_survivor_whose_standby_answers_needs_nothing_more():
    """The partner is back as standby: the activation succeeds, the choice is skipped, the run ends well."""
    t = Training("primary-alone")
    sh(t, "local", "rpower mn1 on")
    t.vclock.advance(120)
    assert sh(t, "mn1", "db2start && db2 start hadr on database XCATDB as standby", user="xcatdb")[0] == 0  # reintegrated
    r = run(t, "event-primary-alone", roles=MN2_PRIMARY, yes=True, attests={"next"})
    assert r.outcome == "done", r.steps
    assert r.steps["alone"] == "failed" and r.steps["how"] == "skipped"
    assert not any("by force" in c or "stop hadr" in c for c in r.commands())
    assert t.sim.nodes["mn2"].db.active and t.sim.nodes["mn2"].db.cfg.role == "PRIMARY"
