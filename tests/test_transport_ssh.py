"""SshTransport against a real OpenSSH sshd on loopback (tests/sshd_fixture.py), no mocks."""
from __future__ import annotations

import asyncio
import os
import shutil
import signal

import asyncssh
import pytest

from hamn_tui.transport.base import Result, TransportError
from hamn_tui.transport.local import LocalTransport
from hamn_tui.transport.router import Router, bounded
from hamn_tui.transport.ssh import PidSniffer, SshTransport

from .sshd_fixture import TEST_USER, free_port, sshd  # noqa: F401
from .transport_helpers import Collected, kill_sleeps, sleeps, unique_seconds, wait_until


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def cluster(sshd, tmp_path):  # noqa: F811
    return sshd.cluster(tmp_path / "cluster.toml")


async def _run_once(cluster, *args, kill_grace_s: float = 0.5, **kw) -> Result:
    t = SshTransport(cluster, kill_grace_s=kill_grace_s)
    try:
        return await t.run(*args, **kw)
    finally:
        await t.close()


def test_output_streams_while_the_command_runs(cluster):
    out = Collected()
    r = run(_run_once(cluster, "mn1", "echo first; echo warn >&2; sleep 1; echo second", on_output=out))
    assert r.ok
    assert out.text("stdout") == "first\nsecond\n" and out.text("stderr") == "warn\n"
    assert out.first("stdout", b"second") - out.first("stdout", b"first") > 0.8
    assert out.first("stdout", b"second") - out.first("stderr", b"warn") > 0.8
    assert (r.stdout_bytes, r.stderr_bytes) == (13, 5)  # the pid marker line is not counted or shown


def test_exit_status_signal_and_closed_stdin(cluster):
    async def go():
        t = SshTransport(cluster)
        try:
            return [await t.run("mn1", c, timeout_s=10) for c in ("exit 7", "true", "cat; exit 3", "kill -KILL $$")]
        finally:
            await t.close()

    seven, true, cat, killed = run(go())
    assert (seven.ending, seven.exit_status, seven.ok) == ("exited", 7, False)
    assert true.ok and cat.exit_status == 3
    assert (killed.ending, killed.signal) == ("signalled", "KILL")


def test_one_connection_per_node_reused_and_connected_once_under_concurrency(cluster):
    async def go():
        t = SshTransport(cluster)
        try:
            results = await asyncio.gather(*(t.run("mn1", "true") for _ in range(6)))
            results += [await t.run("mn1", "true") for _ in range(3)]
            results.append(await t.run("mn2", "true"))
            return results, t.connects
        finally:
            await t.close()

    results, connects = run(go())
    assert all(r.ok for r in results)
    assert connects == 2  # mn1 once despite six concurrent first runs, then mn2


def test_big_output_in_chunks(cluster):
    out = Collected()
    r = run(_run_once(cluster, "mn1", "seq 1 200000", on_output=out))
    assert r.ok and out.text("stdout").splitlines()[-1] == "200000"
    assert r.stdout_bytes == sum(len(str(i)) + 1 for i in range(1, 200001))
    assert len(out.chunks) > 1


@pytest.mark.parametrize("prefix", ["", "trap '' TERM; "], ids=["term", "term-ignored-so-kill"])
@pytest.mark.parametrize("as_user", [None, TEST_USER], ids=["login-user", "runuser"])
def test_timeout_kills_the_remote_process_and_its_children(cluster, prefix, as_user):
    n = unique_seconds()

    async def go():
        t = SshTransport(cluster, kill_grace_s=0.5)
        try:
            task = asyncio.ensure_future(t.run("mn1", f"{prefix}sleep {n} & sleep {n}", user=as_user, timeout_s=1))
            assert await wait_until(lambda: len(sleeps(n)) == 2)
            r = await task
            again = await t.run("mn1", "echo still usable")
            return r, again
        finally:
            await t.close()

    r, again = run(go())
    assert r.ending == "timeout" and r.unknown and r.exit_status is None
    assert "mn1" in r.error and "unknown" in r.error
    assert sleeps(n) == []
    assert again.ok


def test_timeout_with_a_non_root_login(sshd, tmp_path):  # noqa: F811
    """The kill script runs as the login user too, where the "signal" request would work anyway."""
    n = unique_seconds()
    cluster = sshd.cluster(tmp_path / "c.toml", ssh_user=TEST_USER)
    r = run(_run_once(cluster, "mn1", f"sleep {n} & sleep {n}", timeout_s=1))
    assert r.ending == "timeout" and sleeps(n) == []


def test_cancel_kills_the_remote_process(cluster):
    n = unique_seconds()

    async def go():
        cancel = asyncio.Event()
        task = asyncio.ensure_future(_run_once(cluster, "mn1", f"sleep {n} & sleep {n}", user=TEST_USER,
                                               cancel=cancel))
        assert await wait_until(lambda: len(sleeps(n)) == 2)
        cancel.set()
        return await task

    r = run(go())
    assert r.ending == "cancelled" and sleeps(n) == []


def test_cancel_before_sending(cluster):
    async def go():
        cancel = asyncio.Event()
        cancel.set()
        return await _run_once(cluster, "mn1", "exit 1", cancel=cancel)

    assert run(go()).ending == "not_started"


def test_sshd_refuses_the_signal_request_for_root(sshd, cluster):  # noqa: F811
    """Why the transport does not use SSH "signal": OpenSSH 9.2 ignores it for root logins."""
    n = unique_seconds()

    async def go():
        async with asyncssh.connect(sshd.host, port=sshd.port, username="root", known_hosts=str(sshd.known_hosts),
                                    client_keys=[str(sshd.client_key)], config=None) as conn:
            process = await conn.create_process(f"sleep {n} & sleep {n}")
            assert await wait_until(lambda: len(sleeps(n)) == 2)
            process.send_signal("TERM")
            await asyncio.sleep(1)
            left = len(sleeps(n))
            process.close()
            return left

    try:
        assert run(go()) == 2
        assert "session signalling requires privilege separation" in sshd.log.read_text()
    finally:
        kill_sleeps(n)


@pytest.mark.parametrize("method", ["runuser", "su", "sudo"])
def test_run_as_each_method(sshd, tmp_path, method):  # noqa: F811
    if shutil.which(method) is None:
        pytest.skip(f"{method} is not installed on the node")
    cluster = sshd.cluster(tmp_path / "c.toml", run_as=method)
    out = Collected()
    r = run(_run_once(cluster, "mn2", 'id -un; printf "%s\\n" "it\'s $(echo ok)"', user=TEST_USER, on_output=out))
    assert r.ok, out.text("stderr")
    assert out.text("stdout") == f"{TEST_USER}\nit's ok\n"


def test_host_key_mismatch_is_refused_with_a_clear_message(sshd, tmp_path):  # noqa: F811
    cluster = sshd.cluster(tmp_path / "c.toml", known_hosts=sshd.wrong_known_hosts)
    with pytest.raises(TransportError) as err:
        run(_run_once(cluster, "mn1", "touch /nonexistent-should-never-run"))
    msg = str(err.value)
    for part in ("mn1", f"{sshd.host}:{sshd.port}", str(sshd.wrong_known_hosts), "does not match",
                 "refuses to connect", "ssh-keygen -lf", "SHA256:"):
        assert part in msg, (part, msg)


def test_unknown_host_is_refused_too(sshd, tmp_path):  # noqa: F811
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(TransportError, match="refuses to connect"):
        run(_run_once(sshd.cluster(tmp_path / "c.toml", known_hosts=empty), "mn1", "true"))
    with pytest.raises(TransportError, match="does not exist"):
        run(_run_once(sshd.cluster(tmp_path / "c.toml", known_hosts=tmp_path / "missing"), "mn1", "true"))


def test_unreachable_port_raises_before_anything_ran(sshd, tmp_path):  # noqa: F811
    cluster = sshd.cluster(tmp_path / "c.toml", port=free_port())
    with pytest.raises(TransportError, match="nothing was run") as err:
        run(_run_once(cluster, "mn1", "true"))
    assert "refused" in str(err.value).lower()


def test_unknown_node(cluster):
    with pytest.raises(TransportError, match="unknown node 'mn9'"):
        run(_run_once(cluster, "mn9", "true"))


def test_connection_dropped_mid_command_is_lost_then_reconnects(cluster):
    """Kill the sshd process serving the connection while the command runs: never 'exited'."""
    n = unique_seconds()
    killed: list[int] = []

    def kill_server_side(stream: str, chunk: bytes) -> None:
        if stream == "stdout" and chunk.startswith(b"server ") and not killed:
            pid = int(chunk.split()[1])  # $PPID: the sshd process of this connection (root login)
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    async def go():
        t = SshTransport(cluster)
        try:
            lost = await t.run("mn1", f"echo server $PPID; sleep {n}; echo never", on_output=kill_server_side,
                               timeout_s=30)
            again = await t.run("mn1", "echo back")
            return lost, again, t.connects
        finally:
            await t.close()

    try:
        lost, again, connects = run(go())
    finally:
        kill_sleeps(n)  # the remote command outlives its connection: nobody is left to stop it
    assert killed
    assert lost.ending == "lost" and lost.unknown and lost.exit_status is None and not lost.ok
    assert "unknown" in lost.error
    assert again.ok and connects == 2


def test_fanout_keeps_output_per_node_and_bounds_concurrency(sshd, tmp_path):  # noqa: F811
    names = ("mn1", "mn2", "sn1", "sn2", "sn3", "sn4")
    cluster = sshd.cluster(tmp_path / "c.toml", names)
    out: dict[str, list[bytes]] = {}
    in_flight = peak = 0

    class Counting:
        def __init__(self, inner):
            self.inner = inner

        async def run(self, node, command, **kw):
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            try:
                return await self.inner.run(node, command, **kw)
            finally:
                in_flight -= 1

        async def close(self):
            await self.inner.close()

    async def go():
        t = Counting(SshTransport(cluster))
        try:
            # the runner's group fan-out: one node's failure stops no other, output stays per node
            async def one(node):
                try:
                    return await t.run(node, 'for i in 1 2 3; do echo "$$ $i"; sleep 0.1; done',
                                       on_output=lambda s, c, node=node: out.setdefault(node, []).append(c))
                except TransportError as exc:
                    return exc

            return await bounded([*names, "nosuch"], 2, one)
        finally:
            await t.close()

    results = run(go())
    assert list(results) == [*names, "nosuch"]
    assert isinstance(results["nosuch"], TransportError)
    assert all(isinstance(results[n], Result) and results[n].ok for n in names)
    assert peak == 2
    pids = set()
    for node in names:
        lines = b"".join(out[node]).decode().splitlines()
        assert [line.split()[1] for line in lines] == ["1", "2", "3"]
        assert len({line.split()[0] for line in lines}) == 1  # one process's output, not interleaved
        pids.add(lines[0].split()[0])
    assert len(pids) == len(names)


def test_pid_marker_is_taken_out_wherever_the_chunks_split():
    got: list[bytes] = []
    s = PidSniffer("abc", got.append)
    for piece in (b"motd from a login script\nhamn-p", b"id-abc:4", b"242\nreal ", b"output\n"):
        s.feed(piece)
    s.flush()
    assert s.pid == 4242 and b"".join(got) == b"motd from a login script\nreal output\n"
    none: list[bytes] = []
    s = PidSniffer("abc", none.append)
    s.feed(b"x" * (PidSniffer.LIMIT + 1))
    assert s.pid is None and len(b"".join(none)) == PidSniffer.LIMIT + 1


def test_router_sends_local_here_and_nodes_over_ssh(cluster):
    async def go():
        router = Router(LocalTransport(), SshTransport(cluster))
        try:
            outs = {}
            for node in ("local", "mn1"):
                c = Collected()
                r = await router.run(node, 'echo "${SSH_CONNECTION:-none}"', on_output=c)
                assert r.ok
                outs[node] = c.text("stdout").strip()
            return outs
        finally:
            await router.close()

    outs = run(go())
    assert outs["local"] == "none" and outs["mn1"].startswith("127.0.0.1 ")
