"""What can happen to the cluster besides commands: power, crashes, partitions — the faults of a scenario.

Each action is a plain function on the cluster; scenarios name them (`action = "crash_node"`),
rpower uses the power ones, and a trainee's manual step can trigger one ("I powered it on").
"""
from __future__ import annotations

from typing import Any, Callable

from .cluster import MN, Service, SimCluster, SimNode
from .hadr import arm_takeover_failure, congest, decongest, kill_instance

BOOT_S = 90.0


def crash_node(c: SimCluster, node: SimNode) -> None:
    """Power loss or kernel panic: everything on it stops at once, nothing says goodbye."""
    if not node.up:
        return
    if node.db is not None and node.db.active:
        from .hadr import shutdown

        shutdown(c, node, clean=False, quiet=True)
    node.up = False
    node.instance_up = False
    for svc in node.services.values():
        svc.running = False
    c.note(f"{node.name}: node down")


def boot_hostname(node: SimNode) -> str:
    """The host name a node comes up with: Linux reads /etc/hostname (hostname(5): "read at boot
    time by the system"); AIX keeps it in the ODM, where mktcpip writes it."""
    if node.os == "linux" and node.fs.exists("/etc/hostname"):
        name = node.fs.text("/etc/hostname").strip()
        if name:
            return name
    return node.persistent_hostname


def power_on(c: SimCluster, node: SimNode, boot_s: float = BOOT_S) -> None:
    """The node boots: persistent addresses and host name come back, enabled services start,
    the DB2 instance only if it autostarts; no database is activated by DB2 itself."""
    if node.up:
        return

    def booted() -> None:
        if node.up:
            return
        node.up = True
        node.hostname = boot_hostname(node)
        node.addrs = {k: list(v) for k, v in node.persistent_addrs.items()}
        node.instance_up = node.kind == MN and node.autostart
        c.note(f"{node.name}: booted (DB2 instance {'started' if node.instance_up else 'not started'})")
        from .commands.services import start

        for name, svc in sorted(node.services.items()):
            if svc.enabled:
                start(c, node, name)

    c.note(f"{node.name}: powered on, booting")
    c.clock.call_at(c.clock.now() + boot_s, booted)


def kill_db2(c: SimCluster, node: SimNode) -> None:
    """The DB2 instance dies on a live node: its partner sees the socket close at once."""
    if node.instance_up:
        kill_instance(c, node)


def partition(c: SimCluster, a: SimNode, b: SimNode) -> None:
    """No packet passes between a and b (the console still reaches both)."""
    c.cuts.add(frozenset((a.name, b.name)))
    c.note(f"network partition between {a.name} and {b.name}")


def heal(c: SimCluster, a: SimNode, b: SimNode) -> None:
    c.cuts.discard(frozenset((a.name, b.name)))
    c.note(f"network between {a.name} and {b.name} healed")


def service(c: SimCluster, node: SimNode, name: str, running: bool) -> None:
    from .commands.services import start, stop

    if running:
        start(c, node, name)
    else:
        stop(c, node, name)


def fail_service(c: SimCluster, node: SimNode, name: str) -> None:
    """The service no longer starts (a full disk, a broken configuration): start and restart exit 1."""
    node.services.setdefault(name, Service()).fails = f"{name}.service: Main process exited, code=exited, status=1/FAILURE"
    c.note(f"{node.name}: {name} will fail to start")


def hang_service(c: SimCluster, node: SimNode, name: str, seconds: float) -> None:
    """The daemon is wedged: stopping it (stop, restart) takes `seconds`, so a command with a
    shorter timeout ends in a timeout — an unknown outcome, although the restart does finish."""
    node.services.setdefault(name, Service()).stop_s = seconds
    c.note(f"{node.name}: {name} is wedged: a stop takes {seconds:g} s")


def congest_hadr(c: SimCluster, node: SimNode) -> None:
    """The node's HADR connection stays up but it cannot send: HADR_CONNECT_STATUS = CONGESTED there
    (facts §2.4, IBM Db2 HADR wiki "HADR Monitoring"); no log ships, SYNC/NEARSYNC commits wait."""
    congest(c, node)


def decongest_hadr(c: SimCluster, node: SimNode) -> None:
    """The congestion ends: CONNECTED again, the log waiting on the primary ships."""
    decongest(c, node)


def takeover_fails_halfway(c: SimCluster, node: SimNode) -> None:
    """The next graceful TAKEOVER between `node` and its partner fails half-way: the old primary becomes
    a standby, the connection goes silent, the old standby stays a standby (IBM Db2 HADR wiki "HADR
    Takeover": how to recover from a failed takeover — two standbys, never two primaries)."""
    arm_takeover_failure(c, node)


def cut_console(c: SimCluster, node: SimNode) -> None:
    """The console can no longer reach the node (its switch port, a firewall): the node itself runs on."""
    c.console_cut.add(node.name)
    c.note(f"the console no longer reaches {node.name}")


def heal_console(c: SimCluster, node: SimNode) -> None:
    c.console_cut.discard(node.name)
    c.note(f"the console reaches {node.name} again")


def advance(c: SimCluster, seconds: float) -> None:
    """Time passes (the operator reads, hesitates, types)."""
    c.note(f"{seconds:g} s pass")
    c.clock.advance(seconds)


ACTIONS: dict[str, Callable[..., Any]] = {
    "crash_node": crash_node, "power_on": power_on, "kill_db2": kill_db2, "partition": partition, "heal": heal,
    "start_service": lambda c, node, service_name: service(c, node, service_name, True),
    "stop_service": lambda c, node, service_name: service(c, node, service_name, False),
    "fail_service": fail_service,
    "advance": advance,
    "congest_hadr": congest_hadr, "decongest_hadr": decongest_hadr, "takeover_fails_halfway": takeover_fails_halfway,
    "cut_console": cut_console, "heal_console": heal_console,
}
