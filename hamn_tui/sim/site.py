"""A larger training site: the training cluster with N service nodes instead of its two.

A scenario's `[site] service_nodes = N` names them sn1…snN and puts them all in the
`service_nodes` group, so the shipped runbooks' `@service_nodes` steps fan out to every one.
sn1 and sn2 keep the cluster file's entries; the others get documentation addresses
(RFC 5737: 198.51.100.0/24, then 203.0.113.0/24), which the simulator only uses as names.
"""
from __future__ import annotations

from ..cluster.model import Cluster, Node

GROUP = "service_nodes"
_POOLS = ("198.51.100", "203.0.113")
MAX_SERVICE_NODES = 2 + 254 * len(_POOLS)
"""sn1 and sn2 from the file, then one address per host number of each pool."""


def service_node_names(count: int) -> list[str]:
    return [f"sn{i}" for i in range(1, count + 1)]


def grown(cluster: Cluster, service_nodes: int | None) -> Cluster:
    """The cluster with exactly `service_nodes` service nodes (None: unchanged)."""
    if service_nodes is None:
        return cluster
    if not 1 <= service_nodes <= MAX_SERVICE_NODES:
        raise ValueError(f"service_nodes must be 1 to {MAX_SERVICE_NODES}, not {service_nodes}")
    others = {name: n for name, n in cluster.nodes.items() if n.role != "service"}
    existing = {name: n for name, n in cluster.nodes.items() if n.role == "service"}
    addresses = iter(f"{pool}.{host}" for pool in _POOLS for host in range(1, 255))
    nodes = dict(others)
    for name in service_node_names(service_nodes):
        nodes[name] = existing.get(name) or Node(address=next(addresses), hostname=name, role="service")
    groups = {**cluster.groups, GROUP: service_node_names(service_nodes)}
    return cluster.model_copy(update={"nodes": nodes, "groups": groups})
