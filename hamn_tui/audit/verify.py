"""The strict verifier: `hamn audit verify LOG [--allowed-signers F]`.

For each segment, in order, the first failure is reported with its record number (= its line,
from 0): canonical form; the exact set of top-level fields; the version; one log id; seq
contiguous from 0; `prev` = SHA-256 of the previous line; RFC 3339 `ts`; `mono` never going
back; a known type whose `data` has exactly its fields; `log_open` first and only there, nothing
after `log_close`; the operator's signature on `log_open` and `log_close` and the session key's
on every checkpoint and on `log_close`, each with canonical armour, this namespace and strict
Ed25519; every output blob present with its recorded hash and size; the detached LOG.sig; and
for a resumed run, that each segment names its predecessor's exact size and last line.

Binding: a segment is `audit-NNN.jsonl` for the number its log_open gives, a resumed one names
the one before it by that name, every segment of a chain names the same run, its run_started
the run its log_open names, and a run directory is `<runbook id>-<run id>` holding no segment
outside the chain — so a segment copied from another run, renamed, or a directory holding
another run's log is INVALID, not another run's VALID.

Files: only regular files are read (not through a symlink, never blocking on a FIFO), and no
further than the log allows (`files.py`).

VALID (exit 0): intact, closed, and the run finished (its last segment has a run_finished and
closes with that outcome, not "waiting" or "interrupted").
INCOMPLETE (exit 3): intact, but never closed (a crash, a kill, a cut: records after the last
signed one are unauthenticated), or closed without the run finishing (a later segment may
be missing). INVALID (exit 1): anything else.
"""
from __future__ import annotations

import hashlib
import os
import re
import stat
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import FORMAT_VERSION, NAMESPACE, SEGMENT_GLOB, segment_name, sshsig
from .allowed import AllowedSigners
from .canon import CanonError, canonical, parse_line, parse_ts, valid_ts
from .files import CHUNK, MAX_SEGMENT, MAX_SIG, UnsafeFile, gunzip_regular, read_regular
from .records import HEX32, TOP, ZERO, check_data, signed_view
from .store import EMPTY_SHA256

EXIT = {"VALID": 0, "INVALID": 1, "INCOMPLETE": 3}
POOL_BATCH = 256
"""Signatures are checked in batches on threads (OpenSSL releases the GIL) while parsing goes on."""
LOOKS_LIKE_SEGMENT = re.compile(r"\Aaudit-.*\.jsonl\Z")
"""A file a reader would take for a segment: in a run directory, each must be one of the chain."""
UNFINISHED_CLOSE = ("waiting", "interrupted")


class _Fail(Exception):
    def __init__(self, index: int, reason: str):
        super().__init__(reason)
        self.index = index
        self.reason = reason


@dataclass
class Segment:
    path: Path
    status: str = "INVALID"
    index: int | None = None
    reason: str = ""
    count: int = 0
    """Intact records (up to the first bad one)."""
    records: list[dict[str, Any]] = field(default_factory=list)
    """Every intact record, when the caller asked to keep them."""
    open: dict[str, Any] | None = None
    """The data of log_open."""
    close: dict[str, Any] | None = None
    """The data of log_close, if the segment was closed."""
    finished: dict[str, Any] | None = None
    """The data of its last run_finished, if any."""
    log_id: str = ""
    last_ts: str = ""
    torn: bytes = b""
    size: int = 0
    last_signed: int = -1
    detached: str = "missing"
    notes: list[str] = field(default_factory=list)
    head: str = ZERO
    """SHA-256 of the last intact line (what a continuing segment names)."""
    degraded: list[str] = field(default_factory=list)
    """Dangerous steps that ran without a witness's cosignature (the operator typed so)."""
    approvals: list[str] = field(default_factory=list)
    """Four-eyes decisions: who asked, who approved or rejected, which step."""


@dataclass
class Report:
    status: str
    line: str
    segments: list[Segment]
    notes: list[str] = field(default_factory=list)
    unfinished: str = ""
    """Why the run is not finished ('' when it finished, or when the log is INVALID)."""

    @property
    def degraded(self) -> list[str]:
        """Why the run is degraded: each dangerous step it ran without a witness's cosignature."""
        return [f"{s.path.name}: {d}" for s in self.segments for d in s.degraded]

    @property
    def approvals(self) -> list[str]:
        return [f"{s.path.name}: {a}" for s in self.segments for a in s.approvals]

    @property
    def exit_code(self) -> int:
        return EXIT[self.status]

    @property
    def records(self) -> list[dict[str, Any]]:
        return [r for s in self.segments for r in s.records]


class _Blobs:
    def __init__(self, directory: Path):
        self.dir = directory
        self.seen: dict[tuple[str, int], str] = {}

    def check(self, sha: str, size: int) -> str:
        if (sha, size) not in self.seen:
            self.seen[(sha, size)] = self._check(sha, size)
        return self.seen[(sha, size)]

    def _check(self, sha: str, size: int) -> str:
        """'' if outputs/<sha>.gz is a regular file holding `size` bytes that hash to `sha`. It is
        read no further than the record allows (a little past `size`, to tell a changed output
        from a longer one), so a gzip bomb or an endless file costs nothing."""
        path = self.dir / f"{sha}.gz"
        h, n = hashlib.sha256(), 0
        try:
            for chunk in gunzip_regular(path, size, limit=2 * size + CHUNK):
                h.update(chunk)
                n += len(chunk)
        except FileNotFoundError:
            return f"output {path.name} is missing"
        except UnsafeFile as exc:
            return f"output {exc}"
        except (OSError, EOFError, zlib.error) as exc:
            return f"output {path.name} is damaged ({exc})"
        if h.hexdigest() != sha:
            return f"{path.name} does not hash to its name"
        if n != size:
            return f"output {path.name} holds {n} bytes, the record says {size}"
        return ""

    def command(self, data: dict[str, Any]) -> str:
        """'' if a command_finished record's outputs are all there, as recorded."""
        for which, stream in enumerate(("stdout", "stderr")):
            sha, size = data[f"{stream}_sha256"], data[f"{stream}_size"]
            if size == 0:
                why = "" if sha == EMPTY_SHA256 else "is empty but its hash is not"
            else:
                why = self.check(sha, size)
            if why:
                return f"{stream}: {why}"
            if sum(t[2] for t in data["timing"] if t[1] == which) != size:
                return f"{stream}: its timing does not add up to its size"
        return ""


_GOOD: dict[tuple[bytes, str, bytes], None] = {}
"""Signatures already found good in this process (verification is a pure function of these
exact bytes): reading a log for a resume and verifying it again costs one check, not two."""


def _check_one(message: bytes, text: str, key: bytes) -> str:
    digest = hashlib.sha512(message).digest()
    memo = (digest, text, key)
    if memo in _GOOD:
        return ""
    try:
        sshsig.verify(text, namespace=NAMESPACE, digest=digest, public_blob=key)
    except sshsig.SigError as exc:
        return str(exc)
    if len(_GOOD) > 50000:
        _GOOD.clear()
    _GOOD[memo] = None
    return ""


def _check_batch(batch: list[tuple[int, str, bytes, str, bytes]]) -> tuple[int, str] | None:
    for index, what, message, text, key in batch:
        why = _check_one(message, text, key)
        if why:
            return index, f"{what}: {why}"
    return None


class _Sigs:
    """Signature checks, in batches on a thread pool (OpenSSL releases the GIL) while parsing
    goes on; the first failing record wins."""

    def __init__(self, threads: bool = True) -> None:
        self.batch: list[tuple[int, str, bytes, str, bytes]] = []
        self.futures: list[Future] = []
        self.pool: ThreadPoolExecutor | None = None
        self.threads = threads

    def add(self, index: int, what: str, message: bytes, text: str, key: bytes) -> None:
        self.batch.append((index, what, message, text, key))
        if len(self.batch) >= POOL_BATCH and self.threads:
            self.pool = self.pool or ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2))
            self.futures.append(self.pool.submit(_check_batch, self.batch))
            self.batch = []

    def first_failure(self) -> tuple[int, str] | None:
        results = [_check_batch(self.batch)] if self.batch else []
        results += [f.result() for f in self.futures]
        if self.pool:
            self.pool.shutdown()
        fails = [r for r in results if r is not None]
        return min(fails) if fails else None


def _key(line: str, what: str, index: int) -> bytes:
    try:
        blob = sshsig.parse_public_line(line)
    except sshsig.SigError as exc:
        raise _Fail(index, f"{what}: {exc}") from None
    if sshsig.key_type(blob) not in sshsig.KEY_TYPES:
        raise _Fail(index, f"{what}: unsupported key type")
    if sshsig.public_line(blob) != line:
        raise _Fail(index, f"{what}: not written as `type base64`")
    return blob


@dataclass
class _Scan:
    """What checking lines [start, end) found; a big log is scanned in parts, in parallel."""

    start: int
    fail: tuple[int, str] | None = None
    count: int = 0
    records: list[dict[str, Any]] = field(default_factory=list)
    open: dict[str, Any] | None = None
    close: dict[str, Any] | None = None
    finished: dict[str, Any] | None = None
    log_id: str = ""
    last_ts: str = ""
    last_signed: int = -1
    head: str = ZERO
    notes: list[str] = field(default_factory=list)
    commands: list[tuple[int, bool, str, str]] = field(default_factory=list)
    """(record, sent?, step, node): matched across parts to find commands never finished."""
    degraded: list[str] = field(default_factory=list)
    approvals: list[str] = field(default_factory=list)


def _scan(lines: list[bytes], start: int, end: int, allowed: AllowedSigners | None, out_dir: Path | None, keep: bool,
          threads: bool = True) -> _Scan:
    """Check lines [start, end) in order, taking what came before from lines 0 and start-1
    (a part starting past a bad line finds nothing: the part holding that line reports it)."""
    scan = _Scan(start)
    prev, log_id, last_ts, last_mono, closed = ZERO, "", "", 0, False
    session = signer = b""
    principal = ""
    opened: dict[str, Any] = {}
    if start > 0:
        try:
            first, before = parse_line(lines[0]), parse_line(lines[start - 1])
            log_id, opened = first["log"], first["data"]
            session = sshsig.parse_public_line(first["data"]["session_key"])
            signer = sshsig.parse_public_line(first["data"]["signer"]["key"])
            principal = first["data"]["signer"]["principal"]
            prev = hashlib.sha256(lines[start - 1]).hexdigest()
            last_ts, last_mono, closed = before["ts"], before["mono"], before["type"] == "log_close"
        except Exception:
            return scan
    sigs = _Sigs(threads)
    blobs = _Blobs(out_dir) if out_dir is not None else None
    i = start
    try:
        for i in range(start, end):
            line = lines[i]
            try:
                rec = parse_line(line)
            except CanonError as exc:
                raise _Fail(i, str(exc)) from None
            if rec.keys() != TOP:
                raise _Fail(i, "wrong top-level fields: " + ", ".join(sorted(rec.keys() ^ TOP)))
            if rec["v"] != FORMAT_VERSION:
                raise _Fail(i, f"unsupported version {rec['v']!r}")
            if rec["seq"] != i or type(rec["seq"]) is not int:
                raise _Fail(i, f"seq is {rec['seq']!r}, expected {i} (a record was removed, inserted or moved)")
            if closed:
                raise _Fail(i, "a record after log_close")
            if rec["prev"] != prev:
                raise _Fail(i, "prev is not the SHA-256 of the record before it (a record was changed, removed or moved)")
            if i == 0:
                if type(rec["log"]) is not str or not HEX32.match(rec["log"]):
                    raise _Fail(i, "log id is not 32 hex digits")
                log_id = rec["log"]
            elif rec["log"] != log_id:
                raise _Fail(i, f"the record belongs to another log ({str(rec['log'])[:12]}…, this one is {log_id[:12]}…)")
            kind, data, ts, mono = rec["type"], rec["data"], rec["ts"], rec["mono"]
            if type(kind) is not str:
                raise _Fail(i, "type is not a string")
            if (kind == "log_open") != (i == 0):
                raise _Fail(i, "the first record must be log_open, and only the first")
            why = check_data(kind, data)
            if why:
                raise _Fail(i, why)
            if not valid_ts(ts):
                raise _Fail(i, "ts is not an RFC 3339 UTC time with microseconds")
            if ts < last_ts:
                scan.notes.append(f"record {i}: the wall clock went back ({last_ts} → {ts})")
            last_ts = ts
            if type(mono) is not int or mono < last_mono:
                raise _Fail(i, "mono went back (records out of order)")
            last_mono = mono
            if kind == "checkpoint":
                sigs.add(i, "session signature (sig)", canonical(signed_view(rec)), data["sig"], session)
                scan.last_signed = i
            elif kind == "command_sent":
                scan.commands.append((i, True, data["step_id"], data["node"]))
            elif kind == "run_started":
                said = (data["run_id"], data["runbook_id"], data["runbook_sha256"])
                if said != (opened["run_id"], opened["runbook_id"], opened["runbook_sha256"]):
                    raise _Fail(i, f"run_started names run {data['run_id']!r} of {data['runbook_id']!r} (runbook {data['runbook_sha256'][:12]}…), "
                                   f"log_open run {opened['run_id']!r} of {opened['runbook_id']!r} ({opened['runbook_sha256'][:12]}…)")
            elif kind == "run_finished":
                scan.finished = data
            elif kind == "witness_gate" and data["outcome"] == "unwitnessed":
                scan.degraded.append(f"record {i}: {data['step_id']} ran without a witness's cosignature, typed by {data['os_user'] or '?'}")
            elif kind == "approval_decided" and data["verdict"] in ("approved", "rejected"):
                scan.approvals.append(f"record {i}: {data['step_id']}: {data['verdict']} by {data['approver']} ({data['approver_key']})")
            elif kind == "command_finished":
                scan.commands.append((i, False, data["step_id"], data["node"]))
                if blobs is not None:
                    why = blobs.command(data)
                    if why:
                        raise _Fail(i, why)
            elif kind == "log_open":
                if data["namespace"] != NAMESPACE:
                    raise _Fail(i, f"namespace {data['namespace']!r} is not {NAMESPACE!r}")
                session = _key(data["session_key"], "session key", i)
                if sshsig.key_type(session) != "ssh-ed25519":
                    raise _Fail(i, "the session key is not Ed25519")
                signer = _key(data["signer"]["key"], "signer key", i)
                principal = data["signer"]["principal"]
                if data["signer"]["fingerprint"] != sshsig.fingerprint(signer):
                    raise _Fail(i, "the signer's fingerprint does not match its key")
                if data["signer"]["kind"] == "ephemeral" and not data["training"]:
                    raise _Fail(i, "an ephemeral signing key is only for training runs")
                if (data["segment"] == 0) != (data["previous"] is None) or data["segment"] < 0:
                    raise _Fail(i, "segment number and previous segment disagree")
                _allowed(allowed, principal, signer, ts, i)
                sigs.add(i, "operator signature (attest)", canonical(signed_view(rec)), data["attest"], signer)
                scan.open, scan.log_id, scan.last_signed, opened = data, log_id, i, data
            elif kind == "log_close":
                if data["records"] != i:
                    raise _Fail(i, f"log_close counts {data['records']} records before it, not {i}")
                _allowed(allowed, principal, signer, ts, i)
                message = canonical(signed_view(rec))
                sigs.add(i, "session signature (sig)", message, data["sig"], session)
                sigs.add(i, "operator signature (attest)", message, data["attest"], signer)
                scan.close, scan.last_signed, closed = data, i, True
            if keep:
                scan.records.append(rec)
            scan.count += 1
            prev = hashlib.sha256(line).hexdigest()
    except _Fail as f:
        scan.fail = (f.index, f.reason)
    failed = sigs.first_failure()
    if failed is not None and (scan.fail is None or failed[0] <= scan.fail[0]):
        scan.fail = failed
    if scan.fail is not None:
        scan.count = scan.fail[0] - start
        del scan.records[scan.count:]
    scan.head, scan.last_ts = prev, last_ts
    return scan


_SHARED: tuple[list[bytes], AllowedSigners | None, Path | None] = ([], None, None)
THREADS_IN_PARTS = False


def _scan_part(bounds: tuple[int, int]) -> _Scan:
    """In a worker process (forked: the lines are inherited, not sent)."""
    lines, allowed, out_dir = _SHARED
    return _scan(lines, bounds[0], bounds[1], allowed, out_dir, False, threads=THREADS_IN_PARTS)


def _scan_parallel(lines: list[bytes], allowed: AllowedSigners | None, out_dir: Path | None, workers: int) -> list[_Scan]:
    global _SHARED
    import multiprocessing

    _SHARED = (lines, allowed, out_dir)
    step = -(-len(lines) // (workers * 2))
    bounds = [(i, min(i + step, len(lines))) for i in range(0, len(lines), step)]
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            return pool.map(_scan_part, bounds, chunksize=1)
    finally:
        _SHARED = ([], None, None)


PARALLEL_MIN = 20000
"""Lines from which a log is checked in parts by several processes (when records need not be kept)."""


def check_segment(path: Path, allowed: AllowedSigners | None = None, outputs: bool = True, data: bytes | None = None,
                  keep: bool = True, max_size: int | None = None) -> Segment:
    """Check one segment file (or `data`, as if it were that file's content).

    `keep`: keep every record (for a reader); without it a big log is checked in parallel.
    `max_size`: the size the next segment names (a larger file is not read)."""
    seg = Segment(path)
    try:
        if data is None:
            limit = f"the {max_size} bytes the next segment names" if max_size is not None else f"the {MAX_SEGMENT >> 20} MiB a segment may hold"
            raw = read_regular(path, MAX_SEGMENT if max_size is None else max_size, limit)
        else:
            raw = data
    except UnsafeFile as exc:
        seg.index, seg.reason = 0, str(exc)
        return seg
    except OSError as exc:
        seg.index, seg.reason = 0, f"cannot read {path}: {exc.strerror}"
        return seg
    seg.size = len(raw)
    end = raw.rfind(b"\n")
    lines = raw[:end].split(b"\n") if end >= 0 else []
    seg.torn = raw[end + 1 :]
    out_dir = path.parent / "outputs" if outputs else None
    workers = min(os.cpu_count() or 1, 8)
    if not keep and len(lines) >= PARALLEL_MIN and workers > 1:
        parts = _scan_parallel(lines, allowed, out_dir, workers)
    else:
        parts = [_scan(lines, 0, len(lines), allowed, out_dir, keep)]
    failed = [p for p in parts if p.fail is not None]
    if failed:
        first = min(failed, key=lambda p: p.fail[0])  # type: ignore[index]
        seg.index, seg.reason = first.fail  # type: ignore[misc]
        parts = [p for p in parts if p.start <= seg.index]
    for p in parts:
        seg.records += p.records
        seg.notes += p.notes
        seg.last_signed = max(seg.last_signed, p.last_signed)
        seg.finished = p.finished or seg.finished
        seg.degraded += p.degraded
        seg.approvals += p.approvals
    seg.count = seg.index if seg.index is not None else len(lines)
    seg.open = parts[0].open if parts and seg.count > 0 else None
    if seg.index is not None:
        seg.status = "INVALID"
        return seg
    last = parts[-1] if parts else _Scan(0)
    seg.close, seg.head, seg.last_ts, seg.log_id = last.close, last.head, last.last_ts, parts[0].log_id if parts else ""
    pending: dict[tuple[str, str], int] = {}
    for p in parts:
        for i, sent, step, node in p.commands:
            if sent:
                pending[(step, node)] = i
            else:
                pending.pop((step, node), None)
    for (step, node), i in sorted(pending.items(), key=lambda kv: kv[1]):
        seg.notes.append(f"record {i}: the command of step {step} on {node} was sent and never reported finished (outcome in doubt)")
    sig_path = path.with_name(path.name + ".sig")
    if seg.close is not None and seg.torn:
        seg.status, seg.index, seg.reason = "INVALID", seg.count, f"{len(seg.torn)} bytes after log_close"
        return seg
    if seg.close is not None and seg.finished is not None and seg.close["outcome"] != seg.finished["outcome"]:
        seg.status, seg.index = "INVALID", seg.count - 1
        seg.reason = f"log_close says the run ended {seg.close['outcome']!r}, its run_finished {seg.finished['outcome']!r}"
        return seg
    if seg.close is not None:
        seg.status = "VALID"
        if os.path.lexists(sig_path):
            assert seg.open is not None
            try:
                text = read_regular(sig_path, MAX_SIG, f"the {MAX_SIG // 1024} KiB a signature may hold")
                sshsig.verify(text, namespace=NAMESPACE, digest=hashlib.sha512(raw).digest(),
                              public_blob=sshsig.parse_public_line(seg.open["signer"]["key"]))
                seg.detached = "valid"
            except UnsafeFile as exc:
                seg.status, seg.index, seg.reason = "INVALID", seg.count - 1, f"detached signature: {exc}"
            except (OSError, sshsig.SigError) as exc:
                seg.status, seg.index = "INVALID", seg.count - 1
                seg.reason = f"detached signature {sig_path.name}: {exc}"
        else:
            seg.notes.append(f"no detached signature {sig_path.name} (the process may have stopped just after closing the log)")
    else:
        seg.status = "INCOMPLETE"
        if os.path.lexists(sig_path):
            seg.detached = "stale"
    return seg


def _allowed(allowed: AllowedSigners | None, principal: str, key: bytes, ts: str, index: int) -> None:
    if allowed is None:
        return
    why = allowed.check(principal, key, NAMESPACE, parse_ts(ts))
    if why:
        raise _Fail(index, f"signer {principal} ({sshsig.fingerprint(key)}) is not allowed: {why}")


def segments_of(directory: Path) -> list[Path]:
    return sorted(directory.glob(SEGMENT_GLOB))


def verify_path(path: Path, allowed_signers: Path | AllowedSigners | None = None, outputs: bool = True, data: bytes | None = None,
                keep: bool = True) -> Report:
    """Verify a segment file (with the segments it continues) or a run directory (its last
    segment, the chain back to segment 0, and that the directory holds that run and nothing else).

    `data`: the content to check instead of what the segment file holds (tests use it).
    `keep`: keep every record in the report (readers need them; `hamn audit verify` does not)."""
    path = Path(path)
    allowed = allowed_signers if isinstance(allowed_signers, AllowedSigners) or allowed_signers is None else AllowedSigners.read(allowed_signers)
    notes: list[str] = list(allowed.problems) if allowed else []
    directory: Path | None = None
    if path.is_dir():
        directory = path
        found = segments_of(path)
        if not found:
            return Report("INVALID", f"INVALID: record 0: no audit log ({SEGMENT_GLOB}) in {path}", [])
        path = found[-1]
    chain = [check_segment(path, allowed, outputs, data, keep)]
    later = [p.name for p in segments_of(path.parent) if p.name > path.name] if directory is None and path.name.startswith("audit-") else []
    if later:
        notes.append(f"this run continues in {', '.join(later)}: verify the run directory {path.parent} for all of it")
    failure = _links(chain, allowed, outputs, keep, loose=directory is None and not LOOKS_LIKE_SEGMENT.match(path.name))
    chain.reverse()
    for s in chain:
        notes += [f"{s.path.name}: {n}" for n in s.notes]
    if not failure and directory is not None:
        failure = _directory_holds(directory, chain)
    if failure:
        return Report("INVALID", failure, chain, notes)
    unfinished = _unfinished(chain)
    status = "INCOMPLETE" if unfinished and chain[-1].status == "VALID" else chain[-1].status
    line = _summary(chain, allowed_signers, unfinished)
    degraded = sum(len(s.degraded) for s in chain)
    if degraded:
        line += f"; DEGRADED: {degraded} dangerous step{'s' if degraded > 1 else ''} ran without a witness's cosignature"
    return Report(status, line, chain, notes, unfinished)


def _links(chain: list[Segment], allowed: AllowedSigners | None, outputs: bool, keep: bool, loose: bool = False) -> str:
    """Follow each segment's `previous` back to segment 0; '' or the INVALID line.

    Each segment must be the file its number names, and name the one before it by its number:
    a segment renamed, or copied in from another run, is not part of the chain. `loose`: the
    segment given is an auditor's copy under another name (not `audit-*.jsonl`)."""
    while True:
        seg = chain[-1]
        where = "" if len(chain) == 1 else f"in {seg.path.name}: "
        if seg.status == "INVALID":
            return f"INVALID: record {seg.index}: {where}{seg.reason}"
        if len(chain) > 1:
            later = chain[-2]
            if seg.close is not None and seg.close["outcome"] not in UNFINISHED_CLOSE:
                return f"INVALID: record 0: in {later.path.name}: it continues {seg.path.name}, a run that had ended ({seg.close['outcome']})"
        opened = seg.open
        if opened is None:
            return ""
        own = segment_name(opened["segment"])
        if seg.path.name != own and not (loose and len(chain) == 1):
            return f"INVALID: record 0: {seg.path.name} is segment {opened['segment']} ({own}) of run {opened['run_id']}: not in its place"
        if opened["previous"] is None:
            return ""
        p = opened["previous"]
        want = segment_name(opened["segment"] - 1)
        if p["file"] != want or len(chain) > 999:
            return f"INVALID: record 0: {where}it names {p['file']!r} as the segment it continues, not {want}"
        prev_path = seg.path.parent / p["file"]
        try:
            st = os.lstat(prev_path)
        except FileNotFoundError:
            return f"INVALID: record 0: {where}the segment it continues, {p['file']}, is missing"
        except OSError as exc:
            return f"INVALID: record 0: {where}cannot read {p['file']}: {exc.strerror}"
        if stat.S_ISREG(st.st_mode) and st.st_size > p["size"]:  # not read: it cannot be what it names
            return (f"INVALID: record 0: {where}the segment it continues, {p['file']}, is not what it names "
                    f"(size differs: {st.st_size} bytes, it names {p['size']})")
        before = check_segment(prev_path, allowed, outputs, keep=keep, max_size=p["size"])
        chain.append(before)
        if before.status == "INVALID":
            continue  # reported above on the next turn
        pb = before.open or {}
        problems = [what for what, ok in (
            ("log id", before.log_id == p["log"]), ("size", before.size == p["size"]), ("last line hash", before.head == p["head"]),
            ("last seq", before.count - 1 == p["seq"]), ("torn tail", len(before.torn) == p["torn_bytes"] and
                                                                 (hashlib.sha256(before.torn).hexdigest() if before.torn else None) == p["torn_sha256"]),
            ("segment number", pb.get("segment", -1) + 1 == opened["segment"]), ("run id", pb.get("run_id") == opened["run_id"]),
            ("runbook id", pb.get("runbook_id") == opened["runbook_id"]), ("runbook", pb.get("runbook_sha256") == opened["runbook_sha256"]),
        ) if not ok]
        if problems:
            return f"INVALID: record 0: {where}the segment it continues, {p['file']}, is not what it names ({', '.join(problems)} differ)"


def _directory_holds(directory: Path, chain: list[Segment]) -> str:
    """'' if a run directory is named for the run its chain records (`<runbook id>-<run id>`) and
    holds no segment outside the chain; else the INVALID line."""
    opened = next((s.open for s in chain if s.open), None)
    name = Path(os.path.abspath(directory)).name
    if opened is not None:
        expected = f"{opened['runbook_id']}-{opened['run_id']}"
        if name != expected:
            return (f"INVALID: record 0: the run directory {name} holds another run's log: run {opened['run_id']!r} of "
                    f"{opened['runbook_id']!r}, whose directory is {expected}")
    chained = {s.path.name for s in chain}
    stray = sorted(p.name for p in directory.iterdir() if LOOKS_LIKE_SEGMENT.match(p.name) and p.name not in chained)
    if stray:
        return (f"INVALID: record 0: {', '.join(stray)} {'is' if len(stray) == 1 else 'are'} not part of the run's chain of segments "
                f"({', '.join(sorted(chained))})")
    return ""


def _unfinished(chain: list[Segment]) -> str:
    """Why the run of an intact chain did not finish ('' if it did): never closed, closed
    "waiting" or "interrupted", or closed with no run_finished."""
    last = chain[-1]
    if last.status != "VALID":
        return f"{last.path.name} was never closed"
    outcome = (last.close or {}).get("outcome")
    if outcome in UNFINISHED_CLOSE:
        how = "the run stopped to wait for an answer" if outcome == "waiting" else "the process stopped before the run finished"
        return f"its last segment, {last.path.name}, was closed {outcome!r} ({how}) and no later segment finishes it"
    if last.finished is None:
        return f"its last segment, {last.path.name}, was closed {outcome!r} with no run_finished record"
    return ""


def _summary(chain: list[Segment], allowed_signers: Path | AllowedSigners | None, unfinished: str = "") -> str:
    last = chain[-1]
    opened = last.open or {}
    first = chain[0].open or {}
    n = sum(s.count for s in chain)
    segs = f"{len(chain)} segment{'s' if len(chain) > 1 else ''}"
    who = sorted({f"{s.open['signer']['principal']} ({s.open['signer']['fingerprint']}, {s.open['signer']['kind']} key via {s.open['signer']['source']})" for s in chain if s.open})
    source = allowed_signers.source if isinstance(allowed_signers, AllowedSigners) else allowed_signers
    checked = f"signers checked against {source}" if allowed_signers else "signers NOT checked against an allowed_signers file (give --allowed-signers)"
    training = "TRAINING " if opened.get("training") else ""
    run = f"{training}run {first.get('run_id') or '?'} ({first.get('runbook_id') or '?'})"
    if last.status == "VALID" and unfinished:
        return f"INCOMPLETE: {run}: unfinished: {unfinished}; {n} records in {segs}, intact and signed by {'; '.join(who)}; {checked}"
    if last.status == "VALID":
        close = last.close or {}
        end = last.last_ts
        return f"VALID: {run}, {n} records in {segs}, closed {close.get('outcome')!r} at {end}; signed by {'; '.join(who)}; {checked}"
    if not last.count:
        return f"INCOMPLETE: {last.path.name}: unfinished: nothing was recorded" + (f" ({len(last.torn)} bytes of a torn first record)" if last.torn else "")
    unauth = last.count - 1 - last.last_signed
    parts = [f"INCOMPLETE: {run}: unfinished: {last.path.name} has {last.count} intact records and was never closed",
             f"the last signed record is {last.last_signed}" + (f", the {unauth} after it are unauthenticated" if unauth else "")]
    if last.torn:
        parts.append(f"torn tail of {len(last.torn)} bytes")
    if last.detached == "stale":
        parts.append(f"{last.path.name}.sig exists, so the log had been closed and was cut afterwards")
    return "; ".join(parts)
