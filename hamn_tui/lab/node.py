"""A lab node: its own files (private mounts), hostname and sshd, inside its network namespace.

`ip netns exec` gives a node its own network only; the filesystem and hostname would be the
machine's. So each node's sshd starts under `unshare --mount --uts` and, before it runs,
mounts the node's own copies over the paths the runbooks touch:

- /run (tmpfs): /run/sshd, /run/postgresql (sockets), /run/lock (hamn's run lock)
- /var/lib/postgresql: the data directory and the postgres user's home (~/.ssh)
- /var/log/postgresql, /etc/cron.d (the dump/restore runbook's jobs)
- /etc: an overlay over the machine's /etc whose upper layer holds a copy of /etc/shadow in
  which `postgres` is unlocked (sshd refuses locked accounts with UsePAM no), so the machine's
  own account database is never changed, and writes to /etc stay in the node.

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
from .topology import NODES, SERVICE_IP

SSHD = "/usr/sbin/sshd"
PG_USER = "postgres"

MOUNTS = {"pghome": "/var/lib/postgresql", "log": "/var/log/postgresql", "cron.d": "/etc/cron.d"}
"""node dir entry -> the path it is mounted over inside the node (after the /etc overlay)."""


def keygen(path: Path, comment: str) -> None:
    if not path.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])


def public_key(path: Path) -> str:
    """'ssh-ed25519 AAAA…' without the comment."""
    return " ".join(Path(f"{path}.pub").read_text().split()[:2])


def known_hosts_text(lab: Path) -> str:
    """Both nodes' host keys, and both under the service IP (whichever node holds it answers)."""
    lines = []
    for node, address in NODES.items():
        key = public_key(lab / node / "host_ed25519")
        lines += [f"{address} {key}", f"{SERVICE_IP} {key}"]
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
    """The node's directories, host key, sshd config, and the postgres user's SSH setup."""
    import pwd

    pg = pwd.getpwnam(PG_USER)
    d = lab / node
    for sub in ("pghome", "log", "cron.d", "authkeys"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    os.chown(d / "pghome", pg.pw_uid, pg.pw_gid)
    os.chmod(d / "pghome", 0o755)
    os.chown(d / "log", 0, pg.pw_gid)
    os.chmod(d / "log", 0o1775)
    # /etc/shadow comes from an overlay on the node's /etc (boot_script), not from a bind mount on
    # the file: the machine's tools (usermod, passwd) replace /etc/shadow by a rename, and the
    # kernel then detaches every mount on the old file in other namespaces, so the node would see
    # the machine's shadow again, postgres locked, in the middle of a run.
    for sub in ("etc-upper", "etc-work"):
        (d / sub).mkdir(exist_ok=True)
    shadow = d / "etc-upper" / "shadow"
    shadow.write_text(_unlocked_shadow(PG_USER))
    os.chmod(shadow, 0o640)
    keygen(d / "host_ed25519", f"hamn-lab-{node}")
    (d / "authkeys" / "root").write_text(client_pub + "\n")
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
        extra=f"Match User {PG_USER}\n    AuthorizedKeysFile .ssh/authorized_keys\n"))


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
    lines.append(f"mount -t overlay hamn-lab-etc -o lowerdir=/etc,upperdir={q(str(d / 'etc-upper'))},workdir={q(str(d / 'etc-work'))} /etc")
    for entry, target in MOUNTS.items():
        lines.append(f"mount --bind {q(str(d / entry))} {q(target)}")
    lines += [f"hostname {q(node)}", f"exec {SSHD} -D -e -f {q(str(d / 'sshd_config'))}"]
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
