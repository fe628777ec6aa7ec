"""The witness's state, per origin (one log segment): the records it was sent and the latest
checkpoint it cosigned.

`logs/<sha256(origin)[:32]>/records.jsonl` only grows; `state.json` (origin, size, root, how
many bytes of records.jsonl are held, the checkpoint note and the cosignature) is replaced
atomically (write, fsync, rename, fsync the directory) after the records are fsynced. A crash
at any point leaves the old state: bytes past `bytes` are a torn write and are cut before the
next one. Requests are serialised with flock on `DIR/lock`.

A checkpoint is accepted only if it is a hamn origin whose records are that run's segment, its
records extend the held ones byte for byte and form a valid chain (canonical JSON, seq, prev,
one log id), they hash to its root, it is consistent with the held root, and the log's session
key (named in the segment's first record) signed it. Otherwise: `Refused`, and nothing changes."""
from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..canon import CanonError, parse_line
from ..files import MAX_SEGMENT, UnsafeFile, private_dir, private_file, read_regular, write_synced
from ..records import ZERO
from ..sshsig import Reader, SigError, parse_public_line
from . import note
from .checkpoint import (Checkpoint, consistency_proof, cosign, leaf_hash, log_verifier, parse_body, parse_origin, root_of,
                         verify_consistency)
from .key import WitnessKey
from .note import NoteError, Signature

STATE = "state.json"
RECORDS = "records.jsonl"
MAX_STATE = 64 * 1024


class Refused(Exception):
    """The witness refuses a request; the message is the one-line reason."""


@dataclass
class Held:
    origin: str
    size: int
    root: bytes
    nbytes: int
    note: str
    cosignature: str
    time: int

    def to_json(self) -> bytes:
        return json.dumps({"origin": self.origin, "size": self.size, "root": base64.b64encode(self.root).decode(), "bytes": self.nbytes,
                           "note": self.note, "cosignature": self.cosignature, "time": self.time}, sort_keys=True).encode() + b"\n"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def origin_dir(root: Path, origin: str) -> Path:
    return root / "logs" / hashlib.sha256(origin.encode()).hexdigest()[:32]


def parse_held(raw: bytes, where: str) -> Held:
    """A state.json's bytes (read here, or received in an export answer); `where` names it in the error."""
    try:
        d = json.loads(raw)
        held = Held(d["origin"], int(d["size"]), base64.b64decode(d["root"], validate=True), int(d["bytes"]), d["note"], d["cosignature"],
                    int(d["time"]))
        if not all(isinstance(x, str) for x in (held.origin, held.note, held.cosignature)) or held.size < 0 or held.nbytes < 0:
            raise ValueError("a field has the wrong type")
        return held
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise Refused(f"the witness state {where} is damaged ({exc})") from None


def read_held(directory: Path) -> Held | None:
    """The state of one origin's directory, or None if it holds nothing yet."""
    try:
        raw = read_regular(directory / STATE, MAX_STATE, "a witness state may")
    except FileNotFoundError:
        return None
    return parse_held(raw, str(directory / STATE))


def _read_records(directory: Path, held: Held) -> bytes:
    if held.size == 0:
        return b""
    fd = os.open(directory / RECORDS, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        return os.pread(fd, held.nbytes, 0)
    finally:
        os.close(fd)


def split_records(data: bytes, held: Held) -> list[bytes]:
    """The records (lines without newlines) of `data`, which must be exactly what `held` says."""
    lines = data.split(b"\n")
    if held.size == 0 and not data:
        return []
    if len(data) != held.nbytes or lines[-1] != b"" or len(lines) - 1 != held.size:
        raise Refused(f"the witness's records for {held.origin} are damaged (want {held.size} records in {held.nbytes} bytes)")
    return lines[:-1]


def held_lines(directory: Path, held: Held | None) -> list[bytes]:
    """The records held (lines without newlines), up to what the state says."""
    if held is None or held.size == 0:
        return []
    return split_records(_read_records(directory, held), held)


def _session_key(first: dict[str, Any]) -> bytes:
    """The raw Ed25519 session key a segment's log_open names."""
    try:
        blob = parse_public_line(first["data"]["session_key"])
        r = Reader(blob)
        if r.string() != b"ssh-ed25519":
            raise Refused("the log's session key is not Ed25519")
        pub = r.string()
        r.end()
        return pub
    except (SigError, KeyError, TypeError, ValueError) as exc:
        raise Refused(f"record 0 names no usable session key ({exc})") from None


def check_chain(lines: list[bytes], start: int, prev_line: bytes | None, log_id: str | None) -> list[dict[str, Any]]:
    """Records `start`… form a chain after `prev_line`: canonical JSON, seq, prev, one log id."""
    prev = ZERO if prev_line is None else hashlib.sha256(prev_line).hexdigest()
    out: list[dict[str, Any]] = []
    for i, line in enumerate(lines, start):
        try:
            rec = parse_line(line)
        except CanonError as exc:
            raise Refused(f"record {i}: {exc}") from None
        if rec.get("seq") != i or rec.get("prev") != prev:
            raise Refused(f"record {i}: seq or prev does not follow record {i - 1}")
        if i == 0:
            log_id = rec.get("log")
            if rec.get("type") != "log_open" or not isinstance(rec.get("data"), dict):
                raise Refused("record 0 is not log_open")
        if rec.get("log") != log_id:
            raise Refused(f"record {i}: another log id")
        prev = hashlib.sha256(line).hexdigest()
        out.append(rec)
    return out


def _check_origin(origin: str, first: dict[str, Any]) -> None:
    """The origin names this segment: its run directory and segment number are the log_open's."""
    _, run_dir, seg = parse_origin(origin)
    d = first["data"]
    number = d.get("segment")
    if type(number) is not int or not 0 <= number <= 999:
        raise Refused("record 0 names no segment number")
    want = f"{d.get('runbook_id')}-{d.get('run_id')}/audit-{number:03d}"
    if f"{run_dir}/{seg.removesuffix('.jsonl')}" != want:
        raise Refused(f"wrong origin: {origin} is not the log these records open ({want})")


class WitnessStore:
    """One witness state directory."""

    def __init__(self, root: Path, key: WitnessKey):
        self.root = Path(root)
        self.key = key

    def holds(self, origin: str) -> int:
        """How many records of `origin` this witness holds (0: none)."""
        parse_origin(origin)
        held = read_held(origin_dir(self.root, origin))
        return held.size if held else 0

    def export(self, prefix: str, after: str, limit: int) -> tuple[list[tuple[bytes, bytes]], bool]:
        """The read side: (state.json bytes, records bytes) of every origin starting with `prefix`
        and sorting after `after`, in origin order, until `limit` bytes; and whether more remain.
        Read under a shared lock, so no request is half applied. One log larger than `limit` is
        refused (it cannot be answered whole)."""
        logs = self.root / "logs"
        if not logs.is_dir():
            return [], False
        lock = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_SH)
            found: list[tuple[str, Path, Held]] = []
            for d in logs.iterdir():
                held = read_held(d)
                if held is not None and held.origin.startswith(prefix) and held.origin > after:
                    found.append((held.origin, d, held))
            out: list[tuple[bytes, bytes]] = []
            total = 0
            for origin, d, held in sorted(found, key=lambda x: x[0]):
                state = held.to_json()
                records = _read_records(d, held)
                split_records(records, held)
                size = len(state) + len(records) + 64
                if total + size > limit:
                    if not out:
                        raise Refused(f"{origin}: {held.nbytes} bytes of records, more than one export answer may carry ({limit})")
                    return out, True
                out.append((state, records))
                total += size
            return out, False
        except (UnsafeFile, OSError) as exc:
            raise Refused(f"cannot read the witness state: {exc}") from None
        finally:
            os.close(lock)

    def add(self, signed_checkpoint: bytes, first: int, lines: list[bytes], now: int | None = None) -> Signature:
        """Check a checkpoint and the records from index `first` to its size; store them and
        return the cosignature, or raise `Refused` (nothing is changed)."""
        private_dir(self.root)
        lock = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return self._add(signed_checkpoint, first, lines, now)
        finally:
            os.close(lock)

    def _add(self, signed_checkpoint: bytes, first: int, lines: list[bytes], now: int | None) -> Signature:
        try:
            n = note.parse_note(signed_checkpoint)
            cp = parse_body(n.text)
            parse_origin(cp.origin)
        except NoteError as exc:
            raise Refused(str(exc)) from None
        d = origin_dir(self.root, cp.origin)
        held = read_held(d)
        if held is not None and held.origin != cp.origin:
            raise Refused(f"wrong origin: the state for {cp.origin} holds {held.origin}")
        have = held.size if held else 0
        if cp.size < have:
            raise Refused(f"rollback: holds {have} records of {cp.origin}, the checkpoint has {cp.size}")
        old = held_lines(d, held)
        if cp.size == have and held is not None:
            if cp.root != held.root:
                raise Refused(f"fork: a different root for {cp.origin} at size {have}")
        if first < 0 or first > have:
            raise Refused(f"gap: holds {have} records of {cp.origin}, these start at {first}")
        if first + len(lines) != cp.size:
            raise Refused(f"the checkpoint has {cp.size} records, the request {first} + {len(lines)}")
        for i in range(first, have):
            if lines[i - first] != old[i]:
                raise Refused(f"fork: record {i} of {cp.origin} differs from the one held")
        new = lines[have - first:]
        if cp.size == 0:
            raise Refused("an empty checkpoint witnesses nothing")
        recs = check_chain(new, have, old[-1] if old else None, parse_line(old[0]).get("log") if old else None)
        head = recs[0] if not old else parse_line(old[0])
        _check_origin(cp.origin, head)
        if (held.nbytes if held else 0) + sum(len(x) + 1 for x in new) > MAX_SEGMENT:
            raise Refused(f"the log would be larger than {MAX_SEGMENT} bytes")
        hashes = [leaf_hash(x) for x in old + new]
        root = root_of(hashes)
        if root != cp.root:
            raise Refused(f"the records do not hash to the checkpoint's root (size {cp.size})")
        if held is not None and not verify_consistency(have, cp.size, held.root, root, consistency_proof(hashes, have)):
            raise Refused(f"fork: size {cp.size} is not consistent with the held size {have}")
        try:
            note.verify(n, [log_verifier(cp.origin, _session_key(head))])
        except NoteError as exc:
            raise Refused(f"the checkpoint is not signed by the log's session key: {exc}") from None
        sig = cosign(n.text, self.key.name, self.key.private, int(time.time()) if now is None else now)
        if held is not None and cp.size == have:
            return sig  # the checkpoint it holds, sent again (a lost answer): cosigned, nothing stored
        self._write(d, held, cp, new, n.encode().decode(), sig)
        return sig

    def _write(self, d: Path, held: Held | None, cp: Checkpoint, new: list[bytes], note_text: str, sig: Signature) -> None:
        """Records first (fsynced), then the state by rename: a crash leaves the old state."""
        private_dir(d)
        nbytes = held.nbytes if held else 0
        if new:
            fd = private_file(d / RECORDS, 0)
            try:
                os.ftruncate(fd, nbytes)  # a torn write of a crashed request
                os.lseek(fd, nbytes, os.SEEK_SET)
                data = b"".join(x + b"\n" for x in new)
                write_synced(fd, data)
            finally:
                os.close(fd)
            nbytes += len(data)
        state = Held(cp.origin, cp.size, cp.root, nbytes, note_text, sig.line, int.from_bytes(sig.signature[:8], "big"))
        tmp = d / f"{STATE}.tmp"
        tmp.unlink(missing_ok=True)
        fd = private_file(tmp, os.O_EXCL)
        try:
            write_synced(fd, state.to_json())
        finally:
            os.close(fd)
        os.replace(tmp, d / STATE)
        _fsync_dir(d)
        if held is None:
            _fsync_dir(d.parent)


def held_origins(root: Path) -> Iterator[tuple[Held, list[bytes]]]:
    """Every origin a witness state directory (or a copy of one) holds, with its records."""
    logs = Path(root) / "logs"
    if not logs.is_dir():
        return
    for d in sorted(logs.iterdir()):
        try:
            held = read_held(d)
        except (UnsafeFile, OSError) as exc:
            raise Refused(f"{d}: {exc}") from None
        if held is not None:
            yield held, held_lines(d, held)
