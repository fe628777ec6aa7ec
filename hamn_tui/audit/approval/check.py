"""Everything checked before an approved command runs; each refusal is one line saying why.

In order: the answer is for this request (its hash); the signature is a strict SSHSIG in the
namespace `hamn-approval@v1` over request + statement; an allowed_signers file of approvers
lets that key sign as the principal the statement names, in that namespace, now; the approver
is not the requester (principal, nor the requester's key, nor any key of the requester's
agent); a rejection ends the request here (its nonce is spent); then: not expired, the nonce
never used, the command about to run byte-for-byte the approved one, the gates read again
giving the same verdicts, the run the same and its log head now a descendant of the request's.
Last, the nonce is recorded as used (fsynced) — so one approval runs one command once.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import sshsig
from ..allowed import AllowedSigners
from ..files import MAX_SEGMENT, UnsafeFile, private_dir, private_file, read_regular, write_synced
from . import NAMESPACE
from .answer import Answer, AnswerError, parse_answer, signed_message
from .request import LogHead, Request, RequestError, command_sha256, gate_verdicts


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""
    """'' when ok; else one line."""
    approver: str = ""
    approver_key: str = ""
    rejected: bool = False
    """A valid, signed rejection: the request is over."""

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "reason": self.reason, "approver": self.approver, "approver_key": self.approver_key,
                "rejected": self.rejected}


class NonceStore:
    """Nonces already spent, one per line, in a private file; `spend()` is atomic across
    processes (flock) and durable (fsync of the file, and of the directory when it is made)."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def used(self, nonce: str) -> bool:
        try:
            data = read_regular(self.path, 64 << 20)
        except FileNotFoundError:
            return False
        return nonce.encode() in data.split(b"\n")

    def spend(self, nonce: str) -> bool:
        """Record `nonce`; False if it was already there."""
        private_dir(self.path.parent)
        new = not self.path.exists()
        fd = private_file(self.path, os.O_APPEND)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if self.used(nonce):
                return False
            write_synced(fd, nonce.encode() + b"\n")
        finally:
            os.close(fd)
        if new:
            dfd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        return True


def head_descends(request_head: LogHead, current: LogHead, run_dir: Path | None) -> str:
    """'' if the log head the request names is the current one, or a line of the same run's
    log at or before it (the segments of a run are chained: a line of an earlier segment, or
    earlier in this one, is an ancestor); else why not."""
    if request_head.run_id != current.run_id:
        return f"the request is for run {request_head.run_id}, not this run ({current.run_id})"
    if request_head == current:
        return ""
    if run_dir is None:
        return "the log head moved since the request and no run directory was given to trace it"
    if request_head.segment > current.segment:
        return f"the request names segment {request_head.segment}, later than the current {current.segment}"
    try:
        data = read_regular(Path(run_dir) / request_head.segment, MAX_SEGMENT)
    except (OSError, UnsafeFile) as exc:
        return f"the request's log segment cannot be read: {exc}"
    lines = data.split(b"\n")
    shas = [hashlib.sha256(line).hexdigest() for line in lines if line]
    if request_head.line_sha256 not in shas:
        return f"the request's log head {request_head.line_sha256[:12]}… is not in {request_head.segment} of this run"
    if request_head.segment == current.segment and current.line_sha256 in shas \
            and shas.index(current.line_sha256) < shas.index(request_head.line_sha256):
        return "the request's log head is later than the current one"
    return ""


def check_answer(request: Request, statement: bytes, signature: str, *, approvers: AllowedSigners, nonces: NonceStore,
                 command: str | bytes, gates: list[Any], head: LogHead, run_dir: Path | None = None,
                 now: datetime | None = None) -> Verdict:
    """Ok only if every check in the module's docstring holds; the nonce is then spent."""
    now = now or datetime.now(timezone.utc)
    try:
        answer: Answer = parse_answer(statement, signature)
    except AnswerError as exc:
        return Verdict(False, str(exc))
    if answer.statement["request_id"] != request.id or answer.statement["request_sha256"] != request.sha256:
        return Verdict(False, "the answer was signed for another request, or the request file was changed after it was made")
    try:
        parsed = sshsig.parse(sshsig.unarmor(signature))
        sshsig.verify(signature, namespace=NAMESPACE, message=signed_message(request.raw, statement))
    except sshsig.SigError as exc:
        return Verdict(False, f"bad approval signature: {exc}")
    key, principal = parsed.public_blob, answer.principal
    fp = sshsig.fingerprint(key)

    def no(reason: str) -> Verdict:
        return Verdict(False, reason, principal, fp)

    why = approvers.check(principal, key, NAMESPACE, now)
    if why:
        return no(f"approver {principal} ({fp}) is not allowed: {why}")
    req = request.requester
    if principal == req["principal"]:
        return no(f"self-approval refused: the approver {principal} is the requester")
    if fp == req["key_fingerprint"] or fp in req["agent_keys"]:
        return no(f"self-approval refused: signed with the requester's key {fp} (as {principal})")
    if answer.verdict == "reject":
        nonces.spend(request.nonce)
        reason = answer.statement["reason"]
        return Verdict(False, f"rejected by {principal}" + (f": {reason}" if reason else ""), principal, fp, rejected=True)
    if now >= request.expires:
        return no(f"the request expired at {request.data['expires']}")
    if nonces.used(request.nonce):
        return no("replay refused: this request's nonce was already used")
    try:
        if command_sha256(command) != request.data["command"]["sha256"]:
            return no("the command about to run differs from the approved one")
        now_gates, then = gate_verdicts(gates), gate_verdicts(request.gates)
    except RequestError as exc:
        return no(str(exc))
    if now_gates != then:
        changed = next((f"gate {a[0]}: {b[1]} when requested, {a[1]} now" for a, b in zip(now_gates, then) if a != b),
                       f"{len(then)} gates when requested, {len(now_gates)} now")
        return no(f"the gates changed since the request ({changed})")
    why = head_descends(request.head, head, run_dir)
    if why:
        return no(why)
    if not nonces.spend(request.nonce):
        return no("replay refused: this request's nonce was already used")
    return Verdict(True, "", principal, fp)


def check_spool(spool: Any, request: Request, **kwargs: Any) -> Verdict:
    """`check_answer` on the answer left in `spool` for `request` (a rejection first); not ok,
    with "no answer yet", while there is none."""
    try:
        found = spool.read_answer(request.id)
    except (OSError, UnsafeFile) as exc:
        return Verdict(False, f"the answer cannot be read: {exc}")
    if found is None:
        return Verdict(False, "no answer yet")
    _, statement, signature = found
    return check_answer(request, statement, signature, **kwargs)
