"""`db2iauto -on|-off INSTANCE`: whether the DB2 instance starts when its node boots.

IBM Db2 command reference, db2iauto ("Auto-start instance"): enables or disables the autostart
of an instance after each system restart; IBM technote 296055 ("automatically start a Db2
instance at system startup"): after `db2iauto -on` the instance's `db2set` shows
DB2AUTOSTART=YES. The simulator keeps the setting in the node's `autostart` (what a boot reads)
and in the instance's profile registry (sqllib/profile.env, one `NAME='value'` line each),
where `db2set -all` lists it. db2iauto prints nothing when it succeeds.
"""
from __future__ import annotations

from ..cluster import SimCluster, SimNode
from ..shell import Inv, NotSimulated

AUTOSTART = "DB2AUTOSTART"


def set_autostart(sim: SimCluster, node: SimNode, on: bool) -> None:
    """The node's instance autostarts at boot (or not), and its registry says so."""
    node.autostart = on
    path = f"{sim.instance_home}/sqllib/profile.env"
    fs = node.fs
    lines = [ln for ln in (fs.text(path).splitlines() if fs.exists(path) else []) if ln.partition("=")[0].strip() != AUTOSTART]
    if on:
        lines.append(f"{AUTOSTART}='YES'")
    if fs.exists(path) or on:
        fs.write(path, "".join(ln + "\n" for ln in lines), owner=sim.instance, group=sim.instance, mtime=sim.clock.now())


def db2iauto(inv: Inv) -> int:
    args = inv.argv[1:]
    if len(args) != 2 or args[0] not in ("-on", "-off") or args[1] != inv.sim.instance:
        raise NotSimulated(f"db2iauto {' '.join(args)} (only -on|-off {inv.sim.instance})")
    set_autostart(inv.sim, inv.node, args[0] == "-on")
    inv.sim.note(f"{inv.node.name}: db2iauto {args[0]}: the instance {'starts' if args[0] == '-on' else 'does not start'} at boot")
    return 0
