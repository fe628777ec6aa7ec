"""Addresses, ARP, SSH and file copies between the simulated nodes.

The partition model applies: a node only hears ARP from, and reaches with ssh/rsync, nodes
it `talks` to. Root's SSH trust between nodes is explicit (`trusts_root_of`).
"""
from __future__ import annotations

import ipaddress
import posixpath

from ..cluster import SimNode
from ..shell import Inv, NotSimulated, Shell
from .posix import _flags


# --- ip / ifconfig -------------------------------------------------------------------------------

def _ifaces(node: SimNode) -> list[str]:
    return ["lo"] + [i for i in node.addrs if i != "lo"]


def _ip_lines(node: SimNode, to: str | None) -> list[str]:
    lines = []
    for idx, iface in enumerate(_ifaces(node), 1):
        addrs = ["127.0.0.1/8"] if iface == "lo" else node.addrs.get(iface, [])
        for k, cidr in enumerate(addrs):
            if to is not None and cidr.split("/")[0] != to.split("/")[0]:
                continue
            if iface == "lo":
                lines.append(f"{idx}: lo    inet {cidr} scope host lo\\       valid_lft forever preferred_lft forever")
                continue
            net = ipaddress.ip_interface(cidr).network
            scope = "global secondary" if k else "global"
            lines.append(f"{idx}: {iface}    inet {cidr} brd {net.broadcast_address} scope {scope} {iface}\\       valid_lft forever preferred_lft forever")
    return lines


def ip(inv: Inv) -> int:
    args = inv.argv[1:]
    oneline = "-o" in args
    args = [a for a in args if a != "-o"]
    if args[:1] in (["addr"], ["a"], ["address"]) and (len(args) == 1 or args[1] in ("show", "list")):
        to = args[3] if len(args) >= 4 and args[2] == "to" else None
        if len(args) not in (1, 2, 4) or (len(args) == 4 and args[2] != "to"):
            raise NotSimulated(f"ip {' '.join(inv.argv[1:])}")
        lines = _ip_lines(inv.node, to)
        if not oneline:
            lines = [ln.replace("\\       ", "\n       ") for ln in lines]
        inv.out("".join(ln + "\n" for ln in lines))
        return 0
    if args[:1] in (["addr"], ["a"], ["address"]) and len(args) == 5 and args[1] in ("add", "del") and args[3] == "dev":
        cidr, iface = args[2], args[4]
        if inv.user != "root":
            inv.err("RTNETLINK answers: Operation not permitted\n")
            return 2
        if iface not in inv.node.addrs:
            inv.err(f'Cannot find device "{iface}"\n')
            return 1
        if "/" not in cidr:
            cidr += "/32"
        have = inv.node.addrs[iface]
        if args[1] == "add":
            if cidr in have:
                inv.err("RTNETLINK answers: File exists\n")
                return 2
            have.append(cidr)
            inv.sim.note(f"{inv.node.name}: {cidr} added to {iface}")
        else:
            if cidr not in have:
                inv.err("RTNETLINK answers: Cannot assign requested address\n")
                return 2
            have.remove(cidr)
            inv.sim.note(f"{inv.node.name}: {cidr} removed from {iface}")
        return 0
    raise NotSimulated(f"ip {' '.join(inv.argv[1:])}")


def ifconfig(inv: Inv) -> int:
    args = inv.argv[1:]
    node = inv.node
    if args == ["-a"]:
        for iface in _ifaces(node):
            addrs = ["127.0.0.1/8"] if iface == "lo" else node.addrs.get(iface, [])
            inv.out(f"{iface}: flags=1e080863<UP,BROADCAST,NOTRAILERS,RUNNING,SIMPLEX,MULTICAST>\n")
            for cidr in addrs:
                itf = ipaddress.ip_interface(cidr)
                inv.out(f"        inet {itf.ip} netmask {itf.netmask}\n")
        return 0
    if node.os == "aix" and len(args) >= 3 and args[1] in ("alias", "delete"):
        iface, action, addr = args[0], args[1], args[2]
        if inv.user != "root":
            inv.err("0821-555 ioctl (SIOCAIFADDR): Permission denied\n")
            return 1
        have = node.addrs.setdefault(iface, [])
        found = [c for c in have if c.split("/")[0] == addr]
        if action == "alias":
            if not found:
                have.append(f"{addr}/{node.prefix}")
            return 0
        if not found:
            inv.err("0821-510 ifconfig: error calling entry point for /usr/lib/drivers/if_en: Can't assign requested address\n")
            return 1
        have.remove(found[0])
        return 0
    if len(args) >= 2 and args[1] in ("alias", "delete"):
        inv.err(f"{args[1]}: Unknown host\nifconfig: `--help' gives usage information.\n")
        return 1
    raise NotSimulated(f"ifconfig {' '.join(args)}")


def mktcpip(inv: Inv) -> int:
    _, values, rest = _flags(inv.argv[1:], "", "hamigtsn")
    if rest or not all(k in values for k in "hai"):
        raise NotSimulated(f"mktcpip {' '.join(inv.argv[1:])} (needs -h -a -i)")
    if inv.user != "root":
        inv.err("mktcpip: Permission denied\n")
        return 1
    node = inv.node
    mask = values.get("m", ["255.255.255.0"])[0]
    try:
        prefix = ipaddress.ip_network(f"0.0.0.0/{mask}").prefixlen
    except ValueError:
        inv.err(f"0821-223 mktcpip: Invalid netmask {mask}\n")
        return 1
    iface = values["i"][0]
    new = f"{values['a'][0]}/{prefix}"
    node.addrs[iface] = [new] + node.addrs.get(iface, [])[1:]
    node.persistent_addrs[iface] = [new]
    node.hostname = node.persistent_hostname = values["h"][0]
    inv.sim.note(f"{node.name}: mktcpip: host name {node.hostname}, {iface} {new}")
    inv.out(f"en0\n{node.hostname}\ninet0 changed\n")
    return 0


def lsattr(inv: Inv) -> int:
    """AIX `lsattr -El IF -a netaddr -a netmask`: the interface's address as the ODM keeps it (what
    mktcpip writes), one `attribute value description user_settable` line per attribute (AIX
    lsattr command reference). An interface without an address shows an empty value."""
    _, values, rest = _flags(inv.argv[1:], "ER", "la")
    iface = values.get("l", [""])[0]
    wanted = values.get("a", ["netaddr", "netmask"])
    if rest or not iface or any(a not in ("netaddr", "netmask") for a in wanted):
        raise NotSimulated(f"lsattr {' '.join(inv.argv[1:])} (only -El IF -a netaddr -a netmask)")
    node = inv.node
    if iface not in node.addrs and iface not in node.persistent_addrs:
        inv.err(f'lsattr: 0514-519 The following device was not found in the customized\n\tdevice configuration database:\n\t{iface}\n')
        return 1
    saved = (node.persistent_addrs.get(iface) or node.addrs.get(iface) or [""])[0]
    itf = ipaddress.ip_interface(saved) if saved else None
    lines = {"netaddr": f"netaddr {str(itf.ip) if itf else '':<16}Internet Address True",
             "netmask": f"netmask {str(itf.netmask) if itf else '':<16}Subnet Mask      True"}
    inv.out("".join(lines[a] + "\n" for a in wanted))
    return 0


def arping(inv: Inv) -> int:
    flags, values, rest = _flags(inv.argv[1:], "UDAqb", "cIsw")
    if len(rest) != 1:
        raise NotSimulated(f"arping {' '.join(inv.argv[1:])}")
    target = rest[0]
    iface = values.get("I", [inv.node.interface])[0]
    count = int(values.get("c", ["3"])[0])
    if inv.user != "root":
        inv.err("arping: socket: Operation not permitted\n")
        return 2
    if iface not in inv.node.addrs:
        inv.err(f"arping: unknown iface {iface}\n")
        return 2
    sim = inv.sim
    answer = [n for n in sim.nodes.values() if n is not inv.node and n.kind != "console" and sim.talks(inv.node, n) and sim.holds(n, target)]
    src = "0.0.0.0" if "D" in flags else target if "U" in flags else (inv.node.addrs[iface][0].split("/")[0] if inv.node.addrs[iface] else "0.0.0.0")
    inv.out(f"ARPING {target} from {src} {iface}\n")
    if "U" not in flags:
        for n in answer[:1]:
            mac = "52:54:00:00:00:%02x" % (sorted(sim.nodes).index(n.name) + 1)
            for _ in range(count):
                inv.out(f"Unicast reply from {target} [{mac}]  0.712ms\n")
    got = count if answer and "U" not in flags else 0
    inv.out(f"Sent {count} probes ({count} broadcast(s))\nReceived {got} response(s)\n")
    if "D" in flags:
        return 1 if got else 0
    if "U" in flags:
        return 0
    return 0 if got else 1


def ping(inv: Inv) -> int:
    """`ping -c N HOST`: echo replies from the node that holds the address, if it talks to this one.

    Output as each platform's ping prints it (iputils on Linux; AIX's "N packets received"), exit
    1 when nothing answered (iputils ping(8): "If ping does not receive any reply packets at all
    it will exit with code 1").
    """
    _, values, rest = _flags(inv.argv[1:], "qn", "cwW")
    if len(rest) != 1:
        raise NotSimulated(f"ping {' '.join(inv.argv[1:])}")
    target, count = rest[0], int(values.get("c", ["3"])[0])
    sim = inv.sim
    answers = any(n is not inv.node and n.kind != "console" and sim.talks(inv.node, n) and sim.holds(n, target) for n in sim.nodes.values()) \
        or sim.holds(inv.node, target)
    got = count if answers else 0
    if inv.node.os == "aix":
        inv.out(f"PING {target}: ({target}): 56 data bytes\n")
        inv.out("".join(f"64 bytes from {target}: icmp_seq={i} ttl=255 time=0 ms\n" for i in range(got)))
        inv.out(f"\n----{target} PING Statistics----\n{count} packets transmitted, {got} packets received, {100 - 100 * got // count}% packet loss\n")
    else:
        inv.out(f"PING {target} ({target}) 56(84) bytes of data.\n")
        inv.out("".join(f"64 bytes from {target}: icmp_seq={i + 1} ttl=64 time=0.312 ms\n" for i in range(got)))
        inv.out(f"\n--- {target} ping statistics ---\n{count} packets transmitted, {got} received, {100 - 100 * got // count}% packet loss, time {1000 * (count - 1)}ms\n")
    return 0 if got else 1


# --- ssh / rsync / scp -------------------------------------------------------------------------------

def _remote(inv: Inv, spec: str, user: str = "root") -> tuple[SimNode | None, str]:
    """Resolve [user@]host; returns (node, error) with the error as ssh prints it."""
    host = spec.split("@", 1)[-1]
    node = inv.sim.resolve(host)
    if node is None:
        return None, f"ssh: Could not resolve hostname {host}: Name or service not known"
    if not inv.sim.talks(inv.node, node):
        return None, f"ssh: connect to host {host} port 22: No route to host"
    if inv.user != "root" or inv.node.name not in node.trusts_root_of:
        return None, f"{spec.split('@', 1)[0] if '@' in spec else user}@{host}: Permission denied (publickey,gssapi-keyex,gssapi-with-mic,password)."
    return node, ""


def ssh(inv: Inv) -> int:
    args = inv.argv[1:]
    i = 0
    while i < len(args) and args[i].startswith("-"):
        if args[i] == "--":
            i += 1
            break
        if args[i] in ("-o", "-p", "-i", "-l"):
            i += 2
        elif args[i] in ("-n", "-q", "-T", "-x"):
            i += 1
        else:
            raise NotSimulated(f"ssh option {args[i]}")
    if i >= len(args) - 1:
        raise NotSimulated("an interactive ssh session (no command)")
    node, error = _remote(inv, args[i])
    if node is None:
        inv.err(error + "\n")
        return 255
    status, out, err = Shell(inv.sim, node, "root").run(" ".join(args[i + 1:]), inv.stdin)
    inv.out(out)
    inv.err(err)
    return status


def _copy_plan(src_fs, src: str, relative: bool) -> list[tuple[str, str]]:
    """(source path, path relative to the destination) for every entry a copy of `src` carries."""
    base = src.rstrip("/") or "/"
    contents_only = src.endswith("/") and src != "/"
    out: list[tuple[str, str]] = []
    if relative:
        parts = base.strip("/").split("/")
        for k in range(1, len(parts)):
            out.append(("/" + "/".join(parts[:k]), "/".join(parts[:k])))
    for p in src_fs.walk(base):
        if contents_only:
            if p == base:
                continue
            rel = p[len(base) + 1:]
        elif relative:
            rel = p.lstrip("/")
        else:
            rel = posixpath.basename(base) + p[len(base):]
        out.append((p, rel))
    return out


def _transfer(inv: Inv, prog: str, flags: set[str], long: set[str], sources: list[str], dest: str) -> int:
    sim = inv.sim
    if ":" in dest:
        host, _, dpath = dest.partition(":")
        node, error = _remote(inv, host)
        if node is None:
            inv.err(error + f"\n{prog}: connection unexpectedly closed (0 bytes received so far) [sender]\n")
            return 255 if prog == "scp" else 12
        if prog == "rsync" and not node.fs.exists("/usr/bin/rsync"):
            inv.err("bash: rsync: command not found\nrsync: connection unexpectedly closed (0 bytes received so far) [sender]\n"
                    "rsync error: error in rsync protocol data stream (code 12) at io.c(228) [sender=3.1.3]\n")
            return 12
    else:
        node, dpath = inv.node, dest
    dry = "n" in flags or "dry-run" in long
    relative = "R" in flags or "relative" in long
    dfs = node.fs
    dpath = dpath or "/root"
    status = 0
    items: list[str] = []
    files = size = 0
    if not dfs.exists(dpath):
        parent = posixpath.dirname(dpath.rstrip("/")) or "/"
        if not dfs.is_dir(parent):
            inv.err(f'{prog}: mkdir "{dpath}" failed: No such file or directory (2)\n')
            return 11 if prog == "rsync" else 1
        if not dry:
            dfs.mkdir(dpath.rstrip("/"), owner="root")
        items.append(f"cd+++++++++ {dpath.rstrip('/')}/")
    for src in sources:
        if not inv.node.fs.exists(src.rstrip("/") or "/"):
            inv.err(f'rsync: [sender] link_stat "{src}" failed: No such file or directory (2)\n' if prog == "rsync"
                    else f"scp: {src}: No such file or directory\n")
            status = 23 if prog == "rsync" else 1
            continue
        if inv.node.fs.is_dir(src) and not ({"a", "r"} & flags):
            inv.err(f'skipping directory {src}\n')
            continue
        for spath, rel in _copy_plan(inv.node.fs, src, relative):
            target = posixpath.join(dpath if dfs.is_dir(dpath) or dry else posixpath.dirname(dpath), rel)
            entry = inv.node.fs.get(spath)
            assert entry is not None
            old = dfs.get(target)
            if entry.kind == "dir":
                if old is None:
                    items.append(f"cd+++++++++ {rel}/")
                    if not dry:
                        dfs.entries[posixpath.normpath(target)] = entry.copy()
                continue
            files += 1
            if old is not None and old.content is entry.content or (old is not None and old.content == entry.content and old.mtime == entry.mtime):
                continue
            items.append(f">f{'+++++++++' if old is None else '.st......'} {rel}")
            size += entry.size
            if not dry:
                if not dfs.is_dir(posixpath.dirname(target)):
                    inv.err(f'{prog}: mkdir "{posixpath.dirname(target)}" failed: No such file or directory (2)\n')
                    status = 23
                    continue
                dfs.entries[posixpath.normpath(target)] = entry.copy()
    if "i" in flags or "itemize-changes" in long:
        inv.out("".join(line + "\n" for line in items))
    if "stats" in long:
        inv.out(f"\nNumber of files: {files}\nNumber of regular files transferred: {sum(1 for i in items if i.startswith('>f'))}\n"
                f"Total file size: {size} bytes\nTotal transferred file size: {size} bytes\n\n")
    if not dry and prog == "rsync":
        sim.note(f"{inv.node.name}: rsync to {node.name}:{dpath} ({len(items)} changes)")
    if status == 23:
        inv.err("rsync error: some files/attrs were not transferred (see previous errors) (code 23) at main.c(1207) [sender=3.1.3]\n")
    return status


def rsync(inv: Inv) -> int:
    args = inv.argv[1:]
    end = args.index("--") if "--" in args else len(args)
    long = {a[2:] for a in args[:end] if a.startswith("--")}
    unknown = long - {"dry-run", "itemize-changes", "stats", "relative", "delete"}
    if unknown or "delete" in long:
        raise NotSimulated(f"rsync option --{sorted(unknown or {'delete'})[0]}")
    flags, _, rest = _flags([a for a in args[:end] if not a.startswith("--")] + args[end:], "aqnivRzrlptgoDH")
    if len(rest) < 2:
        raise NotSimulated(f"rsync {' '.join(args)}")
    if any(":" in s for s in rest[:-1]):
        raise NotSimulated("rsync from a remote source")
    return _transfer(inv, "rsync", flags, long, rest[:-1], rest[-1])


def scp(inv: Inv) -> int:
    flags, _, rest = _flags(inv.argv[1:], "rpqB")
    if len(rest) < 2 or any(":" in s for s in rest[:-1]):
        raise NotSimulated(f"scp {' '.join(inv.argv[1:])}")
    dest = rest[-1]
    if "@" in dest.split(":", 1)[0]:
        dest = dest.split("@", 1)[1]
    return _transfer(inv, "scp", flags | ({"a"} if "r" in flags else set()), set(), rest[:-1], dest)

