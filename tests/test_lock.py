"""ClusterLock over real SSH: one operator at a time, contention, release, break."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from hamn_tui.engine.lock import ClusterLock, Holder, LockError
from hamn_tui.transport.local import LocalTransport
from hamn_tui.transport.router import Router
from hamn_tui.transport.ssh import SshTransport

from .sshd_fixture import free_port, sshd  # noqa: F401


@pytest.fixture
def cluster(sshd, tmp_path):  # noqa: F811
    return sshd.cluster(tmp_path / "cluster.toml")


def run(coro):
    return asyncio.run(coro)


def lock_dirs(lock_dir: Path) -> list[str]:
    return sorted(p.name for p in lock_dir.iterdir())


ALICE = Holder.now("alice", "mn2", "run-alice")
BOB = Holder.now("bob", "laptop", "run-bob")


def test_acquire_writes_holders_and_release_removes_them(cluster, tmp_path):
    locks = tmp_path / "locks"
    locks.mkdir()

    async def go():
        t = SshTransport(cluster)
        try:
            lock = ClusterLock(t, ["mn2", "mn1"], "lab", lock_dir=str(locks))
            assert await lock.acquire(ALICE) is None
            assert lock.taken == ["mn1", "mn2"]
            held = lock_dirs(locks)
            files = {d: json.loads((locks / d / "holder").read_text()) for d in held}
            seen = await lock.holders()
            await lock.release()
            return held, files, seen
        finally:
            await t.close()

    held, files, seen = run(go())
    # Both node names point at the same host: one directory per node, no collision.
    assert held == ["hamn-lab-mn1.lock", "hamn-lab-mn2.lock"]
    assert all(f == {"user": "alice", "host": "mn2", "run_id": "run-alice", "since": ALICE.since}
               for f in files.values())
    assert seen == {"mn1": ALICE, "mn2": ALICE}
    assert lock_dirs(locks) == []


def test_two_concurrent_acquirers_exactly_one_proceeds(cluster, tmp_path):
    async def go(round_: int):
        locks = tmp_path / f"locks{round_}"
        locks.mkdir()
        ta, tb = SshTransport(cluster), SshTransport(cluster)  # two operators, two connections
        try:
            a = ClusterLock(ta, ["mn1", "mn2"], "lab", lock_dir=str(locks))
            b = ClusterLock(tb, ["mn1", "mn2"], "lab", lock_dir=str(locks))
            ra, rb = await asyncio.gather(a.acquire(ALICE), b.acquire(BOB))
            winner = a if ra is None else b
            await winner.release()
            return ra, rb, lock_dirs(locks)
        finally:
            await asyncio.gather(ta.close(), tb.close())

    for round_ in range(3):
        ra, rb, left = run(go(round_))
        assert (ra is None) != (rb is None), (ra, rb)
        assert (rb if ra is None else ra) == (ALICE if ra is None else BOB)  # the loser sees the winner
        assert left == []


def test_a_held_later_node_gives_back_the_earlier_ones(cluster, tmp_path):
    locks = tmp_path / "locks"
    locks.mkdir()

    async def go():
        t = SshTransport(cluster)
        try:
            other = ClusterLock(t, ["mn2"], "lab", lock_dir=str(locks))
            assert await other.acquire(BOB) is None
            lock = ClusterLock(t, ["mn1", "mn2"], "lab", lock_dir=str(locks))
            seen = await lock.acquire(ALICE)
            return seen, lock_dirs(locks)
        finally:
            await t.close()

    seen, left = run(go())
    assert seen == BOB
    assert left == ["hamn-lab-mn2.lock"]  # mn1 was taken first, then given back


def test_break_and_acquire_records_who_was_broken_and_release_leaves_others_alone(cluster, tmp_path):
    locks = tmp_path / "locks"
    locks.mkdir()

    async def go():
        t = SshTransport(cluster)
        try:
            stale = ClusterLock(t, ["mn1", "mn2"], "lab", lock_dir=str(locks))
            assert await stale.acquire(ALICE) is None
            new = ClusterLock(t, ["mn1", "mn2"], "lab", lock_dir=str(locks))
            assert await new.acquire(BOB) == ALICE
            assert await new.break_and_acquire(BOB) is None
            await stale.release()  # the broken holder comes back: it must not free bob's lock
            after_stale = await new.holders()
            await new.release()
            return new.broken, after_stale
        finally:
            await t.close()

    broken, after_stale = run(go())
    assert broken == {"mn1": ALICE, "mn2": ALICE}
    assert after_stale == {"mn1": BOB, "mn2": BOB}
    assert lock_dirs(locks) == []


def test_values_reach_the_shell_only_quoted(cluster, tmp_path):
    locks = tmp_path / "locks"
    locks.mkdir()
    canary = tmp_path / "canary"
    evil = Holder.now(f"o'brien $(touch {canary}) `touch {canary}`", 'h"ost;\ntouch x', f"run'$(touch {canary})")

    async def go():
        t = SshTransport(cluster)
        try:
            lock = ClusterLock(t, ["mn1", "mn2"], f"lab $(touch {canary})", lock_dir=str(locks))
            assert await lock.acquire(evil) is None
            seen = await lock.holders()
            await lock.release()
            return seen
        finally:
            await t.close()

    seen = run(go())
    assert seen == {"mn1": evil, "mn2": evil}
    assert not canary.exists()
    assert lock_dirs(locks) == []


def test_unreachable_node_fails_or_is_skipped_when_asked(sshd, tmp_path):  # noqa: F811
    locks = tmp_path / "locks"
    locks.mkdir()
    good = sshd.cluster(tmp_path / "good.toml")
    text = (tmp_path / "good.toml").read_text()
    # mn2 unreachable: its port has no listener.
    first, rest = text.split("[nodes.mn2]", 1)
    rest = rest.replace(f"port = {sshd.port}", f"port = {free_port()}", 1)
    (tmp_path / "bad.toml").write_text(first + "[nodes.mn2]" + rest)
    from hamn_tui.cluster.loader import load_cluster

    bad = load_cluster(tmp_path / "bad.toml")
    assert good.nodes["mn1"].port != bad.nodes["mn2"].port

    async def go():
        t = SshTransport(bad)
        try:
            lock = ClusterLock(t, ["mn1", "mn2"], "lab", lock_dir=str(locks))
            with pytest.raises(LockError, match="mn2"):
                await lock.acquire(ALICE)
            after_failure = lock_dirs(locks)
            assert await lock.acquire(ALICE, skip_unreachable=True) is None
            skipped, taken = dict(lock.skipped), list(lock.taken)
            await lock.release()
            return after_failure, skipped, taken
        finally:
            await t.close()

    after_failure, skipped, taken = run(go())
    assert after_failure == []  # mn1 was given back when mn2 failed
    assert list(skipped) == ["mn2"] and taken == ["mn1"]
    assert lock_dirs(locks) == []


def test_lock_through_the_router_on_the_local_node(cluster, tmp_path):
    locks = tmp_path / "locks"
    locks.mkdir()

    async def go():
        router = Router(LocalTransport(), SshTransport(cluster))
        try:
            lock = ClusterLock(router, ["local", "mn1"], "lab", lock_dir=str(locks))
            assert await lock.acquire(ALICE) is None
            held = lock_dirs(locks)
            await lock.release()
            return held
        finally:
            await router.close()

    assert run(go()) == ["hamn-lab-local.lock", "hamn-lab-mn1.lock"]
    assert lock_dirs(locks) == []


def test_holder_round_trip_and_unreadable_file():
    assert Holder.from_json(ALICE.to_json()) == ALICE
    junk = Holder.from_json("not json")
    assert junk.user == "unknown" and "unreadable" in junk.since
