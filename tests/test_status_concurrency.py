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
    # mn1 was asked before mn2 finished, and mn2's readings started before mn1 answered.
    assert probes.started[:2] == [("mn1", "host.reachable"), ("mn1", "db2.hadr" if cluster.cluster.database == "db2" else "pg.replication")]
