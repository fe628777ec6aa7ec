"""What the lab needs from this machine, checked before anything is made; each refusal is one line."""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess

from .errors import LabError
from .node import SSHD, PG_USER
from .postgres import BIN

TOOLS = {
    "ip": "iproute2", "nsenter": "util-linux", "unshare": "util-linux", "ssh-keygen": "openssh-client",
    "arping": "iputils-arping", "runuser": "util-linux",
}


def check() -> None:
    """Raise LabError naming the first missing thing: root, namespace support, a program, the postgres user."""
    if os.geteuid() != 0:
        raise LabError(f"hamn lab needs root (network namespaces need CAP_NET_ADMIN and CAP_SYS_ADMIN); running as uid {os.geteuid()}")
    for tool, package in TOOLS.items():
        if shutil.which(tool) is None:
            raise LabError(f"{tool} is missing: install {package} (apt-get install {package})")
    r = subprocess.run(["unshare", "--net", "--mount", "--uts", "true"], capture_output=True, text=True)
    if r.returncode != 0:
        why = (r.stderr.strip().splitlines() or ["no message"])[-1]
        raise LabError(f"network namespaces are not available here: {why}")
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    if r.returncode != 0:
        raise LabError(f"`ip netns` does not work here: {(r.stderr.strip().splitlines() or ['no message'])[-1]}")
    if not os.access(SSHD, os.X_OK):
        raise LabError(f"{SSHD} is missing: install openssh-server (apt-get install openssh-server)")
    for prog in ("initdb", "pg_ctl", "pg_basebackup", "psql"):
        if not os.access(f"{BIN}/{prog}", os.X_OK):
            raise LabError(f"{BIN}/{prog} is missing: install postgresql-15 (apt-get install postgresql-15)")
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        raise LabError(f"there is no {PG_USER} user: install postgresql-15") from None
    for path in ("/var/lib/postgresql", "/var/log/postgresql", "/etc/cron.d"):
        if not os.path.isdir(path):
            raise LabError(f"{path} is missing: the lab mounts each node's own copy over it (install postgresql-15 and cron's directory)")
