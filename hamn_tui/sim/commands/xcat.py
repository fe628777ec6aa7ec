"""xCAT commands on a management node: they ask the local xcatd, which reads and writes XCATDB.

xcatd must run on the node and be connected to a usable database (an HADR standby refuses
applications), else the command fails as xCAT's client does. Table changes are transactions
in the database's log, so HADR carries them to the standby.
"""
from __future__ import annotations

from ..actions import crash_node, power_on
from ..cluster import SimNode
from ..shell import Inv, NotSimulated
from .posix import _flags


def _xcatd(inv: Inv) -> SimNode | None:
    node = inv.node
    svc = node.services.get("xcatd")
    if svc is None or not svc.running:
        inv.err(f"Error: [{node.hostname}]: Connection failure: IO::Socket::INET: connect: Connection refused at "
                f"/opt/xcat/lib/perl/xCAT/Client.pm line 285.\n")
        return None
    db_node = inv.sim.xcatd_db(node)
    if db_node is None:
        inv.err(f"Error: [{node.hostname}]: Could not connect to the database {inv.sim.dbname}: the xCAT tables cannot be read "
                f"(DBI connect failed: SQL1776N or SQL1032N).\n")
        return None
    if inv.user != "root":
        inv.err(f"Error: [{node.hostname}]: Permission denied for request\n")
        return None
    return db_node


def _objects(db_node: SimNode, otype: str) -> dict[str, dict[str, str]]:
    assert db_node.db is not None
    return {name: attrs for (t, name), attrs in sorted(db_node.db.tables().items()) if t == otype}


def lsdef(inv: Inv) -> int:
    _, values, rest = _flags(inv.argv[1:], "l", "ti")
    db_node = _xcatd(inv)
    if db_node is None:
        return 1
    otype = values.get("t", ["node"])[0]
    objs = _objects(db_node, otype)
    names = rest[0].split(",") if rest else None
    if names is None and "i" not in values:
        if not objs:
            inv.out("Could not find any object definitions to display.\n")
            return 0
        inv.out("".join(f"{name}  ({otype})\n" for name in objs))
        return 0
    wanted = list(objs) if names is None else names
    status = 0
    attrs_only = values.get("i", [""])[0].split(",") if "i" in values else None
    for name in wanted:
        if name not in objs:
            inv.err(f"Error: [{inv.node.hostname}]: Could not find an object named '{name}' of type '{otype}'.\n")
            status = 1
            continue
        inv.out(f"Object name: {name}\n")
        for k, v in sorted(objs[name].items()):
            if attrs_only is None or k in attrs_only:
                inv.out(f"    {k}={v}\n")
    if status:
        inv.err("No object definitions have been found\n")
    return status


def _write(inv: Inv, db_node: SimNode, op: tuple[str, ...]) -> None:
    """A transaction on the primary; in DISCONNECTED_PEER (or while the standby silently vanished) the commit waits."""
    sim = inv.sim
    waited = 0
    while sim.writes_blocked(db_node) and waited < 3600:
        sim.clock.advance(1)
        waited += 1
    sim.append(db_node, op, size=2048)


def mkdef(inv: Inv) -> int:
    _, values, rest = _flags(inv.argv[1:], "f", "to")
    if "o" not in values:
        raise NotSimulated("mkdef without -o NAME")
    db_node = _xcatd(inv)
    if db_node is None:
        return 1
    otype, name = values.get("t", ["node"])[0], values["o"][0]
    if name in _objects(db_node, otype):
        inv.err(f"Error: [{inv.node.hostname}]: A definition for '{name}' already exists.\n")
        return 1
    _write(inv, db_node, ("mkdef", otype, name, *rest))
    inv.sim.note(f"{db_node.name}: xCAT {otype} {name} defined")
    inv.out("1 object definitions have been created or modified.\n")
    return 0


def chdef(inv: Inv) -> int:
    """`chdef -t TYPE [-o] NAME attr=value…` (site: the object is clustersite): attributes of an existing object."""
    _, values, rest = _flags(inv.argv[1:], "", "to")
    otype = values.get("t", ["node"])[0]
    names = values.get("o") or ([r for r in rest if "=" not in r][:1] or (["clustersite"] if otype == "site" else []))
    attrs = [r for r in rest if "=" in r]
    if not names or not attrs:
        raise NotSimulated("chdef without an object name or an attr=value")
    db_node = _xcatd(inv)
    if db_node is None:
        return 1
    if names[0] not in _objects(db_node, otype):
        inv.err(f"Error: [{inv.node.hostname}]: Could not find an object named '{names[0]}' of type '{otype}'.\n")
        return 1
    _write(inv, db_node, ("mkdef", otype, names[0], *attrs))  # a table update: the attributes given replace the old ones
    inv.sim.note(f"{db_node.name}: xCAT {otype} {names[0]} changed: {' '.join(attrs)}")
    inv.out("1 object definitions have been created or modified.\n")
    return 0


def xdsh(inv: Inv) -> int:
    """`xdsh NODERANGE 'COMMAND'`: the command run as root on each node over SSH, every output line
    prefixed `NODE: ` (xdsh(1)). The noderange is `service` (xCAT's group of service nodes: here the
    site's service nodes) or node names separated by commas; no xdsh options are simulated."""
    args = inv.argv[1:]
    if len(args) != 2 or args[0].startswith("-") or args[1].startswith("-"):
        raise NotSimulated(f"xdsh {' '.join(args)} (only: xdsh NODERANGE 'COMMAND')")
    if _xcatd(inv) is None:
        return 1
    sim = inv.sim
    if args[0] == "service":
        targets = [n for n in sim.nodes.values() if n.kind == "sn"]
    else:
        targets = [sim.nodes[n] for n in args[0].split(",") if n in sim.nodes and sim.nodes[n].kind != "console"]
    if not targets:
        inv.err(f"Error: [{inv.node.hostname}]: Invalid nodes and/or groups in noderange: {args[0]}\n")
        return 1
    status = 0
    for node in targets:
        if not sim.talks(inv.node, node):
            inv.err(f"{node.name}: ssh: connect to host {node.name} port 22: No route to host\n")
            status = 1
            continue
        from ..shell import Shell

        rc, out, err = Shell(sim, node, "root").run(args[1])
        inv.out("".join(f"{node.name}: {line}\n" for line in out.splitlines()))
        inv.err("".join(f"{node.name}: {line}\n" for line in err.splitlines()))
        status = status or (1 if rc else 0)
    return status


def rmdef(inv: Inv) -> int:
    _, values, rest = _flags(inv.argv[1:], "f", "to")
    names = values.get("o", rest[:1])
    if not names:
        raise NotSimulated("rmdef without a name")
    db_node = _xcatd(inv)
    if db_node is None:
        return 1
    otype, name = values.get("t", ["node"])[0], names[0]
    if name not in _objects(db_node, otype):
        inv.err(f"Error: [{inv.node.hostname}]: Could not find an object named '{name}' of type '{otype}'.\n")
        return 1
    _write(inv, db_node, ("rmdef", otype, name))
    inv.sim.note(f"{db_node.name}: xCAT {otype} {name} removed")
    inv.out("1 object definitions have been removed.\n")
    return 0


def makedns(inv: Inv) -> int:
    db_node = _xcatd(inv)
    if db_node is None:
        return 1
    from .services import start, stop

    site = _objects(db_node, "site").get("clustersite", {})
    inv.node.fs.write("/etc/named.conf", f"# generated by makedns\noptions {{ directory \"/var/named\"; }};\nzone \"{site.get('domain', 'cluster')}\" {{ type master; }};\n")
    stop(inv.sim, inv.node, "named")
    start(inv.sim, inv.node, "named")
    inv.out("Handling localhost in /etc/hosts.\nGetting reverse zones, this may take several minutes for a large cluster.\n"
            "Completed getting reverse zones.\nUpdating zones.\nCompleted updating zones.\nRestarting named\n"
            "Restarting named complete\nUpdating DNS records, this may take several minutes for a large cluster.\n"
            "Completed updating DNS records.\nDNS setup is completed\n")
    return 0


def makedhcp(inv: Inv) -> int:
    flags, values, rest = _flags(inv.argv[1:], "naq", "d")
    db_node = _xcatd(inv)
    if db_node is None:
        return 1
    from .services import start, stop

    conf = "/etc/dhcp/dhcpd.conf"
    if "n" in flags:
        nets = _objects(db_node, "network")
        body = "".join(f"subnet {a.get('net', '0.0.0.0')} netmask {a.get('mask', '255.255.255.0')} {{\n  # {n}\n}}\n" for n, a in nets.items())
        if inv.node.fs.exists(conf):
            inv.out(f"Renamed existing dhcp configuration file to  {conf}.xcatbak\n\n")
        inv.node.fs.write(conf, "#xCAT generated dhcp configuration\n\n" + body)
        stop(inv.sim, inv.node, "dhcpd")  # makedhcp -n restarts the DHCP daemon
        problem = start(inv.sim, inv.node, "dhcpd")
        if problem:
            inv.err(f"Error: [{inv.node.hostname}]: {problem}\n")
            return 1
        return 0
    svc = inv.node.services.get("dhcpd")
    if svc is None or not svc.running:
        inv.err(f"Error: [{inv.node.hostname}]: Unable to connect to the DHCP server (dhcpd is not running).\n")
        return 1
    nodes = _objects(db_node, "node")
    if "a" in flags:
        inv.node.fs.write("/var/lib/dhcpd/dhcpd.leases", "".join(f"host {n} {{ hardware ethernet {a.get('mac', '')}; }}\n" for n, a in nodes.items() if a.get("mac")))
        return 0
    if "q" in flags:
        for n in (list(nodes) if rest in (["all"], []) else rest):
            a = nodes.get(n, {})
            if a.get("mac"):
                inv.out(f"{n}: ip-address = {a.get('ip', '')}, hardware-address = {a['mac']}\n")
        return 0
    raise NotSimulated(f"makedhcp {' '.join(inv.argv[1:])}")


def makeconservercf(inv: Inv) -> int:
    db_node = _xcatd(inv)
    if db_node is None:
        return 1
    nodes = _objects(db_node, "node")
    inv.node.fs.write("/etc/conserver.cf", "#generated by xcat\n" + "".join(f"console {n} {{ master {inv.node.hostname}; }}\n" for n in nodes))
    return 0


def rpower(inv: Inv) -> int:
    if len(inv.argv) != 3:
        raise NotSimulated(f"rpower {' '.join(inv.argv[1:])}")
    if inv.node.kind == "mn" and _xcatd(inv) is None:
        return 1
    target, action = inv.argv[1], inv.argv[2]
    node = inv.sim.resolve(target)
    if node is None or not node.bmc:
        inv.err(f"Error: [{inv.node.hostname}]: {target}: Error: Invalid nodes and/or groups in noderange: {target}\n")
        return 1
    if action in ("stat", "state", "status"):
        inv.out(f"{target}: {'on' if node.up else 'off'}\n")
        return 0
    if action == "off":
        crash_node(inv.sim, node)
        inv.out(f"{target}: off\n")
        return 0
    if action in ("on", "boot"):
        power_on(inv.sim, node)
        inv.out(f"{target}: on\n")
        return 0
    raise NotSimulated(f"rpower {action}")


COMMANDS = {"lsdef": lsdef, "mkdef": mkdef, "chdef": chdef, "rmdef": rmdef, "xdsh": xdsh, "makedns": makedns, "makedhcp": makedhcp,
            "makeconservercf": makeconservercf, "rpower": rpower}
