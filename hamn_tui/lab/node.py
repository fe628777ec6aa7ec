"""A lab node: its own files (private mounts), hostname and sshd, inside its network namespace.

`ip netns exec` gives a node its own network only; the filesystem and hostname would be the
machine's. So each node's sshd starts under `unshare --mount --uts` and, before it runs,
mounts the node's own copies over the paths the runbooks touch:

- /run (tmpfs): /run/sshd, /run/postgresql (sockets), /run/lock (hamn's run lock)
- /var/lib/postgresql: the data directory and the postgres user's home (~/.ssh)
- /var/log/postgresql, /etc/cron.d (the dump/restore runbook's jobs)
- /etc: an overlay over the machine's /etc whose upper layer holds a copy of /etc/shadow in
  which `postgres` is unlocked (sshd refuses locked accounts with UsePAM no), so the machine's
  own account database is never changed, and writes to /etc stay in the node (useradd of the
  witness account, runbooks/witness-setup.toml).
- /var/lib: an overlay too, so a directory a runbook makes there (the witness's
  /var/lib/hamn-witness) is the node's own, not the machine's and not shared by the nodes.
- /root: mode 0711 (a tmpfs with the machine's entries bound back in, see ROOT_HOME), so other
  users can reach the console's Python when it is installed there (the witness runs hamn).

A service node (topology.SERVICE_NODES) has the /run tmpfs and the two overlays only: no
PostgreSQL, so no postgres home, log or cron directory of its own.

Everything started over SSH inherits those namespaces; the lab itself enters them with
`nsenter -t SSHD_PID`. The sshd process is therefore the node's anchor.
"""
from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from .errors import LabError
from .proc import run
from .topology import MANAGEMENT_NODES, NODES, SERVICE_IP

SSHD = "/usr/sbin/sshd"
PG_USER = "postgres"

MOUNTS = {"pghome": "/var/lib/postgresql", "log": "/var/log/postgresql", "cron.d": "/etc/cron.d"}
"""node dir entry -> the path it is mounted over inside a management node (after the overlays)."""
OVERLAYS = {"etc": "/etc", "varlib": "/var/lib"}
"""node dir prefix -> the directory every node overlays: `<prefix>-upper` holds what the node wrote."""
ROOT_HOME = """\
cd /root
mount -t tmpfs -o mode=0711 hamn-lab-roothome /root
for e in .[!.]* ..?* *; do
  if [ -L "$e" ]; then ln -s "$(readlink "$e")" "/root/$e"
  elif [ -d "$e" ]; then mkdir "/root/$e" && mount --no-canonicalize --bind "$e" "/root/$e"
  elif [ -f "$e" ]; then : > "/root/$e" && mount --no-canonicalize --bind "$e" "/root/$e"
  fi
done
cd /"""
"""/root in a node is traversable (0711): the nodes run the console's hamn (the witness's forced
command, as hamn-witness), whose Python may live under root's home (pyenv), which is 0700 on
the machine. A tmpfs on /root with each entry of the machine's /root bound back in (reached
through the working directory, which still is the machine's /root): the entries are the
machine's own files, as before; only /root itself has another mode. Not an overlay: the lab's
directory is often under /root, and the node's bind mounts must reach the real files."""
WITNESS_USER = "hamn-witness"
"""The witness account (runbooks/witness-setup.toml): sshd reads its key from its home, as on a real host."""


def keygen(path: Path, comment: str) -> None:
    if not path.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])


def public_key(path: Path) -> str:
    """'ssh-ed25519 AAAA…' without the comment."""
    return " ".join(Path(f"{path}.pub").read_text().split()[:2])


def known_hosts_text(lab: Path) -> str:
    """Every node's host key; both management nodes' under the service IP too (whichever holds it answers)."""
    lines = []
    for node, address in NODES.items():
        key = public_key(lab / node / "host_ed25519")
        lines.append(f"{address} {key}")
        if node in MANAGEMENT_NODES:
            lines.append(f"{SERVICE_IP} {key}")
    return "\n".join(sorted(lines, key=lambda l: l.split()[0] != SERVICE_IP)) + "\n"


def _unlocked_shadow(pg_user: str) -> str:
    """/etc/shadow with pg_user's password field '*' (no password, but not locked)."""
    out = []
    for line in Path("/etc/shadow").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == pg_user and len(fields) > 1:
            fields[1] = "*"
        out.append(":".join(fields))
    return "\n".join(out) + "\n"


def prepare_files(lab: Path, node: str, client_pub: str, pg_key: Path) -> None:
    """The node's directories, host key, sshd config, and (on a management node) the postgres user's SSH setup."""
    import pwd

    d = lab / node
    for prefix in OVERLAYS:
        for sub in (f"{prefix}-upper", f"{prefix}-work"):
            (d / sub).mkdir(parents=True, exist_ok=True)
    (d / "authkeys").mkdir(exist_ok=True)
    keygen(d / "host_ed25519", f"hamn-lab-{node}")
    (d / "authkeys" / "root").write_text(client_pub + "\n")
    # the witness account's key is in its home, where witness-setup puts it (sshd's default)
    witness = f"Match User {WITNESS_USER}\n    AuthorizedKeysFile .ssh/authorized_keys\n"
    if node not in MANAGEMENT_NODES:
        (d / "sshd_config").write_text(f"# Written by `hamn lab up` for service node {node} (docs/lab.md).\n" + sshd_config(
            port=22, listen="0.0.0.0", host_key=d / "host_ed25519", pid_file="none", authorized_keys=d / "authkeys", extra=witness))
        return
    pg = pwd.getpwnam(PG_USER)
    for sub in ("pghome", "log", "cron.d"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    os.chown(d / "pghome", pg.pw_uid, pg.pw_gid)
    os.chmod(d / "pghome", 0o755)
    os.chown(d / "log", 0, pg.pw_gid)
    os.chmod(d / "log", 0o1775)
    # /etc/shadow comes from an overlay on the node's /etc (boot_script), not from a bind mount on
    # the file: the machine's tools (usermod, passwd) replace /etc/shadow by a rename, and the
    # kernel then detaches every mount on the old file in other namespaces, so the node would see
    # the machine's shadow again, postgres locked, in the middle of a run.
    shadow = d / "etc-upper" / "shadow"
    shadow.write_text(_unlocked_shadow(PG_USER))
    os.chmod(shadow, 0o640)
    ssh_dir = d / "pghome" / ".ssh"
    ssh_dir.mkdir(exist_ok=True)
    shutil.copyfile(pg_key, ssh_dir / "id_ed25519")
    shutil.copyfile(f"{pg_key}.pub", ssh_dir / "id_ed25519.pub")
    (ssh_dir / "authorized_keys").write_text(public_key(pg_key) + "\n")
    for p in (ssh_dir, *ssh_dir.iterdir()):
        os.chown(p, pg.pw_uid, pg.pw_gid)
        os.chmod(p, 0o700 if p.is_dir() else 0o600)
    (d / "sshd_config").write_text(f"# Written by `hamn lab up` for node {node} (docs/lab.md).\n" + sshd_config(
        port=22, listen="0.0.0.0", host_key=d / "host_ed25519", pid_file="none", authorized_keys=d / "authkeys",
        # postgres logs in with its own key (dump/restore copies with scp); sshd reads the file as
        # that user, so it lives in the node's private home, not under the lab's directory.
        extra=f"Match User {PG_USER}\n    AuthorizedKeysFile .ssh/authorized_keys\n" + witness))


def sshd_config(*, port: int, listen: str, host_key: Path, pid_file: str | Path, authorized_keys: Path, extra: str = "") -> str:
    """An sshd for tests and the lab: key logins only (root too), keys under `authorized_keys/USER`,
    no PAM (so accounts need `usermod -p '*'`), no StrictModes (keys in a temporary directory),
    many sessions (the engine multiplexes), sftp in-process (scp without a system sftp-server)."""
    return f"""\
Port {port}
ListenAddress {listen}
HostKey {host_key}
PidFile {pid_file}
AuthorizedKeysFile {authorized_keys}/%u
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
StrictModes no
MaxSessions 50
MaxStartups 200:30:400
LogLevel VERBOSE
Subsystem sftp internal-sftp
{extra}"""


def write_pg_known_hosts(lab: Path, node: str) -> None:
    import pwd

    pg = pwd.getpwnam(PG_USER)
    path = lab / node / "pghome" / ".ssh" / "known_hosts"
    path.write_text(known_hosts_text(lab))
    os.chown(path, pg.pw_uid, pg.pw_gid)
    os.chmod(path, 0o600)


def boot_script(lab: Path, node: str) -> str:
    """Runs inside the node's new mount/UTS namespaces, then becomes its sshd."""
    d = lab / node
    q = shlex.quote
    lines = [
        "set -e",
        "mount --make-rprivate /",
        "mount -t tmpfs -o mode=0755 hamn-lab-run /run",
        "mkdir -p /run/sshd /run/lock /run/postgresql",
        "chmod 1777 /run/lock",
        f"chown {PG_USER}:{PG_USER} /run/postgresql && chmod 2775 /run/postgresql",
    ]
    for prefix, target in OVERLAYS.items():
        upper, work = q(str(d / f"{prefix}-upper")), q(str(d / f"{prefix}-work"))
        lines.append(f"mount -t overlay hamn-lab-{prefix} -o lowerdir={target},upperdir={upper},workdir={work} {target}")
    if node in MANAGEMENT_NODES:
        for entry, target in MOUNTS.items():
            lines.append(f"mount --bind {q(str(d / entry))} {q(target)}")
    lines += [ROOT_HOME, f"hostname {q(node)}", f"exec {SSHD} -D -e -f {q(str(d / 'sshd_config'))}"]
    return "\n".join(lines)


_launched: dict[int, subprocess.Popen[bytes]] = {}
"""sshd processes this process started: waited for after they are stopped, so none stays a zombie."""


def reap() -> None:
    for pid, proc in list(_launched.items()):
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            continue
        del _launched[pid]


def start_sshd(lab: Path, node: str, address: str) -> int:
    """Start the node (its sshd) and wait until it accepts TCP on address:22; returns its pid."""
    d = lab / node
    check = run([SSHD, "-t", "-f", str(d / "sshd_config")], check=False)
    if check.returncode != 0:
        raise LabError(f"sshd rejects the lab config of {node}: {check.stderr.strip()}")
    with open(d / "sshd.log", "ab") as log:
        proc = subprocess.Popen(["ip", "netns", "exec", node, "unshare", "--mount", "--uts", "--propagation", "private", "--",
                                 "/bin/sh", "-c", boot_script(lab, node)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 15
    while True:
        if proc.poll() is not None:
            tail = [l for l in (d / "sshd.log").read_text(errors="replace").splitlines() if l.strip()]
            raise LabError(f"the sshd of {node} exited with {proc.returncode}: {tail[-1] if tail else 'no message'} (log {d / 'sshd.log'})")
        try:
            socket.create_connection((address, 22), timeout=0.5).close()
            _launched[proc.pid] = proc
            return proc.pid
        except OSError:
            if time.monotonic() > deadline:
                raise LabError(f"the sshd of {node} did not listen on {address}:22 within 15 s (log {d / 'sshd.log'})") from None
            time.sleep(0.02)


def anchored(pid: int, ns: str) -> bool:
    """`pid` is a live sshd inside network namespace `ns`: the node's anchor, not a process that
    reused the pid after a reboot (entering that one would reach the machine's own files)."""
    try:
        return alive(pid) and os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(f"/run/netns/{ns}").st_ino
    except OSError:
        return False


def alive(pid: int, comm: str = "sshd") -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == comm
    except OSError:
        return False


def namespace_pids(ns: str) -> list[int]:
    """Every process in network namespace `ns` (only this lab puts processes there)."""
    r = run(["ip", "netns", "pids", ns], check=False)
    return [int(p) for p in r.stdout.split() if p.isdigit()]


def kill_namespace(ns: str, grace_s: float = 3.0) -> list[int]:
    """SIGTERM every process in `ns`, SIGKILL what is left after grace_s; returns pids that survived."""
    pids = namespace_pids(ns)
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 2.0)):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            pids = [p for p in pids if Path(f"/proc/{p}").exists() and _not_zombie(p)]
            if not pids:
                return []
            time.sleep(0.02)
    return pids


def _not_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False
