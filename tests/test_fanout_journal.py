"""A group step's commands and the audit log's write-ahead rule, with group commit: every
node's command_sent is on disk before its command starts, the nodes starting together share
an fsync (made in a thread, not on the event loop), and a failing fsync still stops the run
before the command it should have covered."""
from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path

import pytest

from hamn_tui.audit import writer as writer_module
from hamn_tui.audit.errors import AuditError
from hamn_tui.audit.verify import verify_path
from hamn_tui.audit.writer import AuditWriter
from hamn_tui.cluster.model import Cluster
from hamn_tui.engine.operator import AutoOperator
from hamn_tui.engine.runner import Runner
from hamn_tui.probes.host import host_probes
from hamn_tui.runbook.context import RunContext, bind_roles
from hamn_tui.runbook.model import Runbook
from hamn_tui.transport.base import Result

from .test_audit_support import Lab, hermetic  # noqa: F401  (hermetic: autouse, no ssh-agent, keys under tmp)

NODES = [f"sn{i}" for i in range(1, 25)]


def _cluster() -> Cluster:
    nodes = {"mn1": {"address": "192.0.2.11", "hostname": "mn1", "role": "primary"},
             "mn2": {"address": "192.0.2.12", "hostname": "mn2", "role": "standby"}}
    nodes.update({n: {"address": f"198.51.100.{i}", "hostname": n, "role": "service"} for i, n in enumerate(NODES, 1)})
    return Cluster.model_validate({"cluster": {"name": "c", "database": "db2"}, "nodes": nodes, "db2": {},
                                   "groups": {"service_nodes": NODES}})


def _runbook() -> Runbook:
    return Runbook.model_validate({
        "runbook": {"id": "fan", "title": "fan", "version": "1", "databases": ["db2"], "summary": "s"},
        "steps": [{"id": "restart", "title": "restart", "node": "@service_nodes", "run": "service xcatd restart",
                   "irreversible": True, "confirm": "none", "concurrency": 8}],
    })


class Nodes:
    """A transport that, as each command starts, reads back what the log has on disk."""

    def __init__(self, log: Path, durable: list[int]):
        self.log, self.durable = log, durable
        self.started: list[str] = []
        self.unsafe: list[str] = []

    async def run(self, node, command, *, user=None, timeout_s=300, on_output=None, cancel=None) -> Result:
        on_disk = self.log.read_bytes()[: max(self.durable, default=0)]
        if f'"node":"{node}"'.encode() not in on_disk:
            self.unsafe.append(node)  # started before its command_sent was synced
        self.started.append(node)
        await asyncio.sleep(0.005)
        return Result("exited", 0)

    async def close(self) -> None:
        return None


def _run(lab: Lab, tmp_path: Path, monkeypatch, fail_after: int | None = None, seen: list | None = None):
    log = tmp_path / "run" / "audit-000.jsonl"
    durable: list[int] = []
    real = writer_module._fsync
    calls = {"n": 0}

    def fsync(fd: int) -> None:
        calls["n"] += 1
        if fail_after is not None and calls["n"] > fail_after:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        size = os.fstat(fd).st_size  # what this fsync makes durable: everything written before it
        real(fd)
        durable.append(size)

    monkeypatch.setattr(writer_module, "_fsync", fsync)
    cluster = _cluster()
    writer = AuditWriter(log, signer=lab.alice(), group_commit=True)
    nodes = Nodes(log, durable)
    if seen is not None:
        seen.append(nodes)
    ctx = RunContext({}, cluster, bind_roles(cluster))
    runner = Runner(_runbook(), ctx, nodes, host_probes(nodes, cluster), AutoOperator(), run_id="fan-1", subscribers=[writer])
    try:
        outcome = asyncio.run(runner.run())
    finally:
        writer.close()
    return outcome, nodes, calls["n"], log


def test_every_command_sent_is_on_disk_before_its_command_and_the_fsyncs_are_shared(tmp_path, monkeypatch):
    lab = Lab(tmp_path)
    outcome, nodes, fsyncs, log = _run(lab, tmp_path, monkeypatch)
    assert outcome == "done"
    assert sorted(nodes.started) == sorted(NODES) and nodes.unsafe == []
    assert fsyncs < len(NODES), f"{fsyncs} fsyncs for {len(NODES)} commands: not shared"
    assert verify_path(log).status == "VALID"


def test_a_failing_fsync_stops_the_run_before_the_command_it_covers(tmp_path, monkeypatch):
    lab = Lab(tmp_path)
    seen: list[Nodes] = []
    with pytest.raises(AuditError, match="could not be written|cannot write the audit log"):
        _run(lab, tmp_path, monkeypatch, fail_after=1, seen=seen)  # the log's opening is synced, then the disk fails
    assert seen[0].started == []  # the first fsync after the opening was the commands' own: none of them ran
