"""`hamn status`: both nodes at a glance, and the transitions worth a mail (Serviceguard's ALERT_MAIL_ID).

A snapshot reads every node's replication state and host facts through the probes; a value
that could not be read is shown as unknown, never as healthy. `--watch` re-reads after each
snapshot completes (completion-chained: probes never overlap) and compares consecutive
snapshots for transitions.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from ..cluster.model import Cluster
from ..probes.base import ProbeSource

UNKNOWN = "unknown"


@dataclass
class NodeStatus:
    name: str
    role_at_setup: str
    reachable: bool | None
    replication: dict[str, Any] = field(default_factory=dict)
    holds_service_ip: bool | None = None
    services: dict[str, bool | None] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def role(self) -> str:
        return str(self.replication.get("role") or UNKNOWN)


@dataclass
class Snapshot:
    cluster: str
    database: str
    taken_epoch: float
    nodes: dict[str, NodeStatus]

    def to_json(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster, "database": self.database, "taken_epoch": int(self.taken_epoch),
            "nodes": {n: {"role_at_setup": s.role_at_setup, "reachable": s.reachable, "role": s.role, "replication": s.replication,
                          "holds_service_ip": s.holds_service_ip, "services": s.services, "errors": s.errors} for n, s in self.nodes.items()},
        }


SERVICES = {"db2": ("xcatd", "dhcpd", "named", "conserver"), "pg": ("xcatd", "dhcpd", "named", "conserver")}


async def snapshot(cluster: Cluster, probes: ProbeSource, *, services: bool = True,
                   on_node: Callable[[NodeStatus], None] | None = None) -> Snapshot:
    """Every node, and every reading of a node, at once: a dead node costs its timeout once and
    holds nobody else up (the probes share one connection attempt per node). `on_node` hears of
    each node as soon as it is read (the TUI's first reading shows the nodes that answered while
    a dead one is still being waited for)."""
    kind = cluster.cluster.database
    probe = "db2.hadr" if kind == "db2" else "pg.replication"

    async def node_status(name: str, role: str) -> NodeStatus:
        st = NodeStatus(name, role, None)
        # PostgreSQL answers on its own port even when SSH does not: always ask the database. A
        # standby's reading also asks its primary, so it may wait on a dead one: the host facts
        # below do not wait for it.
        replication = asyncio.ensure_future(probes.read(name, probe, {}))
        r = await probes.read(name, "host.reachable", {})
        st.reachable = r.fields.get("reachable")
        if st.reachable is True:
            names = list(SERVICES[kind]) if services else []
            reads = [probes.read(name, "host.service", {"service": svc}) for svc in names]
            if cluster.service_ip is not None:
                reads.append(probes.read(name, "host.service_ip", {"only_this_node": True}))  # never waits on the other node
            got = await asyncio.gather(*reads)
            for svc, s in zip(names, got):
                st.services[svc] = s.fields.get("running")
            if cluster.service_ip is not None:
                st.holds_service_ip = got[-1].fields.get("holds")
            if not replication.done() and on_node is not None:
                on_node(replace(st, errors=["reading the database"]))  # what is known so far
        rep = await replication
        st.replication = dict(rep.fields)
        if rep.error:
            st.errors.append(rep.error)
        if st.reachable is not True and (r.error or "") not in (rep.error or ""):
            st.errors.append(r.error or "no answer over ssh")
        return done(st)

    def done(st: NodeStatus) -> NodeStatus:
        if on_node is not None:
            on_node(st)
        return st

    pair = [(name, node.role) for name, node in cluster.nodes.items() if node.role in ("primary", "standby")]
    read = await asyncio.gather(*(node_status(name, role) for name, role in pair))
    return Snapshot(cluster.cluster.name, kind, time.time(), {st.name: st for st in read})


@dataclass(frozen=True)
class Transition:
    kind: str
    """standby_disconnected | standby_reconnected | role_changed | takeover | node_unreachable | node_reachable |
    situation_changed (node is empty: the pair's situation, `app.situation`)"""
    node: str
    before: str
    after: str

    def subject(self, cluster: str) -> str:
        words = {
            "standby_disconnected": "standby disconnected", "standby_reconnected": "standby reconnected",
            "role_changed": "role changed", "takeover": "takeover: new primary", "node_unreachable": "node unreachable",
            "node_reachable": "node reachable again", "situation_changed": "situation",
        }[self.kind]
        if not self.node:
            return f"[hamn {cluster}] {words}: {self.before} -> {self.after}"
        return f"[hamn {cluster}] {words}: {self.node} ({self.before} -> {self.after})"


def _connected(kind: str, rep: dict[str, Any]) -> bool | None:
    if kind == "db2":
        cs = rep.get("connect_status")
        return None if cs is None else cs == "CONNECTED"
    if rep.get("role") == "primary":
        n = rep.get("streaming_standbys")
        return None if n is None else n > 0
    w = rep.get("wal_receiver")
    return None if w is None else w == "streaming"


def transitions(before: Snapshot, after: Snapshot) -> list[Transition]:
    """What changed between two snapshots that an administrator must hear about. Unknown → known
    is not a transition (a first reading, or a probe that failed once, must not page anyone)."""
    out: list[Transition] = []
    for name, b in before.nodes.items():
        a = after.nodes.get(name)
        if a is None:
            continue
        if b.reachable is True and a.reachable is False:
            out.append(Transition("node_unreachable", name, "reachable", "unreachable"))
        elif b.reachable is False and a.reachable is True:
            out.append(Transition("node_reachable", name, "unreachable", "reachable"))
        if b.role != UNKNOWN and a.role != UNKNOWN and b.role != a.role:
            kind = "takeover" if a.role.upper() == "PRIMARY" else "role_changed"
            out.append(Transition(kind, name, b.role, a.role))
        cb, ca = _connected(before.database, b.replication), _connected(after.database, a.replication)
        if cb is True and ca is False:
            out.append(Transition("standby_disconnected", name, "connected", "disconnected"))
        elif cb is False and ca is True:
            out.append(Transition("standby_reconnected", name, "disconnected", "connected"))
    return out


class StatusReader:
    """Reads a target's status again and again over one transport (the TUI's poller, `hamn
    status --watch`); close() it when done. The transport is made on the first reading."""

    def __init__(self, target: Any):
        self.target = target
        self._probes: ProbeSource | None = None
        self._transport: Any = None
        self._owned = False

    def probes(self) -> ProbeSource:
        if self._probes is None:
            from .targets import status_context

            self._transport, self._owned = self.target.transport()
            self._probes = self.target.probes(self._transport, status_context(self.target.cluster))
        return self._probes

    async def read(self, on_node: Callable[[NodeStatus], None] | None = None) -> Snapshot:
        return await snapshot(self.target.cluster, self.probes(), on_node=on_node)

    async def close(self) -> None:
        transport, self._transport, self._probes = self._transport, None, None
        if transport is not None and self._owned:
            await transport.close()


def live_roles(snap: Snapshot | None) -> dict[str, str]:
    """Roles as the cluster is now (after a failover the standby is primary), when the reading is
    clear about it (one primary, one standby); otherwise {} and the cluster file's binding holds."""
    if snap is None:
        return {}
    found: dict[str, str] = {}
    for name, n in snap.nodes.items():
        role = str(n.replication.get("role") or "").lower()
        if role in ("primary", "standby"):
            if role in found:
                return {}
            found[role] = name
    return found if len(found) == 2 else {}
