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

NODES: dict[str, str] = {"mn1": "10.99.0.1", "mn2": "10.99.0.2"}
"""node (namespace and hostname) -> its address on eth0."""
NODE_IFACE = "eth0"
SERVICE_IP = "10.99.0.100"


def switch_port(node: str) -> str:
    """The switch-side end of a node's veth (v1 for mn1): setting it down 'pulls the cable'."""
    return "v" + node.removeprefix("mn")


NAMESPACES = [SWITCH_NS, *NODES]
