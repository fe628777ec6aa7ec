"""Which changes between two status readings page an administrator."""
from __future__ import annotations

from email import message_from_string

from hamn_tui.app.alerts import message
from hamn_tui.cluster.model import Alerts
from hamn_tui.app.status import NodeStatus, Snapshot, transitions


def snap(kind="db2", **nodes) -> Snapshot:
    return Snapshot("lab", kind, 0, {n: NodeStatus(n, "primary" if n == "mn1" else "standby", *v) for n, v in nodes.items()})


def test_db2_standby_disconnects_then_takes_over():
    a = snap(mn1=(True, {"role": "PRIMARY", "connect_status": "CONNECTED"}), mn2=(True, {"role": "STANDBY", "connect_status": "CONNECTED", "state": "PEER"}))
    b = snap(mn1=(False, {}), mn2=(True, {"role": "STANDBY", "connect_status": "DISCONNECTED", "state": "DISCONNECTED_PEER"}))
    c = snap(mn1=(False, {}), mn2=(True, {"role": "PRIMARY", "connect_status": "DISCONNECTED"}))
    assert [(t.kind, t.node) for t in transitions(a, b)] == [("node_unreachable", "mn1"), ("standby_disconnected", "mn2")]
    assert [(t.kind, t.node, t.before, t.after) for t in transitions(b, c)] == [("takeover", "mn2", "STANDBY", "PRIMARY")]


def test_unknown_readings_page_nobody():
    a = snap(mn2=(True, {"role": "STANDBY", "connect_status": "CONNECTED"}))
    b = snap(mn2=(None, {}))  # a probe that failed once
    assert transitions(a, b) == [] and transitions(b, a) == []


def test_pg_primary_loses_and_regains_its_standby():
    a = snap("pg", mn1=(True, {"role": "primary", "streaming_standbys": 1}))
    b = snap("pg", mn1=(True, {"role": "primary", "streaming_standbys": 0}))
    assert [t.kind for t in transitions(a, b)] == ["standby_disconnected"]
    assert [t.kind for t in transitions(b, a)] == ["standby_reconnected"]


def test_alert_mail_names_the_transition_and_the_state():
    a = snap(mn2=(True, {"role": "STANDBY", "connect_status": "CONNECTED"}))
    b = snap(mn2=(True, {"role": "STANDBY", "connect_status": "DISCONNECTED", "state": "REMOTE_CATCHUP_PENDING"}))
    [t] = transitions(a, b)
    msg = message_from_string(message(Alerts(mail_to=["ops@example.org"]), "lab", t, b).as_string())
    assert msg["Subject"] == "[hamn lab] standby disconnected: mn2 (connected -> disconnected)"
    assert msg["To"] == "ops@example.org"
    body = msg.get_payload(decode=True).decode()
    assert "connect_status=DISCONNECTED" in body and "state=REMOTE_CATCHUP_PENDING" in body


def test_a_failed_alert_mail_is_said_on_stderr_and_the_watch_goes_on(capsys):
    """--watch on the simulator: mn2 crashes between two readings, the alert cannot be mailed
    (nothing listens on the port): the failure is one line on stderr, the watch ends normally."""
    import asyncio
    import socket

    from hamn_tui.app.targets import TrainingTarget
    from hamn_tui.cli.status import watch_status
    from hamn_tui.cluster.model import Alerts
    from hamn_tui.sim.scenario import Action

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    target = TrainingTarget.scenario("healthy")
    target.cluster = target.cluster.model_copy(update={"alerts": Alerts(mail_to=["ops@example.org"], smtp_host="127.0.0.1", smtp_port=port)})
    t = target.sim
    t.vclock.call_at(t.vclock.now() + 5, lambda: t.apply(Action(action="crash_node", node="mn2")))
    assert asyncio.run(watch_status(target, as_json=False, watch=True, interval=10, count=2)) == 0
    out = capsys.readouterr()
    assert "mn2" in out.out and "unreachable" in out.out.lower()
    failed = [line for line in out.err.splitlines() if "alert mail to ops@example.org via 127.0.0.1" in line]
    assert failed and "failed" in failed[0]
