"""The witness's checks and its state: an extension is cosigned; a rollback, a fork, a replayed
old checkpoint, a wrong origin, an unsigned checkpoint, records that do not hash to the root and
hostile requests are refused with one line and change nothing; kill -9 mid-write keeps the old state."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hamn_tui.audit.witness import note
from hamn_tui.audit.witness.checkpoint import Checkpoint, sign_checkpoint, tree_hash, verify_cosignature
from hamn_tui.audit.witness.protocol import MAX_REQUEST, encode_add, encode_holds, handle, parse_answer
from hamn_tui.audit.witness.store import Refused, held_origins

from .test_audit_support import hermetic  # noqa: F401
from .witness_support import Log, snapshot, store, write_log

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def log(tmp_path, monkeypatch) -> Log:
    return write_log(tmp_path / "a", monkeypatch)


@pytest.fixture
def other(tmp_path, monkeypatch) -> Log:
    """Another run written under the same run directory name: the same origin, other records."""
    return write_log(tmp_path / "b", monkeypatch)


def body_of(signed: bytes) -> str:
    return note.parse_note(signed).text


def test_extensions_are_cosigned_and_stored(tmp_path, log):
    w = store(tmp_path / "w")
    n = len(log.lines)
    first = w.add(log.checkpoint(5), 0, log.lines[:5], now=1000)
    assert verify_cosignature(body_of(log.checkpoint(5)), first, w.key.verifier) == 1000
    assert w.holds(log.origin) == 5
    second = w.add(log.checkpoint(n), 5, log.lines[5:], now=1001)
    assert verify_cosignature(body_of(log.checkpoint(n)), second, w.key.verifier) == 1001
    [(held, lines)] = list(held_origins(tmp_path / "w"))
    assert (held.origin, held.size, lines) == (log.origin, n, log.lines)
    assert (tmp_path / "w" / "witness.key").stat().st_mode & 0o777 == 0o600


def test_resending_records_already_held_is_an_extension_when_they_are_the_same_bytes(tmp_path, log):
    w = store(tmp_path / "w")
    w.add(log.checkpoint(5), 0, log.lines[:5])
    w.add(log.checkpoint(9), 0, log.lines[:9])  # a sender that lost track: everything from record 0
    assert w.holds(log.origin) == 9
    before = snapshot(tmp_path / "w")
    sig = w.add(log.checkpoint(9), 9, [])  # the same checkpoint again (an answer was lost): cosigned, nothing stored
    assert verify_cosignature(body_of(log.checkpoint(9)), sig, w.key.verifier)
    assert snapshot(tmp_path / "w") == before


def refused(w, root: Path, signed: bytes, first: int, lines: list[bytes], match: str) -> None:
    before = snapshot(root)
    with pytest.raises(Refused, match=match) as exc:
        w.add(signed, first, lines)
    assert "\n" not in str(exc.value)
    assert snapshot(root) == before


def test_rollback_and_replay_of_an_old_checkpoint_are_refused(tmp_path, log):
    w = store(tmp_path / "w")
    w.add(log.checkpoint(10), 0, log.lines[:10])
    refused(w, tmp_path / "w", log.checkpoint(5), 0, log.lines[:5], "rollback: holds 10 records")
    refused(w, tmp_path / "w", log.checkpoint(9), 9, [], "rollback")


def test_forks_are_refused(tmp_path, log, other):
    assert other.origin == log.origin and other.lines[0] != log.lines[0]
    w = store(tmp_path / "w")
    w.add(log.checkpoint(8), 0, log.lines[:8])
    root = tmp_path / "w"
    refused(w, root, other.checkpoint(8), 8, [], "fork: a different root .* at size 8")
    refused(w, root, other.checkpoint(12), 0, other.lines[:12], "fork: record 0 .* differs")
    # an inconsistent extension: the other run's records after the held ones
    refused(w, root, other.checkpoint(12), 8, other.lines[8:12], "record 8")
    # the same log, one earlier record rewritten in place (sender's copy differs from the held one)
    edited = list(log.lines)
    edited[3] = edited[3].replace(b'"seq":3', b'"seq":3 ')
    refused(w, root, log.checkpoint(12, edited), 0, edited[:12], "fork: record 3")


def test_wrong_origin_is_refused(tmp_path, log):
    w = store(tmp_path / "w")
    root = tmp_path / "w"
    key = Ed25519PrivateKey.generate()
    for origin, reason in (("hamn/none/t-run-2/audit-000", "wrong origin"), ("hamn/none/t-run-1/audit-001", "wrong origin"),
                           ("example.com/log", "not hamn/")):
        refused(w, root, log.checkpoint(5, origin=origin), 0, log.lines[:5], reason)
    w.add(log.checkpoint(5), 0, log.lines[:5])
    refused(w, root, sign_checkpoint(Checkpoint("hamn/none/t-run-2/audit-000", 6, tree_hash(log.lines[:6])), key), 5, log.lines[5:6],
            "gap|wrong origin")


def test_unsigned_or_mismatched_checkpoints_are_refused(tmp_path, log):
    w = store(tmp_path / "w")
    root = tmp_path / "w"
    stranger = Ed25519PrivateKey.generate()
    refused(w, root, log.checkpoint(5, session=stranger), 0, log.lines[:5], "not signed by the log's session key")  # type: ignore[arg-type]
    fake = list(log.lines[:5])
    fake[4] = b"{}"
    refused(w, root, log.checkpoint(5, fake), 0, log.lines[:5], "do not hash to the checkpoint's root")
    refused(w, root, log.checkpoint(5), 0, log.lines[:4], "has 5 records")
    refused(w, root, log.checkpoint(5), 0, [b"not json"] + log.lines[1:5], "record 0")
    w.add(log.checkpoint(5), 0, log.lines[:5])
    refused(w, root, log.checkpoint(9), 7, log.lines[7:9], "gap: holds 5")


@pytest.mark.parametrize("request_bytes, reason", [
    (b"", "malformed request"),
    (os.urandom(3000), "malformed request"),
    (b"\x00" * 100 + b"\n\n", "malformed request"),
    (b"hamn-witness/1 add\nnote 5\nfrom 0\nrecords 1 3\n\nabc", "truncated or padded"),
    (b"hamn-witness/1 add\nnote 99999999\nfrom 0\nrecords 1 3\n\nabc", "too large"),
    (b"hamn-witness/1 add\nnote 0\nfrom -1\nrecords 0 0\n\n", "bad note, from or records"),
    (b"hamn-witness/1 holds hamn/x y/z\n", "wrong origin"),
    (b"hamn-witness/1 holds hamn/none/t-run-1/audit-000\nextra", "one line"),
])
def test_hostile_requests_get_one_line_and_change_nothing(tmp_path, log, request_bytes, reason):
    w = store(tmp_path / "w")
    w.add(log.checkpoint(5), 0, log.lines[:5])
    before = snapshot(tmp_path / "w")
    answer, ok = handle(w, request_bytes)
    assert not ok and answer.startswith(b"refused: ") and answer.count(b"\n") == 1
    assert reason.encode() in answer
    assert snapshot(tmp_path / "w") == before


def test_a_huge_or_cut_request_is_refused(tmp_path, log):
    w = store(tmp_path / "w")
    answer, ok = handle(w, b"x" * (MAX_REQUEST + 1))
    assert not ok and b"larger than" in answer
    good = encode_add(log.checkpoint(6), 0, log.lines[:6])
    for cut in (len(good) - 1, len(good) // 2, 40):
        answer, ok = handle(w, good[:cut])
        assert not ok and answer.startswith(b"refused: "), cut
    assert w.holds(log.origin) == 0
    answer, ok = handle(w, good)
    reply = parse_answer(answer)
    assert ok and reply.ok and reply.cosignature is not None and reply.text == "ok 6"
    assert verify_cosignature(body_of(log.checkpoint(6)), reply.cosignature, w.key.verifier)
    assert parse_answer(handle(w, encode_holds(log.origin))[0]).holds == 6


KILLER = """
import os, signal, sys
from hamn_tui.cli.main import main
point = sys.argv[1]
if point == "records":      # half of the records written, then killed
    real = os.write
    def write(fd, data):
        real(fd, bytes(data)[: len(data) // 2])
        os.kill(os.getpid(), signal.SIGKILL)
    os.write = write
else:                       # records fsynced, the new state written but not renamed into place
    def replace(*a, **k):
        os.kill(os.getpid(), signal.SIGKILL)
    os.replace = replace
main(["witness", "serve", "--dir", sys.argv[2]])
"""


@pytest.mark.parametrize("point", ["records", "rename"])
def test_kill_9_mid_write_leaves_the_old_state(tmp_path, log, point):
    root = tmp_path / "w"
    w = store(root)
    w.add(log.checkpoint(5), 0, log.lines[:5])
    state = snapshot(root)
    request = encode_add(log.checkpoint(len(log.lines)), 5, log.lines[5:])
    r = subprocess.run([sys.executable, "-c", KILLER, point, str(root)], input=request, capture_output=True, cwd=ROOT, timeout=60)
    assert r.returncode == -9 and r.stdout == b""
    state_file = next(k for k in state if k.endswith("/state.json"))
    assert snapshot(root)[state_file] == state[state_file]
    assert w.holds(log.origin) == 5
    [(held, lines)] = list(held_origins(root))
    assert lines == log.lines[:5]  # the torn or unrenamed write is not read as held
    # and the next request stores the extension cleanly over the leftovers
    w.add(log.checkpoint(len(log.lines)), 5, log.lines[5:])
    [(held, lines)] = list(held_origins(root))
    assert lines == log.lines and held.size == len(log.lines)
