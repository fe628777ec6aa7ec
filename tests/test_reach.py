"""A dead node is known the same way by every probe, once, and "could not read" never becomes "down".

Real parts: the test sshd on loopback, closed loopback ports (connection refused: a definite
answer) and a loopback listener that accepts and then says nothing (a node that hangs: no answer).
"""
from __future__ import annotations

import asyncio
import errno
import socket
import threading
from pathlib import Path
from typing import Any, Mapping

import pytest

from hamn_tui.cluster.loader import load_cluster
from hamn_tui.engine.checks import CheckEvaluator
from hamn_tui.engine.lock import ClusterLock, Holder
from hamn_tui.probes.base import Reading
from hamn_tui.probes.host import host_probes
from hamn_tui.probes.pg import _tcp_reachable
from hamn_tui.runbook.context import RunContext
from hamn_tui.runbook.model import Check
from hamn_tui.transport.base import TransportError
from hamn_tui.transport.reach import MEMO, ReachMemo, fresh, reusing
from hamn_tui.transport.ssh import SshTransport

from .sshd_fixture import free_port, sshd  # noqa: F401


@pytest.fixture(autouse=True)
def _clean_memo():
    MEMO.clear()
    yield
    MEMO.clear()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def refused() -> OSError:
    return OSError(errno.ECONNREFUSED, "Connection refused")


def no_route() -> OSError:
    return OSError(errno.EHOSTUNREACH, "No route to host")


# --- the memo ---------------------------------------------------------------------------------

def test_memo_keeps_no_route_briefly_and_never_a_timeout_or_a_refusal():
    clock = Clock()
    memo = ReachMemo(remember_s=2.0, clock=clock)
    assert memo.record("10.9.9.9", 22, OSError(errno.ETIMEDOUT, "Connection timed out")) is None
    assert memo.record("10.9.9.9", 22, socket.timeout("timed out")) is None
    assert memo.silent("10.9.9.9", 22) is None  # no answer is not "down"
    # Refused costs nothing to ask again, and the port opens when its server starts.
    assert memo.record("10.9.9.8", 5432, refused()) is None and memo.silent("10.9.9.8", 5432) is None

    memo.record("10.9.9.7", 22, no_route())
    seen = memo.silent("10.9.9.7", 5432)  # no route: the whole host, every port
    assert seen is not None and "No route to host" in seen.reason
    clock.now += 1.5
    assert "seen 1.5 s ago" in memo.silent("10.9.9.7", 22).described(clock.now)
    clock.now += 0.6
    assert memo.silent("10.9.9.7", 22) is None  # stale: asked anew


def test_fresh_reads_never_reuse_and_an_answer_clears_the_memory():
    memo = ReachMemo(remember_s=60)
    memo.record("10.9.9.7", 22, no_route())
    with fresh():
        assert not reusing()
        assert memo.silent("10.9.9.7", 22) is None
    assert reusing() and memo.silent("10.9.9.7", 22) is not None
    memo.forget("10.9.9.7", 22)
    assert memo.silent("10.9.9.7", 22) is None


def test_ssh_and_the_database_probe_share_what_was_seen(sshd, tmp_path):  # noqa: F811
    """A no-route answer seen by one is given to the other without asking: here the host is in
    fact alive (loopback), so an answer of "does not answer" can only have come from the memo."""
    cluster = sshd.cluster(tmp_path / "c.toml")
    MEMO.record(sshd.host, sshd.port, no_route())
    ok, why = _tcp_reachable(sshd.host, sshd.port, 5)
    assert ok is False and "No route to host" in why

    async def go():
        t = SshTransport(cluster)
        try:
            with pytest.raises(TransportError) as caught:
                await t.run("mn1", "true")
            assert t.connects == 0
            with fresh():  # a confirming reading asks the node itself
                result = await t.run("mn1", "true")
            return caught.value, result, t.connects
        finally:
            await t.close()

    err, result, connects = asyncio.run(go())
    assert err.unreachable and "No route to host" in str(err)
    assert result.ok and connects == 1
    assert MEMO.silent(sshd.host, sshd.port) is None  # the node answered: forgotten


def connect_error(cluster) -> TransportError:
    """What running a command on mn1 raises (it must raise: nothing listens there)."""
    async def go():
        t = SshTransport(cluster)
        try:
            with pytest.raises(TransportError) as caught:
                await t.run("mn1", "true")
            return caught.value
        finally:
            await t.close()

    return asyncio.run(go())


def test_a_refused_ssh_port_is_does_not_answer(sshd, tmp_path):  # noqa: F811
    err = connect_error(sshd.cluster(tmp_path / "c.toml", port=free_port()))
    assert err.unreachable and err.reason == "unreachable" and "Connection refused" in str(err)


# --- "could not read" is not "down" ------------------------------------------------------------

def probe_reachable(cluster) -> Reading:
    async def go():
        t = SshTransport(cluster)
        try:
            return await host_probes(t, cluster).probes["host.reachable"]("mn1", {}, None)
        finally:
            await t.close()

    return asyncio.run(go())


def test_reachable_false_only_when_the_node_does_not_answer(sshd, tmp_path):  # noqa: F811
    down = probe_reachable(sshd.cluster(tmp_path / "down.toml", port=free_port()))
    assert down.fields == {"reachable": False}

    # A login refused or a host key that does not match: something answers there.
    for name, kw in (("key.toml", {"known_hosts": sshd.wrong_known_hosts}),):
        reading = probe_reachable(sshd.cluster(tmp_path / name, **kw))
        assert "reachable" not in reading.fields, reading
        assert reading.error and "does not match" in reading.error
    path = sshd.cluster_toml(tmp_path / "auth.toml")
    other_key = tmp_path / "other_ed25519"
    import subprocess

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other_key)], check=True)
    path.write_text(path.read_text().replace(str(sshd.client_key), str(other_key)))
    reading = probe_reachable(load_cluster(path))
    assert "reachable" not in reading.fields and "authentication refused" in (reading.error or "")


class Silent:
    """A loopback listener that accepts connections and never speaks: a hung node."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.sock.close()
        for c in self.accepted:
            c.close()


def hung_cluster(sshd, tmp_path: Path, silent: Silent):  # noqa: F811
    """mn1 hangs (the silent listener), mn2 is the real sshd; connect timeout 1 s."""
    path = sshd.cluster_toml(tmp_path / "hung.toml")
    text = path.read_text().replace("connect_timeout_s = 5", "connect_timeout_s = 1")
    first = text.index(f"port = {sshd.port}")
    text = text[:first] + f"port = {silent.port}" + text[first + len(f"port = {sshd.port}"):]
    path.write_text(text)
    return load_cluster(path)


def test_a_hung_node_is_waited_for_once_by_checks_read_together_and_stays_unknown(sshd, tmp_path):  # noqa: F811
    silent = Silent()
    try:
        cluster = hung_cluster(sshd, tmp_path, silent)

        async def go():
            t = SshTransport(cluster)
            try:
                probe = host_probes(t, cluster).probes["host.reachable"]
                return await asyncio.gather(*(probe("mn1", {}, None) for _ in range(4)))
            finally:
                await t.close()

        readings = asyncio.run(go())
    finally:
        silent.close()
    # One connection attempt for the four readings, and a timeout is not "down".
    assert len(silent.accepted) == 1
    assert all("reachable" not in r.fields and "no SSH connection within 1 s" in (r.error or "") for r in readings)


def test_the_lock_connects_to_every_node_at_once(sshd, tmp_path):  # noqa: F811
    silent = Silent()
    locks = tmp_path / "locks"
    locks.mkdir()
    cluster = hung_cluster(sshd, tmp_path, silent)
    order: list[str] = []

    async def go():
        t = SshTransport(cluster)
        real = t._connect

        async def spy(name, node):
            order.append(f"start {name}")
            try:
                return await real(name, node)
            finally:
                order.append(f"end {name}")

        t._connect = spy  # type: ignore[method-assign]
        try:
            lock = ClusterLock(t, ["mn1", "mn2"], "lab", lock_dir=str(locks))
            got = await lock.acquire(Holder.now("alice", "mn2", "run-a"), skip_unreachable=True)
            taken = list(lock.taken)
            await lock.release()
            return got, taken, lock.skipped
        finally:
            await t.close()

    try:
        got, taken, skipped = asyncio.run(go())
    finally:
        silent.close()
    assert got is None and taken == ["mn2"] and list(skipped) == ["mn1"]
    # mn2's connection was started before mn1's hung attempt ended (not after it), and the
    # ordered lock attempt on mn1 waited on that one attempt instead of making a second.
    assert order.index("start mn2") < order.index("end mn1")
    assert order.count("start mn1") == 1 and len(silent.accepted) == 1


# --- the confirming reading ---------------------------------------------------------------------

class SlowProbes:
    """Each reading takes `cost` seconds of a fake clock and notes whether it could reuse."""

    def __init__(self, clock: Clock, cost: float):
        self.clock, self.cost = clock, cost
        self.reads: list[tuple[float, bool]] = []

    async def read(self, node: str, probe: str, args: Mapping[str, Any], user: str | None) -> Reading:
        self.reads.append((self.clock.now, reusing()))
        self.clock.now += self.cost
        return Reading({"reachable": False})


def test_confirm_interval_counts_from_the_first_reading_and_reads_afresh():
    clock = Clock()
    probes = SlowProbes(clock, cost=3.0)
    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)
        clock.now += s

    ctx = RunContext(params={}, roles={"primary": "mn1"})
    check = Check(node="primary", probe="host.reachable", field="reachable", equals=False, confirm_after_s=10)
    outcomes = asyncio.run(CheckEvaluator(probes, ctx, sleep, clock=clock).evaluate([check]))
    assert slept == [7.0]  # 10 s after the first reading started, not 10 s after it ended
    assert [t for t, _ in probes.reads] == [100.0, 110.0]
    assert [r for _, r in probes.reads] == [True, False]  # the confirming reading reuses nothing
    assert outcomes[0].verdict == "pass" and "10 s later" in outcomes[0].reason


def test_the_engine_forgets_after_a_command_that_changes_things(tmp_path):
    """A mutating step (it may have started a server, brought an address up) ends what was seen;
    a read-only one does not."""
    from .test_runner import AutoOperator, make, run

    MEMO.record("10.9.9.7", 22, no_route())
    rb = make('''
    [[steps]]
    id = "look"
    title = "look"
    node = "local"
    run = "true"
    mutating = false
    ''', tmp_path)
    run(rb, AutoOperator(), tmp_path)
    assert MEMO.silent("10.9.9.7", 22) is not None
    rb = make('''
    [[steps]]
    id = "change"
    title = "change"
    node = "local"
    run = "true"
    confirm = "none"
    irreversible = true
    ''', tmp_path)
    run(rb, AutoOperator(), tmp_path)
    assert MEMO.silent("10.9.9.7", 22) is None


# --- connections dialled at start-up -------------------------------------------------------------

def test_an_early_dial_is_the_connection_ssh_runs_on_and_its_host_key_is_checked(sshd, tmp_path):  # noqa: F811
    from hamn_tui.transport.reach import DIALS

    good = sshd.cluster(tmp_path / "good.toml")
    bad = sshd.cluster(tmp_path / "bad.toml", known_hosts=sshd.wrong_known_hosts)

    async def go(cluster):
        t = SshTransport(cluster)
        try:
            return await t.run("mn1", "echo $SSH_CONNECTION")
        finally:
            await t.close()

    out: list[bytes] = []

    async def run_good():
        t = SshTransport(good)
        try:
            return await t.run("mn1", 'echo "$SSH_CONNECTION"', on_output=lambda s, b: out.append(b))
        finally:
            await t.close()

    DIALS.start(sshd.host, sshd.port, 5)
    dial = DIALS._dials[(sshd.host, sshd.port)]
    sock = dial.result(timeout=5)
    local_port = sock.getsockname()[1]
    result = asyncio.run(run_good())
    assert result.ok
    # The session ran on the dialled socket: sshd saw our early socket's source port.
    assert str(local_port) in b"".join(out).decode().split()
    assert (sshd.host, sshd.port) not in DIALS._dials  # taken once

    DIALS.start(sshd.host, sshd.port, 5)
    with pytest.raises(TransportError) as caught:
        asyncio.run(go(bad))
    assert caught.value.reason == "host_key" and "does not match" in str(caught.value)


def test_an_early_dial_that_failed_is_the_answer(sshd, tmp_path):  # noqa: F811
    from hamn_tui.transport.reach import DIALS

    port = free_port()
    cluster = sshd.cluster(tmp_path / "c.toml", port=port)
    DIALS.start(sshd.host, port, 5)
    err = connect_error(cluster)
    assert err.unreachable and "Connection refused" in str(err)
