"""A PostgreSQL pair kept by dump and restore ([pg] method = "dump"): both servers are read-write
by design, so two "primaries" are not a split brain; the primary is the node with the service IP."""
from __future__ import annotations

import pytest

from hamn_tui.app.situation import assess, classify
from hamn_tui.app.status import NodeStatus, Snapshot
from hamn_tui.cluster.loader import load_cluster
from hamn_tui.lab import cluster_toml


def node(name: str, setup: str, *, up: bool | None = True, pg: bool | None = True, ip: bool | None = None,
         xcatd: bool | None = None) -> NodeStatus:
    rep = {"reachable": pg, "role": "primary", "in_recovery": False} if pg else ({"reachable": False} if pg is False else {})
    return NodeStatus(name, setup, up, replication=rep, holds_service_ip=ip if up else None,
                      services={"xcatd": xcatd} if up else {})


def snap(mn1: NodeStatus, mn2: NodeStatus) -> Snapshot:
    return Snapshot("c", "pg", 0.0, {"mn1": mn1, "mn2": mn2})


CASES = {
    "healthy": (node("mn1", "primary", ip=True, xcatd=True), node("mn2", "standby", ip=False, xcatd=False),
                "healthy", "pg-dump-failover", {"primary": "mn1", "standby": "mn2"}),
    "primary node down": (node("mn1", "primary", up=False, pg=False), node("mn2", "standby", ip=False, xcatd=False),
                          "primary_node_down", "pg-dump-failover", {"primary": "mn1", "standby": "mn2"}),
    "primary postgres down": (node("mn1", "primary", pg=False, ip=True, xcatd=True), node("mn2", "standby", ip=False, xcatd=False),
                              "primary_database_down", "pg-dump-failover", {"primary": "mn1", "standby": "mn2"}),
    "standby down": (node("mn1", "primary", ip=True, xcatd=True), node("mn2", "standby", up=False, pg=False),
                     "standby_lost", "pg-dump-restore-setup", {"primary": "mn1", "standby": "mn2"}),
    "after a failover, mn1 off": (node("mn1", "primary", up=False, pg=False), node("mn2", "standby", ip=True, xcatd=True),
                                  "standby_lost", "pg-dump-restore-setup", {"primary": "mn2", "standby": "mn1"}),
    "after a failover, mn1 back": (node("mn1", "primary", ip=False, xcatd=False), node("mn2", "standby", ip=True, xcatd=True),
                                   "roles_switched", "pg-dump-restore-setup", {"primary": "mn2", "standby": "mn1"}),
    "xcatd on both": (node("mn1", "primary", ip=True, xcatd=True), node("mn2", "standby", ip=False, xcatd=True),
                      "split_brain", None, None),
    "both hold the address": (node("mn1", "primary", ip=True), node("mn2", "standby", ip=True), "split_brain", None, None),
    "nobody holds it, both up": (node("mn1", "primary", ip=False), node("mn2", "standby", ip=False), "unknown", None, None),
    "both down": (node("mn1", "primary", up=False, pg=False), node("mn2", "standby", up=False, pg=False), "both_down", None, None),
}


@pytest.mark.parametrize("name", list(CASES))
def test_dump_pair_situations(name):
    mn1, mn2, kind, runbook, roles = CASES[name]
    s = classify(snap(mn1, mn2), dump_method=True)
    assert s.kind == kind, s
    if runbook is None:
        assert not s.recommended
    else:
        assert s.recommended[0].runbook == runbook and s.recommended[0].roles == roles


def test_the_same_readings_are_a_split_brain_for_a_streaming_pair_and_healthy_for_a_dump_pair(tmp_path):
    readings = snap(node("mn1", "primary", ip=True, xcatd=True), node("mn2", "standby", ip=False, xcatd=False))
    path = tmp_path / "c.toml"
    path.write_text(cluster_toml.text(tmp_path))
    assert assess(readings, load_cluster(path)).kind == "split_brain"
    path.write_text(cluster_toml.text(tmp_path).replace('[pg]\n', '[pg]\nmethod = "dump"\n'))
    assert assess(readings, load_cluster(path)).kind == "healthy"
