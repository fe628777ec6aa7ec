"""`getent hosts` (Linux) and `host` (AIX): name resolution on a simulated node, from its own /etc/hosts.

Each node resolves through its files only (nsswitch `hosts: files dns`, as the xCAT HAMN
procedure asks; the simulator has no resolver behind the files). Output and exit status as
glibc's getent(1): `ADDRESS  NAME ALIASES…`, exit 2 when a key is not found; AIX host (IBM AIX
commands reference, host: "NAME is ADDRESS, Aliases: …"), exit 1 when it is not found (its message
there is not from a source, and says so).
"""
from __future__ import annotations

import ipaddress

from ..shell import Inv, NotSimulated


def _entries(inv: Inv) -> list[tuple[str, list[str]]]:
    fs = inv.node.fs
    text = fs.text("/etc/hosts") if fs.exists("/etc/hosts") else ""
    out = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2:
            out.append((fields[0], fields[1:]))
    return out


def _is_address(key: str) -> bool:
    try:
        ipaddress.ip_address(key)
    except ValueError:
        return False
    return True


def getent(inv: Inv) -> int:
    args = inv.argv[1:]
    if not args or args[0] != "hosts" or len(args) < 2:
        raise NotSimulated(f"getent {' '.join(args)} (only getent hosts KEY…)")
    status = 0
    entries = _entries(inv)
    for key in args[1:]:
        hit = next(((addr, names) for addr, names in entries if (addr == key if _is_address(key) else key in names)), None)
        if hit is None:
            status = 2
            continue
        inv.out(f"{hit[0]:<15} {' '.join(hit[1])}\n")
    return status


def host(inv: Inv) -> int:
    args = inv.argv[1:]
    if len(args) != 1 or args[0].startswith("-"):
        raise NotSimulated(f"host {' '.join(args)} (only host NAME|ADDRESS)")
    key = args[0]
    hit = next(((addr, names) for addr, names in _entries(inv) if (addr == key if _is_address(key) else key in names)), None)
    if hit is None:
        inv.err(f"hamn training: host: {key} not found (AIX's exact message is not simulated)\n")
        return 1
    addr, names = hit
    aliases = f", Aliases:   {', '.join(names[1:])}" if len(names) > 1 else ""
    inv.out(f"{names[0]} is {addr}{aliases}\n")
    return 0
