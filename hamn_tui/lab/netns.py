"""The wires: namespaces mnc (switch), mn1 and mn2, veths, the bridge, and the console's link.

No namespace gets a default route, and the root namespace gets an `unreachable` route for
10.99.0.0/16 before the console link exists: lab traffic has nowhere to go but the lab.
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import LabError
from .proc import run
from .state import LabState
from .topology import (BRIDGE, BRIDGE_ADDRESS, CONSOLE_ADDRESS, CONSOLE_LINK, CONSOLE_PEER, NODE_IFACE, NODES, PREFIX,
                       SAFETY_ROUTE, SERVICE_IP, SWITCH_NS, switch_port)


def existing_namespaces() -> set[str]:
    """Names under /run/netns (what `ip netns list` shows), without running ip."""
    try:
        return set(os.listdir("/run/netns"))
    except FileNotFoundError:
        return set()


def link_exists(name: str, ns: str | None = None) -> bool:
    return Path(f"/sys/class/net/{name}").exists() if ns is None else \
        run(["ip", "-n", ns, "link", "show", name], check=False).returncode == 0


def build(state: LabState, save) -> None:
    """Make the network, recording each piece in `state` (and saving it) as soon as it exists."""
    taken = existing_namespaces() & {SWITCH_NS, *NODES}
    if taken:
        raise LabError(f"network namespace {', '.join(sorted(taken))} already exists and is not this lab's "
                       f"(another lab state dir?): remove it with `ip netns del` or use that lab's `hamn lab down`")
    if link_exists(CONSOLE_LINK):
        raise LabError(f"interface {CONSOLE_LINK} already exists and is not this lab's: remove it first (ip link del {CONSOLE_LINK})")
    run(["ip", "route", "replace", *SAFETY_ROUTE.split()])
    state.routes.append(SAFETY_ROUTE)
    save()
    for ns in (SWITCH_NS, *NODES):
        run(["ip", "netns", "add", ns])
        state.namespaces.append(ns)
        save()
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
    run(["ip", "-n", SWITCH_NS, "link", "add", BRIDGE, "type", "bridge"])
    # No STP and no forwarding delay: ports forward at once (the recipe's 0.13 s wait otherwise).
    run(["ip", "-n", SWITCH_NS, "link", "set", BRIDGE, "type", "bridge", "stp_state", "0", "forward_delay", "0"])
    run(["ip", "-n", SWITCH_NS, "addr", "add", f"{BRIDGE_ADDRESS}/{PREFIX}", "dev", BRIDGE])
    run(["ip", "-n", SWITCH_NS, "link", "set", BRIDGE, "up"])
    for node, address in NODES.items():
        port = switch_port(node)
        run(["ip", "-n", SWITCH_NS, "link", "add", port, "type", "veth", "peer", "name", NODE_IFACE, "netns", node])
        run(["ip", "-n", SWITCH_NS, "link", "set", port, "master", BRIDGE, "up"])
        run(["ip", "-n", node, "addr", "add", f"{address}/{PREFIX}", "dev", NODE_IFACE])
        run(["ip", "-n", node, "link", "set", NODE_IFACE, "up"])
    run(["ip", "link", "add", CONSOLE_LINK, "type", "veth", "peer", "name", CONSOLE_PEER, "netns", SWITCH_NS])
    state.host_links.append(CONSOLE_LINK)
    save()
    run(["ip", "-n", SWITCH_NS, "link", "set", CONSOLE_PEER, "master", BRIDGE, "up"])
    run(["ip", "addr", "add", f"{CONSOLE_ADDRESS}/{PREFIX}", "dev", CONSOLE_LINK])
    run(["ip", "link", "set", CONSOLE_LINK, "up"])
    add_service_ip("mn1")


def add_service_ip(node: str) -> None:
    run(["ip", "-n", node, "addr", "replace", f"{SERVICE_IP}/{PREFIX}", "dev", NODE_IFACE])


def drop_service_ip(node: str) -> None:
    run(["ip", "-n", node, "addr", "del", f"{SERVICE_IP}/{PREFIX}", "dev", NODE_IFACE], check=False)


def holds_service_ip(node: str) -> bool:
    out = run(["ip", "-n", node, "-o", "addr", "show", "dev", NODE_IFACE], check=False).stdout
    return f" {SERVICE_IP}/" in out


def set_cable(node: str, up: bool) -> None:
    """Plug or pull the node's cable at the switch (its eth0 loses carrier)."""
    run(["ip", "-n", SWITCH_NS, "link", "set", switch_port(node), "up" if up else "down"])


def cable_up(node: str) -> bool:
    out = run(["ip", "-n", SWITCH_NS, "-o", "link", "show", switch_port(node)], check=False).stdout
    return ",UP" in out or "<UP" in out


def forget_neighbour(address: str) -> None:
    """Drop the console's and the switch's ARP entries for an address.

    Stands for the time a real outage gives: by the time an operator starts a runbook, the
    console's entry for a dead node has long expired. A fresh entry fails in ~3 s (ARP gets
    no answer: "no route to host"), where a stale one first waits ~8 s in DELAY/PROBE.
    """
    run(["ip", "neigh", "flush", "to", address, "dev", CONSOLE_LINK], check=False)
    run(["ip", "-n", SWITCH_NS, "neigh", "flush", "to", address, "dev", BRIDGE], check=False)


def mac_of(node: str) -> str:
    """The MAC address of the node's eth0 (what a gratuitous ARP from it announces)."""
    return run(["ip", "-n", node, "-o", "link", "show", NODE_IFACE]).stdout.split("link/ether ")[1].split()[0]


def console_neighbour(address: str) -> str | None:
    """The MAC the console's ARP table has for `address` (None: no entry)."""
    out = run(["ip", "neigh", "show", "to", address, "dev", CONSOLE_LINK], check=False).stdout
    parts = out.split()
    return parts[parts.index("lladdr") + 1] if "lladdr" in parts else None


def teardown(state: LabState, save) -> list[str]:
    """Remove what `state` records, newest first; returns what could not be removed."""
    problems: list[str] = []

    def remove(recorded: list[str], kind: str, exists) -> None:
        for name in reversed(list(recorded)):
            if exists(name):
                r = run(["ip", kind, "del", name], check=False)
                if r.returncode != 0:
                    problems.append(f"ip {kind} del {name}: {r.stderr.strip()}")
                    continue
            recorded.remove(name)
            save()

    remove(state.host_links, "link", link_exists)
    remove(state.namespaces, "netns", lambda ns: ns in existing_namespaces())
    for route in reversed(list(state.routes)):
        run(["ip", "route", "del", *route.split()], check=False)
        state.routes.remove(route)
        save()
    return problems
