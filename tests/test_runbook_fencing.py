"""failover-unplanned: two kinds of fence, each with its own proof, and the takeover gates accept both.

fence = power-off (or rpower): the old primary does not answer, read twice. fence = db2-stopped:
it answers, and its DB2 instance is not running (read twice, 30 s apart), does not autostart
(db2iauto -off: no DB2AUTOSTART=YES), and it holds neither the service IP nor a running DHCP
server. The takeover verdict reads the old primary too and counts a stopped instance as down,
so an operator who fences the way the text says is not stuck at a gate that wants the other kind.
"""
from __future__ import annotations

from hamn_tui.sim.training import Training

from .sim_support import Run, run, sh

ANSWERS = dict(yes=True, confirms={"takeover-pwo": "XCATDB"}, attests={"attest-fenced", "keep-fenced"})
DB2_STOPPED = {"fence": "db2-stopped"}


def _takeovers(r: Run) -> list[str]:
    return [c for c in r.commands() if "takeover" in c]


def _fence_db2_stopped(t: Training) -> None:
    """What the proof step's text tells the operator to do on the old primary (its instance already died)."""
    assert sh(t, "mn1", "db2iauto -off xcatdb", user="xcatdb")[0] == 0
    assert sh(t, "mn1", "ip addr del 192.0.2.10/24 dev eth0")[0] == 0
    assert sh(t, "mn1", "service dhcpd stop")[0] == 0


def test_db2_stopped_fence_is_proven_on_the_running_node_and_the_takeover_goes_ahead():
    t = Training("primary-fails")  # mn1 is up, its DB2 instance died
    _fence_db2_stopped(t)
    r = run(t, "failover-unplanned", sets=DB2_STOPPED, **ANSWERS)
    assert r.outcome == "done", {s: o for s, o in r.steps.items() if o not in ("done", "skipped")}
    assert r.steps["primary-db2-stopped"] == "done" and r.steps["primary-gone"] == "skipped"
    assert _takeovers(r) == ["db2 takeover hadr on database XCATDB by force peer window only"]
    assert t.sim.nodes["mn1"].up and not t.sim.nodes["mn1"].instance_up
    assert t.sim.nodes["mn2"].db.cfg.role == "PRIMARY"


def test_db2_stopped_fence_with_autostart_on_is_not_a_fence():
    t = Training("primary-fails")
    _fence_db2_stopped(t)
    assert sh(t, "mn1", "db2iauto -on xcatdb", user="xcatdb")[0] == 0
    r = run(t, "failover-unplanned", sets=DB2_STOPPED, **ANSWERS)
    assert r.steps["primary-db2-stopped"] == "failed" and r.outcome == "failed"
    assert _takeovers(r) == []


def test_db2_stopped_fence_with_the_service_ip_still_on_the_old_primary_is_not_a_fence():
    t = Training("primary-fails")
    _fence_db2_stopped(t)
    assert sh(t, "mn1", "ip addr add 192.0.2.10/24 dev eth0")[0] == 0
    r = run(t, "failover-unplanned", sets=DB2_STOPPED, **ANSWERS)
    assert r.steps["primary-db2-stopped"] == "failed" and _takeovers(r) == []


def test_db2_stopped_fence_with_a_running_instance_is_not_a_fence():
    t = Training("primary-fails")
    _fence_db2_stopped(t)
    assert sh(t, "mn1", "db2start", user="xcatdb")[0] == 0
    r = run(t, "failover-unplanned", sets=DB2_STOPPED, **ANSWERS)
    assert r.steps["primary-db2-stopped"] == "failed" and _takeovers(r) == []


def test_power_off_fence_is_proven_by_silence_and_the_takeover_goes_ahead():
    r = run("primary-node-crash", "failover-unplanned", **ANSWERS)  # fence = power-off, the default
    assert r.outcome == "done"
    assert r.steps["primary-gone"] == "done" and r.steps["primary-db2-stopped"] == "skipped"
    assert _takeovers(r) == ["db2 takeover hadr on database XCATDB by force peer window only"]


def test_power_off_fence_of_a_node_that_still_answers_stops_before_any_takeover():
    t = Training("primary-fails")  # the text of fence = power-off says: power it off; here nobody did
    r = run(t, "failover-unplanned", **ANSWERS)
    assert r.steps["primary-gone"] == "failed" and r.outcome == "failed"
    assert _takeovers(r) == [] and "attest-fenced" not in r.steps


def test_host_name_takeover_needs_the_power_off_fence():
    t = Training("primary-fails")
    _fence_db2_stopped(t)
    r = run(t, "failover-unplanned", sets={**DB2_STOPPED, "hostname_takeover": "yes"}, **ANSWERS)
    assert r.steps["hostname-needs-power-off"] == "failed" and r.outcome == "failed"
    assert r.commands() == []  # stopped before any command ran
