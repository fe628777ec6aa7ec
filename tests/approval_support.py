"""Real parts for the four-eyes tests: ssh-keygen keys for two operators (and a stranger), an
allowed_signers file of approvers, a run directory with a real hash-chained-looking segment."""
from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from hamn_tui.audit import sshsig
from hamn_tui.audit.allowed import AllowedSigners
from hamn_tui.audit.approval import NAMESPACE
from hamn_tui.audit.approval.check import NonceStore
from hamn_tui.audit.approval.request import LogHead, Request, Requester, make_request

ROOT = Path(__file__).resolve().parent.parent
COMMAND = "db2 takeover hadr on db xcatdb by force"
GATES = [{"gate": "standby-peer", "verdict": "pass", "reading": "PEER/CONNECTED"},
         {"gate": "primary-unreachable", "verdict": "pass", "reading": "no answer on 22 for 30 s"}]


def keygen(directory: Path, name: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)], check=True)
    return path


def pub_line(key: Path) -> str:
    return " ".join(Path(str(key) + ".pub").read_text().split()[:2])


def fingerprint(key: Path) -> str:
    return sshsig.fingerprint(sshsig.parse_public_line(pub_line(key)))


@dataclass
class World:
    tmp: Path
    alice: Path
    bob: Path
    carol: Path
    approvers_file: Path
    run_dir: Path
    heads: list[LogHead]
    nonces: NonceStore

    @property
    def approvers(self) -> AllowedSigners:
        return AllowedSigners.read(self.approvers_file)

    def request(self, *, agent_keys: tuple[str, ...] = (), agent_socket: str = "", head: LogHead | None = None,
                **kw) -> Request:
        return make_request(head=head or self.heads[1], step_id="takeover-by-force", command=kw.pop("command", COMMAND),
                            node="mn2", run_as="db2inst1", gates=kw.pop("gates", GATES),
                            requester=Requester("root", "alice", fingerprint(self.alice), agent_socket, agent_keys), **kw)


def make_world(tmp: Path) -> World:
    keys = tmp / "keys"
    alice, bob, carol = (keygen(keys, n) for n in ("alice", "bob", "carol"))
    approvers = tmp / "approvers"
    ns = f'namespaces="{NAMESPACE}"'
    # alice may approve too (someone else's request): so refusing her own is the self-approval check,
    # and her key is also listed as "alice2" (same key, another principal)
    approvers.write_text(f"alice {ns} {pub_line(alice)}\nalice2 {ns} {pub_line(alice)}\nbob {ns} {pub_line(bob)}\n")
    run_dir = tmp / "runs" / "failover-r1"
    run_dir.mkdir(parents=True)
    lines = [b'{"seq":0,"type":"log_open"}', b'{"seq":1,"type":"step_started"}', b'{"seq":2,"type":"approval_requested"}',
             b'{"seq":3,"type":"answered"}']
    (run_dir / "audit-000.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))
    heads = [LogHead("r1", "audit-000.jsonl", hashlib.sha256(line).hexdigest()) for line in lines]
    return World(tmp, alice, bob, carol, approvers, run_dir, heads, NonceStore(tmp / "state" / "approval-nonces"))


APPROVER = "hamnappr"
SYSTEM_PYTHON = "/usr/bin/python3"


@dataclass
class SecondUser:
    """Another OS user, their own key (0600 in their home), and a group spool they share."""

    name: str
    uid: int
    key: Path
    spool: Path
    hamn: list[str]
    """`runuser … python -m hamn_tui` as that user (append the command and its options)."""


@pytest.fixture
def second_user(world):
    """As root: the OS user `hamnappr` (made if missing), a key they make themselves, and a
    spool an administrator would make for two users (root:their group, 2770). The venv's
    interpreter lives under /root, which they cannot enter, so the system Python of the same
    version runs hamn from the source tree with the venv's site-packages."""
    from .sshd_fixture import LabUnavailable, ensure_test_user

    try:
        home = Path(ensure_test_user(APPROVER))
    except LabUnavailable as exc:
        pytest.skip(f"a second OS user: {exc}")
    if shutil.which("runuser") is None:
        pytest.skip("runuser is missing (package util-linux)")
    same = f"import sys; assert sys.version_info[:2] == {tuple(sys.version_info[:2])}"
    if not Path(SYSTEM_PYTHON).exists() or subprocess.run([SYSTEM_PYTHON, "-c", same]).returncode:
        pytest.skip(f"{SYSTEM_PYTHON} of Python {sys.version_info[0]}.{sys.version_info[1]} (to run hamn as another user)")
    user = pwd.getpwnam(APPROVER)
    as_them = ["runuser", "-u", APPROVER, "--"]
    outer = Path(tempfile.mkdtemp(prefix="hamn-approval-"))  # pytest's tmp is under a 0700 directory
    keydir = home / f"hamn-test-keys-{outer.name}"
    try:
        subprocess.run([*as_them, "mkdir", "-m", "700", str(keydir)], check=True)
        subprocess.run([*as_them, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "dave", "-f", str(keydir / "id")], check=True)
        with world.approvers_file.open("a") as fh:
            fh.write(f'dave namespaces="{NAMESPACE}" {pub_line(keydir / "id")}\n')
        os.chmod(outer, 0o711)
        shared = outer / "spool"
        shared.mkdir()
        os.chown(shared, 0, user.pw_gid)
        os.chmod(shared, 0o2770)
        site = next((ROOT / ".venv" / "lib").glob("python3*/site-packages"))
        env = ["env", "-i", f"HOME={home}", "PATH=/usr/bin:/bin", f"PYTHONPATH={ROOT}:{site}", "PYTHONDONTWRITEBYTECODE=1",
               "TERM=xterm-256color", f"XDG_STATE_HOME={home}/.local/state/hamn-test"]
        yield SecondUser(APPROVER, user.pw_uid, keydir / "id", shared, [*as_them, *env, SYSTEM_PYTHON, "-m", "hamn_tui"])
    finally:
        shutil.rmtree(keydir, ignore_errors=True)
        shutil.rmtree(outer, ignore_errors=True)
