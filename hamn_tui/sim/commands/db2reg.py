"""`db2set`, the DB2 profile registry, as the instance owner: the forms the setup runbook uses.

Instance-level values live in `sqllib/profile.env` on the node (`NAME='value'` lines), so they
survive a reboot and a trainee can look at them. `db2set NAME=value` sets one, `db2set NAME=`
deletes it, `db2set` lists the instance level and `db2set -all` every level with its prefix
([i] for the instance level; source: IBM Db2 command reference, db2set). The simulator only
stores the values: a registry variable takes effect at the next db2start (IBM Db2 HADR wiki,
"HADR Configuration and Tuning": HADR registry variables need an instance restart), and none
of them changes the simulated HADR behaviour.
"""
from __future__ import annotations

import re

from ..shell import Inv, NotSimulated

_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


def _profile(inv: Inv) -> str:
    return f"{inv.sim.instance_home}/sqllib/profile.env"


def _read(inv: Inv) -> dict[str, str]:
    fs = inv.node.fs
    path = _profile(inv)
    values: dict[str, str] = {}
    if fs.exists(path):
        for line in fs.text(path).splitlines():
            name, sep, value = line.partition("=")
            if sep:
                values[name.strip()] = value.strip().strip("'")
    return values


def _write(inv: Inv, values: dict[str, str]) -> None:
    inv.node.fs.write(_profile(inv), "".join(f"{k}='{v}'\n" for k, v in values.items()), owner=inv.sim.instance,
                      group=inv.sim.instance, mtime=inv.sim.clock.now())


def db2set(inv: Inv) -> int:
    args = inv.argv[1:]
    values = _read(inv)
    if args in ([], ["-all"]):
        prefix = "[i] " if args else ""
        inv.out("".join(f"{prefix}{k}={v}\n" for k, v in values.items()))
        return 0
    if len(args) == 1 and "=" in args[0]:
        name, _, value = args[0].partition("=")
        if not _NAME.match(name):
            raise NotSimulated(f"db2set {args[0]} (a registry variable name in capitals)")
        if value:
            values[name] = value
        else:
            values.pop(name, None)
        _write(inv, values)
        inv.sim.note(f"{inv.node.name}: db2set {name}={value} (takes effect at the next db2start)")
        return 0
    raise NotSimulated(f"db2set {' '.join(args)} (only NAME=value, NAME=, no arguments, or -all)")
