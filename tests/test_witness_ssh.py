"""The witness over a real OpenSSH sshd on loopback, reached as the issue describes: a dedicated
key whose authorized_keys entry forces `hamn witness serve --dir D` (`restrict`), host-key
checking on. (The account is root here: the test interpreter lives under /root, which no other
user may enter; the forced command is what limits the key either way.)"""
from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from hamn_tui.audit.witness import note
from hamn_tui.audit.witness.check import append_cosignature
from hamn_tui.audit.witness.checkpoint import verify_cosignature
from hamn_tui.audit.witness.client import SshTarget, exchange, holds, send

from .sshd_fixture import LabUnavailable, SshdLab, lab_dir
from .test_audit_support import hermetic  # noqa: F401
from .witness_support import snapshot, write_log

HAMN = Path(sys.executable).parent / "hamn"


@pytest.fixture(scope="module")
def witness_host():
    """An sshd of our own, a witness state directory, and a key that can only run the witness."""
    import shutil

    workdir = lab_dir()
    try:
        lab = SshdLab(workdir, remove_dir=True).start()
    except LabUnavailable as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.skip(f"no test sshd: {exc}")
    try:
        wdir = workdir / "witness-state"
        key = workdir / "witness_client_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "hamn-witness-sender", "-f", str(key)], check=True)
        forced = f"{shlex.quote(str(HAMN))} witness serve --dir {shlex.quote(str(wdir))}"
        pub = Path(f"{key}.pub").read_text().strip()
        with open(workdir / "authkeys" / "root", "a") as fh:
            fh.write(f'command="{forced}",restrict {pub}\n')
        vkey = subprocess.run([str(HAMN), "witness", "key", "--dir", str(wdir), "--name", "hamn-witness/mn2"],
                              capture_output=True, text=True, check=True).stdout.strip()
        target = SshTarget("127.0.0.1", user="root", port=lab.port, identity=key, known_hosts=lab.known_hosts)
        yield lab, wdir, target, note.parse_vkey(vkey)
    finally:
        lab.stop()


def body_of(signed: bytes) -> str:
    return note.parse_note(signed).text


def test_a_checkpoint_extended_over_ssh_is_cosigned_and_verify_says_so(tmp_path, monkeypatch, witness_host):
    lab, wdir, target, vkey = witness_host
    log = write_log(tmp_path, monkeypatch, cluster="extend")
    n = len(log.lines)
    assert holds(log.origin, target).holds == 0
    for size, first in ((6, 0), (n, 6)):
        signed = log.checkpoint(size)
        answer = send(signed, first, log.lines[first:size], target)
        assert answer.ok and answer.cosignature is not None, answer.text
        assert verify_cosignature(body_of(signed), answer.cosignature, vkey) > 0
        append_cosignature(log.path, signed, answer.cosignature)
    assert holds(log.origin, target).holds == n
    keys = tmp_path / "witness_keys"
    keys.write_text(f"# the standby\n{vkey.vkey}\n")
    r = subprocess.run([str(HAMN), "audit", "verify", str(log.path.parent), "--witness-keys", str(keys)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"witnessed {n} of {n} records: hamn-witness/mn2 to record {n - 1}" in r.stdout
    assert r.stdout.strip().splitlines()[-1].startswith("VALID") and r.stdout.strip().endswith("fully witnessed")


def test_fork_rollback_replay_wrong_origin_and_garbage_are_refused_over_ssh(tmp_path, monkeypatch, witness_host):
    lab, wdir, target, vkey = witness_host
    log = write_log(tmp_path / "a", monkeypatch, cluster="forks")
    other = write_log(tmp_path / "b", monkeypatch, cluster="forks")
    assert send(log.checkpoint(10), 0, log.lines[:10], target).ok
    before = snapshot(wdir)
    cases = [
        ("fork", send(other.checkpoint(10), 10, [], target), "fork: a different root"),
        ("fork by records", send(other.checkpoint(12), 0, other.lines[:12], target), "fork: record 0"),
        ("rollback", send(log.checkpoint(7), 0, log.lines[:7], target), "rollback: holds 10"),
        ("replay", send(log.checkpoint(4), 0, log.lines[:4], target), "rollback"),
        ("wrong origin", send(log.checkpoint(12, origin="hamn/forks/t-run-2/audit-000"), 0, log.lines[:12], target), "wrong origin"),
        ("garbage", exchange(target, b"\x00\xff" * 5000), "malformed request"),
    ]
    for what, answer, reason in cases:
        assert not answer.ok and reason in answer.text, (what, answer.text)
        assert "\n" not in answer.text
    assert snapshot(wdir) == before
    assert send(log.checkpoint(len(log.lines)), 10, log.lines[10:], target).ok


def test_the_key_runs_only_the_witness(witness_host):
    lab, wdir, target, vkey = witness_host
    argv = target.argv()[:-3] + ["cat /etc/passwd"]
    r = subprocess.run(argv, input=b"", capture_output=True, timeout=30)
    assert r.stdout.startswith(b"refused: malformed request") and b"root:" not in r.stdout


def test_host_key_checking_stays_on(tmp_path, monkeypatch, witness_host):
    lab, wdir, target, vkey = witness_host
    log = write_log(tmp_path, monkeypatch, cluster="hostkey")
    before = snapshot(wdir)
    wrong = SshTarget(target.host, user=target.user, port=target.port, identity=target.identity, known_hosts=lab.wrong_known_hosts)
    answer = send(log.checkpoint(5), 0, log.lines[:5], wrong)
    assert not answer.ok and "Host key verification failed" in answer.text
    assert snapshot(wdir) == before
    with pytest.raises(ValueError, match="host-key checking stays on"):
        SshTarget("h", extra=["StrictHostKeyChecking=no"]).argv()
