"""The situation classifier: every training scenario, as the real probes read it over the
simulator, names its situation and the runbook to run first; hand-made readings cover what no
scenario shows (degraded replication, split brain, both down, unknown, PostgreSQL)."""
from __future__ import annotations

import asyncio

import pytest

from hamn_tui.app.situation import classify
from hamn_tui.app.status import NodeStatus, Snapshot, StatusReader
from hamn_tui.app.targets import TrainingTarget
from hamn_tui.sim.scenario import scenario_names

from .smtp_fixture import smtp_sink  # noqa: F401

EXPECTED = {
    # scenario: (situation, first runbook, its roles)
    "healthy": ("healthy", "db2-hadr-verify", {"primary": "mn1", "standby": "mn2"}),
    "fresh-install": ("not_set_up", "db2-hadr-setup", {}),
    "backup-sql1035n": ("not_set_up", "db2-hadr-setup", {}),
    "primary-node-crash": ("primary_node_down", "event-primary-node-crash", {"primary": "mn1", "standby": "mn2"}),
    "peer-window-expired": ("primary_node_down", "event-primary-node-crash", {"primary": "mn1", "standby": "mn2"}),
    "remote-catchup-pending": ("primary_node_down", "failover-unplanned", {"primary": "mn1", "standby": "mn2"}),
    "primary-fails": ("primary_database_down", "event-primary-lost", {"primary": "mn1", "standby": "mn2"}),
    "standby-fails": ("peer_window_closing", "event-standby-lost", {"primary": "mn1", "standby": "mn2"}),
    "network-partition": ("peer_window_closing", "event-standby-lost", {"primary": "mn1", "standby": "mn2"}),
    "switch-roles-back": ("roles_switched", "event-switch-roles-back", {"primary": "mn2", "standby": "mn1"}),
    "after-failover": ("standby_lost", "failback", {"primary": "mn2", "standby": "mn1"}),
    "diverged-logs": ("standby_lost", "failback", {"primary": "mn2", "standby": "mn1"}),
    "split-brain": ("standby_lost", "failback", {"primary": "mn2", "standby": "mn1"}),
    "large-site": ("primary_node_down", "event-primary-node-crash", {"primary": "mn1", "standby": "mn2"}),
    "primary-alone": ("primary_database_down", "event-primary-alone", {"primary": "mn2", "standby": "mn1"}),
    "congested": ("replication_degraded", "db2-hadr-verify", {"primary": "mn1", "standby": "mn2"}),
    "takeover-fails-halfway": ("healthy", "db2-hadr-verify", {"primary": "mn1", "standby": "mn2"}),
    "site-master-own-address": ("healthy", "db2-hadr-verify", {"primary": "mn1", "standby": "mn2"}),  # HADR is fine; the preflight finds it
    "witnesses-cut-off": ("primary_node_down", "event-primary-node-crash", {"primary": "mn1", "standby": "mn2"}),
}


def test_every_scenario_is_in_the_table():
    assert sorted(EXPECTED) == sorted(scenario_names())


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_each_training_scenario_names_its_situation_and_first_runbook(scenario):
    target = TrainingTarget.scenario(scenario)
    situation = classify(asyncio.run(StatusReader(target).read()))
    kind, runbook, roles = EXPECTED[scenario]
    assert situation.kind == kind, situation
    assert situation.recommended[0].runbook == runbook
    assert situation.recommended[0].roles == roles
    assert situation.evidence and all(": " in e for e in situation.evidence)  # each names a node and a reading


def test_the_evidence_and_what_not_to_do_name_the_deciding_readings():
    crash = classify(asyncio.run(StatusReader(TrainingTarget.scenario("remote-catchup-pending")).read()))
    assert "mn1: reachable over ssh = False" in crash.evidence
    assert "mn2: state = REMOTE_CATCHUP_PENDING" in crash.evidence
    assert any("REMOTE_CATCHUP_PENDING" in a and "loses" in a for a in crash.avoid)
    primary_db = classify(asyncio.run(StatusReader(TrainingTarget.scenario("primary-fails")).read()))
    assert any(a == "do not force a takeover: mn1 still answers" for a in primary_db.avoid)
    closing = classify(asyncio.run(StatusReader(TrainingTarget.scenario("standby-fails")).read()))
    assert closing.peer_window_left_s == 150 and closing.line().endswith("; 150 s left before it goes on alone")
    assert closing.line(left_s=42).endswith("; 42 s left before it goes on alone")
    assert "hamn run event-standby-lost --role primary=mn1 --role standby=mn2" == closing.recommended[0].command()


def _db2(name: str, setup: str, reachable: bool | None, **rep) -> NodeStatus:
    return NodeStatus(name, setup, reachable, dict(rep))


def _snap(*nodes: NodeStatus, database: str = "db2") -> Snapshot:
    return Snapshot("c", database, 0.0, {n.name: n for n in nodes})


def test_two_primaries_are_a_split_brain_and_the_one_with_the_service_ip_stays():
    a = _db2("mn1", "primary", True, role="PRIMARY", state="DISCONNECTED", connect_status="DISCONNECTED")
    b = _db2("mn2", "standby", True, role="PRIMARY", state="DISCONNECTED", connect_status="DISCONNECTED")
    b.holds_service_ip, a.holds_service_ip = True, False
    s = classify(_snap(a, b))
    assert s.kind == "split_brain"
    assert s.recommended[0].roles == {"primary": "mn2", "standby": "mn1"}
    assert any("do not take over" in x for x in s.avoid)


def test_catch_up_congestion_and_a_gap_over_the_limit_are_degraded_not_healthy():
    for rep, word in ((dict(state="REMOTE_CATCHUP", connect_status="CONNECTED", log_gap_bytes=0), "REMOTE_CATCHUP"),
                      (dict(state="PEER", connect_status="CONGESTED", log_gap_bytes=0), "CONGESTED"),
                      (dict(state="PEER", connect_status="CONNECTED", log_gap_bytes=10**9), "over")):
        s = classify(_snap(_db2("mn1", "primary", True, role="PRIMARY", **rep), _db2("mn2", "standby", True, role="STANDBY", **rep)),
                     max_lag_bytes=16 * 1024 * 1024)
        assert s.kind == "replication_degraded" and word in s.summary, (rep, s)
        assert any("do not take over" in x for x in s.avoid)


def test_unread_is_never_down():
    """A node whose reachability could not be told is not 'down': no takeover is suggested."""
    s = classify(_snap(_db2("mn1", "primary", None), _db2("mn2", "standby", None)))
    assert s.kind == "unknown" and not s.recommended
    both = classify(_snap(_db2("mn1", "primary", False), _db2("mn2", "standby", False)))
    assert both.kind == "both_down" and not both.recommended


def test_postgresql_pair():
    def pg(name, setup, ssh, **rep):
        return NodeStatus(name, setup, ssh, dict(rep))

    healthy = classify(_snap(pg("mn1", "primary", True, reachable=True, role="primary", streaming_standbys=1, lag_bytes=0),
                             pg("mn2", "standby", True, reachable=True, role="standby", wal_receiver="streaming"), database="pg"))
    assert healthy.kind == "healthy"
    crashed = classify(_snap(pg("mn1", "primary", False, reachable=False), pg("mn2", "standby", True, reachable=True, role="standby",
                                                                                 wal_receiver="stopped"), database="pg"))
    assert crashed.kind == "primary_node_down" and crashed.recommended[0].runbook == "pg-failover"
    lost = classify(_snap(pg("mn1", "primary", True, reachable=True, role="primary", streaming_standbys=0),
                          pg("mn2", "standby", True, reachable=False), database="pg"))
    assert lost.kind == "standby_lost"
    both = classify(_snap(pg("mn1", "primary", True, reachable=True, role="primary", streaming_standbys=0),
                          pg("mn2", "standby", True, reachable=True, role="primary", streaming_standbys=0), database="pg"))
    assert both.kind == "split_brain"


# --- hamn status --------------------------------------------------------------------------------
def test_status_prints_the_situation_first_and_json_carries_it():
    import json
    import subprocess
    import sys

    from .conftest import REPO

    plain = subprocess.run([sys.executable, "-m", "hamn_tui", "status", "--training", "primary-fails"], capture_output=True, text=True,
                           timeout=60, cwd=REPO, env={**__import__("os").environ, "COLUMNS": "200"})
    assert plain.returncode == 0, plain.stderr
    first = plain.stdout.splitlines()[0]
    assert first.startswith("PRIMARY DATABASE DOWN, ITS NODE UP: mn1 answers but its database does not serve")
    assert "run: hamn run event-primary-lost --role primary=mn1 --role standby=mn2" in plain.stdout
    assert plain.stdout.index("run: hamn run") < plain.stdout.index("HADR state")  # the diagnosis before the table
    js = subprocess.run([sys.executable, "-m", "hamn_tui", "status", "--training", "switch-roles-back", "--json"], capture_output=True,
                        text=True, timeout=60, cwd=REPO)
    out = json.loads(js.stdout)
    assert out["situation"] == "roles_switched" and out["nodes"]["mn2"]["role"] == "PRIMARY"
    assert out["recommended"][0]["runbook"] == "event-switch-roles-back"
    assert "mn1: role = STANDBY" in out["evidence"]


def test_watch_mails_a_situation_change_naming_the_runbook(smtp_sink):
    """--watch on the simulator: mn2 crashes between two readings; a real SMTP server on loopback
    receives the situation change with the runbook to run."""
    import time

    from hamn_tui.cli.status import watch_status
    from hamn_tui.cluster.model import Alerts
    from hamn_tui.sim.scenario import Action

    controller, received = smtp_sink
    target = TrainingTarget.scenario("healthy")
    target.cluster = target.cluster.model_copy(update={"alerts": Alerts(mail_to=["ops@example.org"], smtp_host="127.0.0.1",
                                                                        smtp_port=controller.port)})
    t = target.sim
    t.vclock.call_at(t.vclock.now() + 5, lambda: t.apply(Action(action="crash_node", node="mn2")))
    assert asyncio.run(watch_status(target, as_json=True, watch=True, interval=10, count=2)) == 0
    deadline = time.time() + 10
    while not any("situation" in m["Subject"] for m in received) and time.time() < deadline:
        time.sleep(0.05)
    [mail] = [m for m in received if "situation" in m["Subject"]]
    assert mail["Subject"] == "[hamn training] situation: healthy -> standby lost"  # mn1 still in PEER: HADR_TIMEOUT not over
    body = mail.get_payload(decode=True).decode()
    assert "run: hamn run event-standby-lost --role primary=mn1 --role standby=mn2" in body
    assert "evidence: mn2: reachable over ssh = False" in body
