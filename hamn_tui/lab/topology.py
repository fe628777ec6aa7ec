"""The lab's names and addresses, in one place (docs/lab.md draws them)."""
from __future__ import annotations

SUBNET = "10.99.0.0/24"
PREFIX = 24
SAFETY_ROUTE = "unreachable 10.99.0.0/16"
"""Added in the root namespace first: if the lab's veth ever vanished, 10.99.x would hit this
route instead of the default route out of the machine."""

SWITCH_NS = "mnc"
"""The 'switch': a namespace holding the bridge that joins the nodes and the console."""
BRIDGE = "br0"
BRIDGE_ADDRESS = "10.99.0.10"

CONSOLE_LINK = "labh0"
"""The root namespace's end of the veth into the switch: hamn (and the tests) run here."""
CONSOLE_PEER = "vh"
CONSOLE_ADDRESS = "10.99.0.254"

MANAGEMENT_NODES: dict[str, str] = {"mn1": "10.99.0.1", "mn2": "10.99.0.2"}
"""The HAMN pair (namespace and hostname -> its address on eth0): PostgreSQL, the service IP."""
SERVICE_NODES: dict[str, str] = {"sn1": "10.99.0.3"}
"""xCAT service nodes: their own sshd, no database; group `service_nodes` in the cluster file
(runbooks fan out to them; by default they are witnesses too, runbooks/witness-setup.toml)."""
NODES: dict[str, str] = {**MANAGEMENT_NODES, **SERVICE_NODES}
"""Every node of the lab -> its address on eth0."""
NODE_IFACE = "eth0"
SERVICE_IP = "10.99.0.100"


def switch_port(node: str) -> str:
    """The switch-side end of a node's veth (v1 for mn1, vs1 for sn1): setting it down 'pulls the cable'."""
    return "v" + node.removeprefix("mn") if node in MANAGEMENT_NODES else "v" + node.replace("n", "")


NAMESPACES = [SWITCH_NS, *NODES]
