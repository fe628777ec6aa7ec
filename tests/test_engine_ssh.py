"""The engine over real SSH (tests/sshd_fixture.py): fan-out, a lost connection, and the run lock."""
from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from hamn_tui.record.events import ChecksEvaluated, OutputChunk, StepFinished
from hamn_tui.engine.operator import ScriptedOperator
from hamn_tui.record.questions import Answer
from hamn_tui.engine.runner import Runner
from hamn_tui.cluster.loader import load_cluster
from hamn_tui.probes.host import host_probes
from hamn_tui.runbook.context import RunContext, bind_roles, resolve_params
from hamn_tui.runbook.loader import runbook_from_document
from hamn_tui.inputs.toml_file import parse_toml_text
from hamn_tui.transport.local import LocalTransport
from hamn_tui.transport.router import Router
from hamn_tui.transport.ssh import SshTransport

from .sshd_fixture import sshd  # noqa: F401

HEAD = """
[runbook]
id = "{id}"
title = "t"
version = "1"
databases = ["pg"]
summary = "s"
"""


def cluster_with_group(sshd, tmp: Path):  # noqa: F811
    path = sshd.cluster_toml(tmp / "cluster.toml", ("mn1", "mn2", "sn1", "sn2", "sn3"))
    path.write_text(path.read_text() + '\n[groups]\nservice_nodes = ["sn1", "sn2", "sn3"]\n')
    return path, load_cluster(path)


def book(body: str, tmp: Path, rid: str = "t", cluster=None):
    text = HEAD.format(id=rid) + textwrap.dedent(body).replace("TMP", str(tmp))
    return runbook_from_document(parse_toml_text(text, f"{rid}.toml"), cluster, rid)


def runner_for(rb, cluster, operator, events):
    transport = Router(LocalTransport(), SshTransport(cluster))
    ctx = RunContext(resolve_params(rb, {}, cluster), cluster, bind_roles(cluster))
    return Runner(rb, ctx, transport, host_probes(transport, cluster), operator, run_id="r", subscribers=[events.append]), transport


def test_group_step_fans_out_and_keeps_output_per_node(sshd, tmp_path):  # noqa: F811
    _, cluster = cluster_with_group(sshd, tmp_path)
    rb = book("""
    [[steps]]
    id = "each"
    title = "on every service node"
    node = "@service_nodes"
    run = "echo {{ node.hostname }} >> TMP/hosts; echo hello from {{ node.name }}"
    mutating = false
    concurrency = 2
    [[steps.verify]]
    node = "@service_nodes"
    probe = "command"
    args = { run = "grep -qx {{ node.hostname }} TMP/hosts" }
    field = "exit_status"
    equals = 0
    """, tmp_path, cluster=cluster)
    events: list = []
    runner, transport = runner_for(rb, cluster, ScriptedOperator([]), events)

    async def go():
        try:
            return await runner.run()
        finally:
            await transport.close()

    assert asyncio.run(go()) == "done"
    assert sorted((tmp_path / "hosts").read_text().split()) == ["sn1", "sn2", "sn3"]
    per_node = {}
    for e in events:
        if isinstance(e, OutputChunk):
            per_node.setdefault(e.node, b"")
            per_node[e.node] += e.data
    assert per_node == {n: f"hello from {n}\n".encode() for n in ("sn1", "sn2", "sn3")}
    [verify] = [e for e in events if isinstance(e, ChecksEvaluated)]
    assert [(o.node, o.verdict) for o in verify.outcomes] == [("sn1", "pass"), ("sn2", "pass"), ("sn3", "pass")]


def test_connection_lost_mid_command_is_unknown_then_reprobed(sshd, tmp_path):  # noqa: F811
    cluster = sshd.cluster(tmp_path / "c.toml")
    rb = book("""
    [[steps]]
    id = "takeover"
    title = "a command whose connection dies"
    node = "primary"
    run = "echo server $PPID; touch TMP/did-it; sleep 37.5"
    irreversible = true
    confirm = "none"
    [[steps.verify]]
    node = "primary"
    probe = "command"
    args = { run = "test -e TMP/did-it" }
    field = "exit_status"
    equals = 0
    """, tmp_path, cluster=cluster)
    events: list = []
    operator = ScriptedOperator(lambda q: Answer("done", reason="marker present after the re-probe"))
    runner, transport = runner_for(rb, cluster, operator, events)
    killed = []

    def kill_session(e):
        if isinstance(e, OutputChunk) and not killed:
            m = re.search(rb"server (\d+)", e.data)
            if m:
                killed.append(int(m.group(1)))
                os.kill(int(m.group(1)), signal.SIGKILL)

    runner.subscribers.append(kill_session)

    async def go():
        try:
            return await runner.run()
        finally:
            await transport.close()

    try:
        outcome = asyncio.run(go())
    finally:
        subprocess.run(["pkill", "-f", "sleep 37.5"])
    assert killed
    [q] = operator.asked
    assert q.kind == "unknown" and q.detail.startswith("lost on mn1")
    assert [(c.node, c.verdict) for c in q.checks] == [("mn1", "pass")]  # re-probed over a new connection
    assert outcome == "done"
    [fin] = [e for e in events if isinstance(e, StepFinished)]
    assert fin.outcome == "done" and "decided done by the operator" in fin.reason


LOCKED = """
[[steps]]
id = "hold"
title = "hold the cluster for a while"
node = "primary"
run = "echo run >> TMP/ran; sleep 4"
mutating = false
"""


def test_two_concurrent_runs_exactly_one_proceeds(sshd, tmp_path):  # noqa: F811
    cluster_file = sshd.cluster_toml(tmp_path / "cluster.toml")
    (tmp_path / "locked.toml").write_text(HEAD.format(id="locked") + textwrap.dedent(LOCKED).replace("TMP", str(tmp_path)))
    lock_dir = tmp_path / "locks"
    lock_dir.mkdir()

    def start(n: int) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "hamn_tui", "run", str(tmp_path / "locked.toml"), "--headless", "--cluster", str(cluster_file),
                                 "--audit-dir", str(tmp_path / f"console{n}"), "--lock-dir", str(lock_dir)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    procs = [start(1), start(2)]
    outs = [p.communicate(timeout=60)[0] for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 3], outs
    loser = outs[[p.returncode for p in procs].index(3)]
    assert "lock held_by_other" in loser and "run aborted: not started" in loser
    assert (tmp_path / "ran").read_text().split() == ["run"]  # only the winner ran its step
    assert list(lock_dir.iterdir()) == []  # released at the end


def _locked_runner(sshd, tmp_path, operator, events, cluster_path=None):  # noqa: F811
    from hamn_tui.engine.lock import ClusterLock, Holder

    cluster = load_cluster(cluster_path or sshd.cluster_toml(tmp_path / "cluster.toml"))
    rb = book("""
    [[steps]]
    id = "work"
    title = "work on the standby"
    node = "standby"
    run = "echo worked >> TMP/worked"
    mutating = false
    """, tmp_path, cluster=cluster)
    runner, transport = runner_for(rb, cluster, operator, events)
    runner.lock = ClusterLock(transport, ["mn1", "mn2"], "lab", lock_dir=str(tmp_path / "locks"))
    runner.lock_holder = Holder.now("me", "console", "run-me")
    return runner, transport, cluster


def test_lock_skips_an_unreachable_primary_during_an_outage(sshd, tmp_path):  # noqa: F811
    from .sshd_fixture import free_port

    path = sshd.cluster_toml(tmp_path / "cluster.toml")
    text = path.read_text().replace(f"port = {sshd.port}", f"port = {free_port()}", 1)  # mn1: nobody listens
    path.write_text(text)
    (tmp_path / "locks").mkdir()
    events: list = []
    runner, transport, _ = _locked_runner(sshd, tmp_path, ScriptedOperator([]), events, path)

    async def go():
        try:
            return await runner.run()
        finally:
            await transport.close()

    assert asyncio.run(go()) == "done"
    [taken] = [e for e in events if type(e).__name__ == "LockEvent" and e.action == "taken"]
    assert taken.holder["nodes"] == ["mn2"] and "mn1" in taken.holder["unreachable"]
    assert (tmp_path / "worked").read_text() == "worked\n"


def test_breaking_another_runs_lock_needs_the_typed_text_and_is_recorded(sshd, tmp_path):  # noqa: F811
    from hamn_tui.engine.lock import ClusterLock, Holder

    (tmp_path / "locks").mkdir()
    answers = [Answer("break_lock", text="break lock"), Answer("break_lock", text="BREAK LOCK", reason="that console died")]
    operator = ScriptedOperator(answers)
    events: list = []
    runner, transport, cluster = _locked_runner(sshd, tmp_path, operator, events)

    async def go():
        other = ClusterLock(transport, ["mn1", "mn2"], "lab", lock_dir=str(tmp_path / "locks"))
        assert await other.acquire(Holder.now("alice", "mn2", "run-alice")) is None
        try:
            return await runner.run()
        finally:
            await transport.close()

    assert asyncio.run(go()) == "done"
    assert len(operator.asked) == 2  # asked again after the wrong text
    q = operator.asked[0]
    assert q.kind == "lock_held" and "alice" in q.detail and "run-alice" in q.detail
    refused = [e.text for e in events if type(e).__name__ == "Note" and e.text.startswith("answer refused")]
    assert refused == ["answer refused: breaking another operator's lock needs the typed text: BREAK LOCK"]
    [broken] = [e for e in events if type(e).__name__ == "LockEvent" and e.action == "broken"]
    assert {h["run_id"] for h in broken.holder["broken"].values()} == {"run-alice"}
    assert list((tmp_path / "locks").iterdir()) == []  # ours released, alice's gone
