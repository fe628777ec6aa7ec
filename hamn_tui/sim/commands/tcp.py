"""TCP reachability between simulated nodes: `timeout` and bash's /dev/tcp, the preflight's port test.

Only the form `bash -c 'exec 3<>/dev/tcp/$0/$1' HOST PORT` is simulated. A connection succeeds
when the target is up, the two nodes talk (no partition) and something listens on the port;
it is refused when nothing listens (the firewall let the packet through); a node that cannot be
reached gives "No route to host". The messages and exit statuses are bash's own (bash 5:
`HOST: connect: Connection refused`, then `HOST: line 1: /dev/tcp/HOST/PORT: …`, exit 1;
timeout(1) exits 124 when its command outlives the limit).
"""
from __future__ import annotations

import re

from ..cluster import MN, SimCluster, SimNode
from ..shell import Inv, NotSimulated

DEV_TCP = "exec 3<>/dev/tcp/$0/$1"
XCATD_PORTS = (3001, 3002)
"""xcatd's client and install-monitor ports (xCAT site table defaults xcatdport, xcatiport)."""
SERVICE_PORTS = {"sshd": (22,), "named": (53,), "httpd": (80,), "xcatd": XCATD_PORTS}


def _service_port(node: SimNode, name: str | None) -> int | None:
    """A service name or port number as /etc/services on the node maps it."""
    if not name:
        return None
    if name.isdigit():
        return int(name)
    services = node.fs.text("/etc/services") if node.fs.exists("/etc/services") else ""
    for line in services.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and fields[0] == name and fields[1].endswith("/tcp"):
            return int(fields[1].split("/")[0])
    return None


def listening(sim: SimCluster, node: SimNode) -> set[int]:
    """The TCP ports something listens on: the running services, the DB2 instance's port, HADR's local port."""
    ports: set[int] = set()
    if not node.up:
        return ports
    for name, svc in node.services.items():
        if svc.running:
            ports.update(SERVICE_PORTS.get(name, ()))
    if node.kind == MN and node.instance_up:
        port = _service_port(node, f"db2c_{sim.instance}")
        if port:
            ports.add(port)
        db = node.db
        if db is not None and db.active and db.cfg.role in ("PRIMARY", "STANDBY"):
            local = _service_port(node, db.cfg.local_svc)
            if local:
                ports.add(local)
    return ports


def bash(inv: Inv) -> int:
    args = inv.argv[1:]
    if len(args) != 4 or args[0] != "-c" or re.sub(r"\s+", " ", args[1].strip()) != DEV_TCP:
        raise NotSimulated(f"bash {' '.join(args)} (only: bash -c '{DEV_TCP}' HOST PORT)")
    host, port = args[2], args[3]
    target = inv.sim.resolve(host)
    where = f"{host}: line 1: /dev/tcp/{host}/{port}"
    if not port.isdigit() or not 0 < int(port) < 65536:
        inv.err(f"{where}: Invalid argument\n")
        return 1
    if target is None or target.kind == "console":
        inv.err(f"{host}: {host}: Name or service not known\n{where}: Invalid argument\n")
        return 1
    if not inv.sim.talks(inv.node, target):
        inv.err(f"{host}: connect: No route to host\n{where}: No route to host\n")
        return 1
    if int(port) not in listening(inv.sim, target):
        inv.err(f"{host}: connect: Connection refused\n{where}: Connection refused\n")
        return 1
    return 0


def timeout(inv: Inv) -> int:
    from . import lookup

    args = inv.argv[1:]
    if len(args) < 2 or not re.fullmatch(r"\d+(\.\d+)?s?", args[0]):
        raise NotSimulated(f"timeout {' '.join(args)} (only: timeout SECONDS COMMAND …)")
    limit = float(args[0].rstrip("s"))
    handler = lookup(inv.sh, args[1])
    if handler is None:
        inv.err(f"timeout: failed to run command '{args[1]}': No such file or directory\n")
        return 127
    started = inv.sim.clock.now()
    status = handler(Inv(inv.sh, inv.node, inv.user, args[1:], inv.stdin, inv._out, inv._err))
    return 124 if inv.sim.clock.now() - started > limit else status
