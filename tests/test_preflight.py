"""The read-only xcat-ha-preflight runbook, on the training simulator.

It passes on the healthy pair (xCAT's tables point at the service IP, ports open, files in sync,
room for logs), changes nothing, and fails at the check that names each fault: site.master on
mn1's own address (the shipped scenario, in tests/test_sim_faults.py), a node's xcatmaster, a file only the primary has, a
key that differs, a missing name, a partition between the nodes, too little free space.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from hamn_tui.cluster.loader import load_cluster
from hamn_tui.runbook.context import RunContext, resolve_params
from hamn_tui.runbook.loader import load_runbook
from hamn_tui.sim.training import Training

from .conftest import REPO
from .sim_support import run, sh

RUNBOOK = REPO / "runbooks" / "xcat-ha-preflight.toml"
ATTEST = {"udp-firewall"}


def _failed(r) -> list[str]:
    return [s for s, o in r.steps.items() if o == "failed"]


def test_every_step_is_read_only_and_it_applies_to_db2_and_pg():
    rb = load_runbook(RUNBOOK)
    assert rb.runbook.databases == ["db2", "pg"]
    assert [s.id for _, _, s in rb.all_steps() if s.is_mutating] == []
    assert all(s.mutating is False for _, _, s in rb.all_steps() if s.kind == "command")


def test_the_healthy_pair_passes_and_nothing_changes():
    t = Training("healthy")
    before = {n: dict(node.fs.entries) for n, node in t.sim.nodes.items()}
    tables, log_end = t.sim.nodes["mn1"].db.tables(), t.sim.nodes["mn1"].db.end
    r = run(t, "xcat-ha-preflight", attests=ATTEST)
    assert r.outcome == "done", _failed(r)
    assert r.steps["ports-pg"] == "skipped" and r.steps["log-space-db2"] == "done"
    assert {n: dict(node.fs.entries) for n, node in t.sim.nodes.items()} == before
    assert t.sim.nodes["mn1"].db.tables() == tables
    assert all(not rec.op for rec in t.sim.nodes["mn1"].db.log if rec.end > log_end)  # no xCAT table was written


@pytest.mark.parametrize("node, command, failing, sets", [
    ("mn1", "chdef -t node -o cn002 xcatmaster=mn1", "node-servers", None),
    ("mn1", "chdef -t network -o 192_0_2_0-255_255_255_0 tftpserver=192.0.2.11", "network-servers", None),
    ("sn2", "echo 'Pg:dbname=xcatdb;host=192.0.2.11|xcatadm|' > /etc/xcat/cfgloc", "cfgloc-service-nodes", None),
    ("mn2", "sed -i '/xcatmn/d' /etc/hosts", "name-resolution", None),
    ("mn1", "echo new > /install/postscripts/site-local", "deploy-in-sync", None),
    ("mn2", "echo another-key > /root/.ssh/id_rsa", "credentials-in-sync", None),
    ("mn1", "service httpd stop", "ports-xcat-primary", None),
    ("mn1", "true", "log-space-db2", {"min_free_log_mb": 70000}),
])
def test_each_fault_fails_the_check_that_names_it(node, command, failing, sets):
    t = Training("healthy")
    status, out, err = sh(t, node, command)
    assert status == 0, out + err
    r = run(t, "xcat-ha-preflight", sets=sets, attests=ATTEST)
    assert r.outcome == "failed" and _failed(r) == [failing], r.steps


def test_a_partition_between_the_nodes_fails_the_port_checks_with_no_route():
    from hamn_tui.sim.scenario import Action

    t = Training("healthy")
    t.apply(Action(action="partition", nodes=["mn1", "mn2"]))
    r = run(t, "xcat-ha-preflight", attests=ATTEST)
    assert _failed(r) == ["ports-db2"]
    assert "No route to host" in sh(t, "mn2", "timeout 5 bash -c 'exec 3<>/dev/tcp/$0/$1' 192.0.2.11 60000")[2]


def test_on_a_postgresql_cluster_the_pg_checks_render_and_the_db2_ones_are_skipped(tmp_path: Path):
    text = (REPO / "examples" / "cluster.toml").read_text().replace('database = "db2"', 'database = "pg"') + '\n[pg]\nport = 5433\n'
    path = tmp_path / "cluster.toml"
    path.write_text(text)
    cluster = load_cluster(path)
    rb = load_runbook(RUNBOOK, cluster)
    params = resolve_params(rb, {}, cluster)
    assert params["database"] == "pg"
    ctx = RunContext(params, cluster, {"primary": "mn1", "standby": "mn2"})
    chosen = [s for _, _, s in rb.all_steps() if all(c.param != "database" or c.equals == "pg" for c in s.conditions())]
    assert {"ports-pg", "log-space-pg", "cfgloc-service-nodes"} <= {s.id for s in chosen}
    assert not {"ports-db2", "log-space-db2"} & {s.id for s in chosen}
    rendered = [ctx.command(str(c.args["run"]), "primary") for s in chosen for c in s.verify if "run" in c.args and "captured" not in str(c.args["run"])]
    assert "timeout 5 bash -c 'exec 3<>/dev/tcp/$0/$1' 192.0.2.11 5433" in rendered
    assert not [s.id for _, _, s in rb.all_steps() if s.node.startswith("@") or any(c.node.startswith("@") for c in s.verify)]  # no group needed
