"""Services on a node: Linux `service` / `systemctl`, AIX `startsrc` / `stopsrc` / `lssrc`.

Starting xcatd on a management node makes it connect to the local XCATDB, which activates an
inactive database — as a primary if its role says PRIMARY, with DB2's own guard against a
second primary (SQL1776N reason 6, SQL1768N reason 7). dhcpd refuses to start without a
configuration that declares a subnet (`makedhcp -n` writes it).
"""
from __future__ import annotations

from ..cluster import Service, SimCluster, SimNode
from ..shell import Inv, NotSimulated

KNOWN = ("xcatd", "dhcpd", "dhcpsd", "named", "conserver", "crond", "sshd", "httpd", "tftp")
"""dhcpsd: AIX's DHCP server subsystem (AIX commands reference, dhcpsd; xCAT's shared-data HAMN page
for AIX keeps it out of /etc/rc.tcpip on the standby, as dhcpd is kept off on Linux)."""
DHCPD_CONF = ("/etc/dhcp/dhcpd.conf", "/etc/dhcpd.conf")


def start(sim: SimCluster, node: SimNode, name: str) -> str | None:
    """Start a service; returns an error text when it cannot start."""
    svc = node.services.setdefault(name, Service())
    if name == "dhcpd" and not any("subnet" in node.fs.text(p) for p in DHCPD_CONF if node.fs.exists(p)):
        return "dhcpd: Not configured to listen on any interfaces!"
    if svc.fails:
        return svc.fails
    if not svc.running:
        svc.running, svc.pid = True, sim.next_pid()
        sim.note(f"{node.name}: {name} started")
    if name == "xcatd":
        connect_xcatd(sim, node)
    return None


def stop(sim: SimCluster, node: SimNode, name: str) -> None:
    svc = node.services.get(name)
    if svc is not None and svc.running:
        if svc.stop_s:
            sim.clock.advance(svc.stop_s)  # the daemon takes that long to go: the command waits with it
        svc.running = False
        sim.note(f"{node.name}: {name} stopped")
        sim.settle()


def connect_xcatd(sim: SimCluster, node: SimNode) -> None:
    """xcatd's first connection activates an inactive database (implicitly; a STANDBY refuses applications).

    On a management node it is the local XCATDB; on a service node the one behind the service
    IP (then the alternate server), as the DB2 client catalog and client reroute direct it.
    """
    from ..hadr import activate

    if node.kind == "mn":
        targets = [node]
    else:
        holders = [m for m in sim.mns() if sim.holds(m, sim.service_ip)]
        targets = [m for m in holders + [m for m in sim.mns() if m not in holders] if m.up and sim.talks(node, m)][:1]
    for mn in targets:
        db = mn.db
        if db is None or not mn.instance_up or db.active or db.cfg.role == "STANDBY":
            continue
        result = activate(sim, mn, "ACTIVATE DATABASE", explicit=False)
        if result.status == 4:
            sim.note(f"{node.name}: xcatd could not connect to {db.name} on {mn.name}: {result.id}")


def _status_line(name: str, svc: Service | None) -> tuple[str, int]:
    if svc is not None and svc.running:
        return f"{name} (pid  {svc.pid}) is running...\n", 0
    return f"{name} is stopped\n", 3


def _action(inv: Inv, name: str, action: str) -> int:
    node = inv.node
    if name not in KNOWN and name not in node.services:
        inv.err(f"{name}: unrecognized service\n")
        return 1
    if action == "status":
        line, code = _status_line(name, node.services.get(name))
        inv.out(line)
        return code
    if inv.user != "root":
        inv.err(f"Failed to {action} {name}.service: Access denied\n")
        return 4
    if action in ("stop", "restart"):
        stop(inv.sim, node, name)
        if action == "stop":
            return 0
    if action in ("start", "restart"):
        problem = start(inv.sim, node, name)
        if problem:
            inv.err(f"Job for {name}.service failed because the control process exited with error code.\n{problem}\n")
            return 1
        return 0
    if action in ("enable", "disable"):
        node.services.setdefault(name, Service()).enabled = action == "enable"
        return 0
    raise NotSimulated(f"service action {action!r}")


def service(inv: Inv) -> int:
    if len(inv.argv) != 3:
        raise NotSimulated(f"service {' '.join(inv.argv[1:])}")
    return _action(inv, inv.argv[1], inv.argv[2])


def systemctl(inv: Inv) -> int:
    args = [a for a in inv.argv[1:] if not a.startswith("-")]
    if len(args) != 2:
        raise NotSimulated(f"systemctl {' '.join(inv.argv[1:])}")
    action, name = args[0], args[1].removesuffix(".service")
    if action == "is-active":
        svc = inv.node.services.get(name)
        running = svc is not None and svc.running
        inv.out("active\n" if running else "inactive\n")
        return 0 if running else 3
    return _action(inv, name, action)


def _src_name(inv: Inv) -> str:
    if len(inv.argv) == 3 and inv.argv[1] == "-s":
        return inv.argv[2]
    raise NotSimulated(f"{inv.argv[0]} {' '.join(inv.argv[1:])} (only -s SUBSYSTEM)")


def lssrc(inv: Inv) -> int:
    name = _src_name(inv)
    if name not in KNOWN:
        inv.err(f"0513-085 The {name} Subsystem is not on file.\n")
        return 1
    svc = inv.node.services.get(name)
    running = svc is not None and svc.running
    inv.out("Subsystem         Group            PID          Status \n")
    inv.out(f" {name:<17}{'':<17}{svc.pid if running else '':<13}{'active' if running else 'inoperative'}\n")  # type: ignore[union-attr]
    return 0


def startsrc(inv: Inv) -> int:
    name = _src_name(inv)
    svc = inv.node.services.get(name)
    if svc is not None and svc.running:
        inv.err(f"0513-029 The {name} Subsystem is already active.\nMultiple instances are not supported.\n")
        return 1
    problem = start(inv.sim, inv.node, name)
    if problem:
        inv.err(problem + "\n")
        return 1
    inv.out(f"0513-059 The {name} Subsystem has been started. Subsystem PID is {inv.node.services[name].pid}.\n")
    return 0


def stopsrc(inv: Inv) -> int:
    name = _src_name(inv)
    svc = inv.node.services.get(name)
    if svc is None or not svc.running:
        inv.err(f"0513-004 The Subsystem or Group, {name}, is currently inoperative.\n")
        return 1
    stop(inv.sim, inv.node, name)
    inv.out(f"0513-044 The {name} Subsystem was requested to stop.\n")
    return 0
