"""event-primary-alone's rollbacks undo only what their step changed (issue 13, item 3).

db2start answering SQL1026N (the instance was already running) is not answered with db2stop, and
an ACTIVATE that ended with SQL1768N reason 7 (the database never started) is not answered with a
DEACTIVATE, which would fail (SQL1496W) and mark the roll back failed.
"""
from __future__ import annotations

from hamn_tui.sim.training import Training

from .sim_support import sh
from .test_runbook_rollbacks import run_then_roll_back

MN2_PRIMARY = {"primary": "mn2", "standby": "mn1"}
UNTIL_THE_CHOICE = dict(yes=True, stop_at="how")


def test_a_running_instance_is_left_running_and_a_database_that_never_started_is_not_deactivated():
    t = Training("primary-alone")
    assert t.sim.nodes["mn2"].instance_up  # the scenario: the instance runs, XCATDB does not
    r = run_then_roll_back(t, "event-primary-alone", roles=MN2_PRIMARY, **UNTIL_THE_CHOICE)
    assert r.outcome == "waiting"
    assert all(ok for _, ok in r.report), r.report
    assert r.finished("start-instance").reason.startswith("nothing to undo")
    assert r.finished("activate").reason.startswith("nothing to undo")
    assert r.rollback_commands() == []
    assert t.sim.nodes["mn2"].instance_up


def test_an_instance_the_run_started_is_stopped_again():
    t = Training("primary-alone")
    assert sh(t, "mn2", "db2stop", user="xcatdb")[0] == 0
    r = run_then_roll_back(t, "event-primary-alone", roles=MN2_PRIMARY, **UNTIL_THE_CHOICE)
    assert r.outcome == "waiting"
    assert r.rollback_commands() == [("start-instance", "mn2", "db2stop")]
    assert not t.sim.nodes["mn2"].instance_up  # down, as before the run
