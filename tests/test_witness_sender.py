"""The witness sender in a run: a witness that hangs or is gone neither holds the run up nor
breaks it, and the run says how far it is unwitnessed. (Witnesses that answer, and one that comes
back: tests/test_witness_run.py, over a real sshd.)"""
from __future__ import annotations

import socket
import tempfile
import time
from pathlib import Path

from hamn_tui.audit.witness.checkpoint import origin_for
from hamn_tui.audit.witness.client import SshTarget
from hamn_tui.audit.witness.sender import WitnessSender, label
from hamn_tui.audit.writer import AuditWriter

from .test_audit_support import BOOK, Lab, hermetic, run_book  # noqa: F401
from .test_witness_ssh import witness_host  # noqa: F401


def test_a_hung_witness_does_not_hold_the_run_and_the_run_says_it_is_unwitnessed(tmp_path):
    hung = socket.socket()  # accepts connections (the kernel does) but never says a word
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)
    kh = tmp_path / "known_hosts"
    kh.write_text("")
    target = SshTarget("127.0.0.1", port=hung.getsockname()[1], known_hosts=kh, connect_timeout_s=10)
    seg = tmp_path / "runs" / "t-run-1" / "audit-000.jsonl"
    sender = WitnessSender([target], seg, origin_for("c", seg.parent.name, seg.name), timeout_s=20)
    writer = AuditWriter(seg, signer=Lab(Path(tempfile.mkdtemp(dir=tmp_path))).alice(), witness=sender)
    try:
        assert run_book(BOOK, tmp_path, writer) == "done"
        assert not sender.drain(0)  # the run ended while its witness was still being waited for
    finally:
        hung.close()  # now the witness is gone: ssh fails
    assert sender.drain(60)
    records = len(seg.read_bytes().splitlines())
    status = sender.status(records)
    assert status.unwitnessed == records and status.down == ("hamn-witness@127.0.0.1:" + str(target.port),)
    assert status.line().startswith(f"unwitnessed: {records} records, ")
    assert not Path(f"{seg}.cosig").exists()


def test_without_witnesses_the_writer_keeps_no_leaves(tmp_path):
    seg = tmp_path / "runs" / "t-run-1" / "audit-000.jsonl"
    writer = AuditWriter(seg, signer=Lab(Path(tempfile.mkdtemp(dir=tmp_path))).alice())
    assert run_book(BOOK, tmp_path, writer) == "done"
    assert writer.tree.size == 0 and not Path(f"{seg}.cosig").exists()


def test_a_hung_witness_does_not_delay_a_live_one(tmp_path, witness_host):  # noqa: F811
    """Each witness has its own thread: the live one cosigns while the hung one's ssh still waits
    for a banner (before, witnesses were asked one after another, the live one after the hung
    one's connect timeout — and a dangerous step waited that long)."""
    lab, wdir, live, vkey = witness_host
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)
    dead = SshTarget("127.0.0.1", port=hung.getsockname()[1], known_hosts=lab.known_hosts, connect_timeout_s=30)
    seg = tmp_path / "runs" / "t-run-1" / "audit-000.jsonl"
    sender = WitnessSender([dead, live], seg, origin_for("par", seg.parent.name, seg.name), timeout_s=60)
    writer = AuditWriter(seg, signer=Lab(Path(tempfile.mkdtemp(dir=tmp_path))).alice(), witness=sender)
    try:
        assert run_book(BOOK, tmp_path, writer) == "done"
        records = len(seg.read_bytes().splitlines())
        who = label(live)
        for _ in range(600):  # bounded: 60 s
            if sender.cosigned_upto(who) == records:
                break
            time.sleep(0.1)
        assert sender.cosigned_upto(who) == records
        assert sender.cosigned_upto(label(dead)) == 0 and not sender.drain(0)  # the hung one is still being waited for
    finally:
        hung.close()
    assert sender.drain(60)
