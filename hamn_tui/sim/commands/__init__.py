"""Which command names exist on which simulated node, for which user.

As on the real nodes: DB2's commands are on the instance owner's PATH only (root gets
`command not found`); AIX's SRC commands and mktcpip exist on AIX nodes, `ip` on Linux ones;
the console where hamn runs has only the basics and, if configured, an xCAT client (rpower).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from . import db2auto, db2clp, db2reg, files, names, net, posix, services, tcp, xcat

if TYPE_CHECKING:
    from ..shell import Handler, Shell

COMMON: dict[str, "Handler"] = {**posix.COMMANDS}
LINUX_ONLY = {"ip": net.ip, "arping": net.arping, "systemctl": services.systemctl, "service": services.service}
AIX_ONLY = {"host": names.host, "stopsrc": services.stopsrc, "startsrc": services.startsrc, "lssrc": services.lssrc, "mktcpip": net.mktcpip,
            "lsattr": net.lsattr}
NODE = {"ifconfig": net.ifconfig, "ping": net.ping, "ssh": net.ssh, "rsync": net.rsync, "scp": net.scp, **xcat.COMMANDS,
        "getent": names.getent, "bash": tcp.bash, "timeout": tcp.timeout, "find": files.find, "sort": files.sort,
        "sha256sum": files.sha256sum, "df": files.df, "selinuxenabled": files.selinuxenabled, "restorecon": files.restorecon}
INSTANCE_OWNER = {"db2": db2clp.db2, "db2pd": db2clp.db2pd, "db2start": db2clp.db2start, "db2stop": db2clp.db2stop,
                  "db2gcf": db2clp.db2gcf, "db2set": db2reg.db2set, "db2iauto": db2auto.db2iauto}

PATHS = {"ip": "/sbin/ip", "mktcpip": "/usr/sbin/mktcpip", "rsync": "/usr/bin/rsync", "arping": "/usr/sbin/arping",
         "crontab": "/usr/bin/crontab", "ifconfig": "/sbin/ifconfig", "flock": "/usr/bin/flock",
         "selinuxenabled": "/usr/sbin/selinuxenabled", "restorecon": "/sbin/restorecon"}


def table(sh: "Shell") -> dict[str, "Handler"]:
    node = sh.node
    if node.kind == "console":
        found = dict(COMMON)
        if node.xcat_client:
            found["rpower"] = xcat.rpower
        return found
    found = {**COMMON, **NODE}
    found.update(AIX_ONLY if node.os == "aix" else LINUX_ONLY)
    if node.kind == "mn" and sh.user == sh.sim.instance:
        found.update(INSTANCE_OWNER)
    if node.kind != "mn":
        for name in ("makedns", "makedhcp", "makeconservercf", "rpower"):
            found.pop(name, None)
    return found


def lookup(sh: "Shell", name: str) -> "Handler | None":
    if "/" in name:
        entry = sh.node.fs.get(name) if name.startswith("/") else None
        if entry is None or entry.kind != "file" or not entry.mode & 0o111:
            return None
        name = name.rsplit("/", 1)[1]
    return table(sh).get(name)
