"""A status snapshot asks both nodes, and all of a node's readings, at once: a dead node's wait is
paid once and holds nobody else up."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Mapping

from hamn_tui.app.status import snapshot
from hamn_tui.cluster.loader import load_cluster
from hamn_tui.probes.base import Reading

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "cluster.toml"


class Gated:
    """mn1's readings do not answer until every other reading has started (a dead node that only
    ARP gives up on): read one after the other, the snapshot would never finish."""

    def __init__(self, expected_others: int):
        self.expected = expected_others
        self.started: list[tuple[str, str]] = []
        self.others = asyncio.Event()

    async def read(self, node: str, probe: str, args: Mapping[str, Any], user: str | None = None) -> Reading:
        self.started.append((node, probe))
        if node == "mn1":
            await self.others.wait()
            return Reading({"reachable": False}, error="mn1:22: No route to host")
        if sum(1 for n, _ in self.started if n != "mn1") >= self.expected:
            self.others.set()
        await asyncio.sleep(0)
        if probe == "host.reachable":
            return Reading({"reachable": True})
        if probe == "host.service":
            return Reading({"running": args["service"] == "xcatd"})
        if probe == "host.service_ip":
            return Reading({"holds": False})
        return Reading({"role": "standby"})


def test_nodes_and_readings_are_asked_together():
    cluster = load_cluster(EXAMPLE)
    pair = [n for n, node in cluster.nodes.items() if node.role in ("primary", "standby")]
    assert pair[0] == "mn1"
    # mn2: reachable, its database, four services and the service IP.
    probes = Gated(expected_others=2 + 4 + (1 if cluster.service_ip else 0))

    snap = asyncio.run(asyncio.wait_for(snapshot(cluster, probes), 5))
    assert snap.nodes["mn1"].reachable is False
    mn2 = snap.nodes["mn2"]
    assert mn2.reachable is True and mn2.services["xcatd"] is True and mn2.services["dhcpd"] is False
    # Both nodes were asked at once, and mn2's host facts did not wait for mn1 to answer.
    assert probes.started[:2] == [("mn1", "host.reachable"), ("mn2", "host.reachable")]


class DeadPrimary:
    """mn1 does not answer until released; mn2's replication reading asks mn1 too (as a standby's
    does), so it waits as well; mn2's host facts answer at once."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def read(self, node: str, probe: str, args: Mapping[str, Any], user: str | None = None) -> Reading:
        if node == "mn1" or probe in ("db2.hadr", "pg.replication"):
            await self.release.wait()
        if node == "mn1":
            return Reading({"reachable": False}, error="mn1:22: No route to host")
        if probe == "host.reachable":
            return Reading({"reachable": True})
        if probe == "host.service":
            return Reading({"running": True})
        if probe == "host.service_ip":
            return Reading({"holds": False})
        return Reading({"role": "standby"})


def test_the_first_reading_hears_of_a_live_node_before_a_dead_one_answers():
    cluster = load_cluster(EXAMPLE)
    probes = DeadPrimary()
    heard: list[tuple[str, bool | None, list[str]]] = []

    async def go():
        task = asyncio.ensure_future(snapshot(cluster, probes, on_node=lambda st: heard.append((st.name, st.reachable, list(st.errors)))))
        for _ in range(50):
            await asyncio.sleep(0)
        before = list(heard)
        probes.release.set()
        snap = await task
        return before, snap

    before, snap = asyncio.run(asyncio.wait_for(go(), 5))
    assert before == [("mn2", True, ["reading the database"])]  # heard while mn1 is still silent
    assert sorted(n for n, _, _ in heard[1:]) == ["mn1", "mn2"]  # then each whole
    assert snap.nodes["mn2"].errors == [] and snap.nodes["mn2"].replication == {"role": "standby"}


def test_the_status_asks_a_node_only_about_itself_for_the_service_ip():
    """The verify check wants the holder (every node); the status wants `holds` and must not wait
    on the other, possibly dead, node."""
    from hamn_tui.probes.host import host_probes
    from hamn_tui.transport.base import Result

    cluster = load_cluster(EXAMPLE)
    asked: list[str] = []

    class Fake:
        async def run(self, node, command, **kw):
            asked.append(node)
            kw["on_output"]("stdout", f"2: eth0 inet {cluster.service_ip.address}/24\n".encode() if node == "mn2" else b"")
            return Result("exited", 0)

    probe = host_probes(Fake(), cluster).probes["host.service_ip"]
    alone = asyncio.run(probe("mn2", {"only_this_node": True}, None))
    assert asked == ["mn2"] and alone.fields == {"holds": True}
    asked.clear()
    every = asyncio.run(probe("mn2", {}, None))
    assert sorted(asked) == ["mn1", "mn2"] and every.fields == {"holder": "mn2", "holds": True}
