"""The witness sender in a run: a witness that hangs or is gone neither holds the run up nor
breaks it, and the run says how far it is unwitnessed. (Witnesses that answer, and one that comes
back: tests/test_witness_run.py, over a real sshd.)"""
from __future__ import annotations

import socket
import tempfile
from pathlib import Path

from hamn_tui.audit.witness.checkpoint import origin_for
from hamn_tui.audit.witness.client import SshTarget
from hamn_tui.audit.witness.sender import WitnessSender
from hamn_tui.audit.writer import AuditWriter

from .test_audit_support import BOOK, Lab, hermetic, run_book  # noqa: F401


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
