"""A real OpenSSH sshd on 127.0.0.1 for the transport tests (and bench/bench_ssh.py).

It has its own config, host key, client key and known_hosts, and accepts key logins as root
and as TEST_USER (the run-as target). Recipe and traps: docs/lab-recipes.md §2 (StrictModes
no; `usermod -p '*'` because UsePAM is off; /run/sshd must exist; absolute sshd path).

Tests import the fixture explicitly: `from .sshd_fixture import sshd  # noqa: F401`.
"""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from hamn_tui.lab.node import sshd_config

SSHD = "/usr/sbin/sshd"
TEST_USER = "hamntest"
"""Run-as target for the tests. Kept between runs (a second test session may be using it)."""


class LabUnavailable(Exception):
    """The lab cannot run here; the message names what is missing."""


def _need_root(what: str) -> None:
    if os.geteuid() != 0:
        raise LabUnavailable(f"{what} needs root (running as uid {os.geteuid()})")


def ensure_test_user(name: str = TEST_USER) -> str:
    """Create the run-as test user if missing (home /home/NAME, bash) and unlock it for key logins."""
    _need_root(f"the run-as test user {name!r}")
    for tool in ("useradd", "usermod"):
        if shutil.which(tool) is None:
            raise LabUnavailable(f"{tool} is missing (package passwd)")
    try:
        pwd.getpwnam(name)
    except KeyError:
        r = subprocess.run(["useradd", "-m", "-d", f"/home/{name}", "-s", "/bin/bash", name],
                           capture_output=True, text=True)
        if r.returncode not in (0, 9):  # 9: created meanwhile by another test session
            raise LabUnavailable(f"useradd {name} failed: {r.stderr.strip()}")
    # useradd leaves the password "!" (locked): with UsePAM no, sshd then refuses the account.
    subprocess.run(["usermod", "-p", "*", name], check=True, capture_output=True)
    return pwd.getpwnam(name).pw_dir


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(pid: int) -> list[int]:
    """All live descendants of `pid` (from /proc), children first."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out: list[int] = []
    todo = [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


class SshdLab:
    """One sshd on loopback with everything a client needs to connect to it, strictly."""

    host = "127.0.0.1"

    def __init__(self, workdir: Path, *, remove_dir: bool = False):
        self.dir = Path(workdir)
        self.remove_dir = remove_dir
        self.port = 0
        self.host_key = self.dir / "host_ed25519"
        self.client_key = self.dir / "client_ed25519"
        self.other_host_key = self.dir / "other_host_ed25519"
        self.known_hosts = self.dir / "known_hosts"
        self.wrong_known_hosts = self.dir / "known_hosts.wrong"
        self.config = self.dir / "sshd_config"
        self.log = self.dir / "sshd.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "SshdLab":
        _need_root("sshd on loopback (it switches users)")
        if not os.access(SSHD, os.X_OK):
            raise LabUnavailable(f"{SSHD} is missing: install openssh-server (apt-get install openssh-server)")
        if shutil.which("ssh-keygen") is None:
            raise LabUnavailable("ssh-keygen is missing: install openssh-client")
        ensure_test_user()
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        for key, comment in ((self.host_key, "hamn-test-host"), (self.client_key, "hamn-test-client"),
                             (self.other_host_key, "hamn-test-other-host")):
            if not key.exists():
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key)],
                               check=True)
        authkeys = self.dir / "authkeys"
        authkeys.mkdir(exist_ok=True)
        client_pub = Path(f"{self.client_key}.pub").read_text()
        for user in ("root", TEST_USER):
            (authkeys / user).write_text(client_pub)
        self.port = free_port()
        self.known_hosts.write_text(self.known_hosts_line(self.host_key))
        self.wrong_known_hosts.write_text(self.known_hosts_line(self.other_host_key))
        self.config.write_text(sshd_config(port=self.port, listen=self.host, host_key=self.host_key, pid_file=self.dir / "sshd.pid",
                                           authorized_keys=authkeys))
        check = subprocess.run([SSHD, "-t", "-f", str(self.config)], capture_output=True, text=True)
        if check.returncode != 0:
            raise LabUnavailable(f"sshd -t rejected the test config: {check.stderr.strip()}")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.config)], stderr=log)
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                raise LabUnavailable(f"sshd exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                socket.create_connection((self.host, self.port), timeout=0.5).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise LabUnavailable(f"sshd did not listen on {self.host}:{self.port} within 10 s")
                time.sleep(0.01)

    def known_hosts_line(self, key: Path) -> str:
        return f"[{self.host}]:{self.port} {' '.join(Path(f'{key}.pub').read_text().split()[:2])}\n"

    def stop(self) -> None:
        """Stop the listener and every per-connection sshd (and so their sessions) it forked."""
        if self.proc is None:
            return
        children = descendants(self.proc.pid)
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        self.proc = None
        if self.remove_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def cluster_toml(self, path: Path, names: tuple[str, ...] = ("mn1", "mn2"), *, ssh_user: str = "root",
                     run_as: str = "runuser", known_hosts: Path | None = None, port: int | None = None,
                     name: str = "lab") -> Path:
        """A cluster file whose nodes all point at this sshd: the first is primary, the second standby."""
        roles = ["primary", "standby"] + ["service"] * max(0, len(names) - 2)
        lines = [f'[cluster]\nname = "{name}"\ndatabase = "pg"\n']
        for node, role in zip(names, roles):
            lines.append(f'[nodes.{node}]\naddress = "{self.host}"\nhostname = "{node}"\nrole = "{role}"\n'
                         f'port = {port or self.port}\nssh_user = "{ssh_user}"\nrun_as = "{run_as}"\n')
        lines.append("[pg]\n")
        lines.append(f'[ssh]\nknown_hosts = "{known_hosts or self.known_hosts}"\nidentity = "{self.client_key}"\n'
                     "connect_timeout_s = 5\n")
        path.write_text("\n".join(lines))
        return path

    def cluster(self, path: Path, names: tuple[str, ...] = ("mn1", "mn2"), **kw: object):
        from hamn_tui.cluster.loader import load_cluster

        return load_cluster(self.cluster_toml(path, names, **kw))  # type: ignore[arg-type]


_lab: SshdLab | None = None
_users = 0


def lab_dir() -> Path:
    """A fresh directory the run-as user can read: sshd reads authorized_keys AS that user, and
    pytest's own temp directories are 0700."""
    d = Path(tempfile.mkdtemp(prefix="hamn-sshd-"))
    d.chmod(0o755)
    return d


@pytest.fixture(scope="session")
def sshd():
    """The session's sshd (one per session even when several modules import this fixture)."""
    global _lab, _users
    if _lab is None:
        workdir = lab_dir()
        try:
            _lab = SshdLab(workdir, remove_dir=True).start()
        except LabUnavailable as exc:
            shutil.rmtree(workdir, ignore_errors=True)
            pytest.skip(f"no test sshd: {exc}")
    _users += 1
    try:
        yield _lab
    finally:
        _users -= 1
        if _users == 0 and _lab is not None:
            _lab.stop()
            _lab = None


@pytest.fixture(scope="session")
def test_user() -> str:
    """The run-as target user (created if missing); skips when that is impossible here."""
    try:
        ensure_test_user()
    except LabUnavailable as exc:
        pytest.skip(str(exc))
    return TEST_USER
