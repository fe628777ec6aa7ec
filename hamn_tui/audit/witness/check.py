"""What `hamn audit verify` reads about witnesses.

- `LOG.cosig` (next to `audit-NNN.jsonl`): one canonical JSON line per cosigned checkpoint,
  `{"note": "<the checkpoint as a C2SP signed note: body, blank line, the log's signature, the
  witness's cosignature>"}` — any note library can check it with the witness's vkey.
- a witness keys file: one vkey (`name+keyid+base64(0x04||key)`) a line; `#` comments.
- a witness's state directory copied back: the records it holds, compared byte for byte with
  the console's, so a run deleted or rewritten on the console shows."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..canon import CanonError, canonical, parse_line
from ..files import MAX_SEGMENT, UnsafeFile, read_regular
from .checkpoint import leaf_hash, parse_body, parse_origin, root_of, verify_cosignature
from .note import COSIGNATURE_V1, NoteError, Signature, Verifier, parse_note, parse_signature_line, parse_vkey
from .store import Held, Refused, held_origins

COSIG_SUFFIX = ".cosig"
MAX_COSIG = 64 * 1024 * 1024


class WitnessKeysError(ValueError):
    """A witness keys file that cannot be read; the message names FILE:LINE."""


def read_witness_keys(path: Path) -> list[Verifier]:
    try:
        text = read_regular(path, 1 << 20, "a witness keys file may").decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise WitnessKeysError(f"{path}: {exc}") from None
    keys: list[Verifier] = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            v = parse_vkey(line)
        except NoteError as exc:
            raise WitnessKeysError(f"{path}:{n}: {exc}") from None
        if v.sig_type != COSIGNATURE_V1:
            raise WitnessKeysError(f"{path}:{n}: {v.name} is not a cosigner key (type 0x04)")
        keys.append(v)
    return keys


def append_cosignature(segment: Path, signed_checkpoint: bytes, cosignature: Signature) -> None:
    """Keep a witness's cosignature next to the segment (one line, appended and fsynced)."""
    from ..files import private_file, write_synced

    line = canonical({"note": signed_checkpoint.decode() + cosignature.line}) + b"\n"
    fd = private_file(Path(f"{segment}{COSIG_SUFFIX}"), os.O_APPEND)
    try:
        write_synced(fd, line)
    finally:
        os.close(fd)


@dataclass
class Witnessing:
    """How far a log is witnessed, by whom; `failure` when a cosignature contradicts the log."""

    notes: list[str] = field(default_factory=list)
    failure: str = ""
    fully: bool = True


def _when(ts: int) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _segment_lines(path: Path) -> list[bytes]:
    data = read_regular(path, MAX_SEGMENT, "a segment may")
    lines = data.split(b"\n")
    return lines[:-1]  # a torn tail (no newline) is not a record


@dataclass
class _Seen:
    """One segment's lines and, per trusted witness, (records cosigned, when)."""

    path: Path
    lines: list[bytes]
    best: dict[str, tuple[int, int]]

    @property
    def top(self) -> int:
        return max((s for s, _ in self.best.values()), default=0)


def witnessed(segments: list[Path], keys: list[Verifier]) -> Witnessing:
    """Check every cosignature stored next to these segments against the witness keys.

    A segment cut by a crash (no close; its tail perhaps never cosigned) counts as witnessed to
    its end when the next segment's opening record — which names the cut segment's size and last
    line hash — is itself witnessed and names exactly what the cut segment holds."""
    out = Witnessing()
    seen: list[_Seen] = []
    for seg in segments:
        one = _cosigned(seg, keys, out)
        if one is None:
            return out
        seen.append(one)
    by_name = {(x.path.parent, x.path.name): x for x in seen}
    for x in seen:
        seg, lines, best, top = x.path, x.lines, x.best, x.top
        if not best:
            out.notes.append(f"{seg.name}: not witnessed ({len(lines)} records)")
        else:
            who = ", ".join(f"{name} to record {size - 1} at {_when(ts)}" for name, (size, ts) in sorted(best.items()))
            out.notes.append(f"{seg.name}: witnessed {top} of {len(lines)} records: {who}")
        if top >= len(lines):
            continue
        nxt = by_name.get((seg.parent, _next_segment(seg.name)))
        if nxt is not None and nxt.top >= 1:
            why = _continues(nxt.lines[0], seg, lines)
            if why:
                out.failure = f"INVALID: record 0: in {nxt.path.name}: its witnessed opening record {why}"
                return out
            out.notes.append(f"{seg.name}: records {top}–{len(lines) - 1} witnessed through {nxt.path.stem}'s opening record")
            continue
        out.fully = False
        if best:
            out.notes.append(f"{seg.name}: unwitnessed: records {top}–{len(lines) - 1}")
    return out


def _next_segment(name: str) -> str:
    stem = name.removesuffix(".jsonl")
    if not (stem.startswith("audit-") and stem[6:].isdigit()):
        return ""
    return f"audit-{int(stem[6:]) + 1:03d}.jsonl"


def _continues(open_line: bytes, seg: Path, lines: list[bytes]) -> str:
    """'' if a log_open names `seg` as it stands (file, size, last line hash, last seq); else why not."""
    try:
        p = parse_line(open_line)["data"]["previous"]
        named = (p["file"], p["size"], p["head"], p["seq"])
    except (CanonError, KeyError, TypeError) as exc:
        return f"names no previous segment ({exc})"
    size = seg.stat().st_size
    have = (seg.name, size, hashlib.sha256(lines[-1]).hexdigest() if lines else "", len(lines) - 1)
    if named != have:
        return (f"names {named[0]} of {named[1]} bytes, last line {named[2][:16]}…, seq {named[3]}; it has "
                f"{have[1]} bytes, last line {have[2][:16]}…, seq {have[3]}")
    return ""


def _cosigned(seg: Path, keys: list[Verifier], out: Witnessing) -> _Seen | None:
    """The segment's cosignatures by trusted keys, checked against its lines; None (and
    `out.failure` set) when one contradicts the log."""
    lines = _segment_lines(seg)
    hashes = [leaf_hash(x) for x in lines]
    best: dict[str, tuple[int, int]] = {}
    cosig = Path(f"{seg}{COSIG_SUFFIX}")
    entries: list[bytes] = []
    if cosig.exists():
        try:
            entries = read_regular(cosig, MAX_COSIG, "a cosignature file may").split(b"\n")[:-1]
        except OSError as exc:
            out.failure = f"INVALID: record 0: {cosig.name}: {exc}"
            return None
    ignored = 0
    roots: dict[int, bytes] = {}
    for n, raw in enumerate(entries, 1):
        where = f"{cosig.name}:{n}"
        try:
            note = parse_note(parse_line(raw)["note"].encode())
            cp = parse_body(note.text)
            _, run_dir, seg_name = parse_origin(cp.origin)
        except (CanonError, NoteError, KeyError, TypeError, AttributeError) as exc:
            out.failure = f"INVALID: record 0: {where}: {exc}"
            return None
        if seg.name.startswith("audit-") and (seg_name != seg.name or seg.parent.name != run_dir):
            out.failure = f"INVALID: record 0: {where}: a checkpoint of {cp.origin}, not of this log"
            return None
        known = [(s, v) for s in note.signatures for v in keys if v.name == s.name and v.key_id == s.key_id]
        if not known:
            ignored += 1
            continue
        if cp.size <= len(lines) and cp.size not in roots:
            roots[cp.size] = root_of(hashes[:cp.size])
        if cp.size > len(lines) or roots[cp.size] != cp.root:
            who = ", ".join(sorted({v.name for _, v in known}))
            at = min(cp.size, len(lines))
            out.failure = (f"INVALID: record {at}: {seg.name}: {who} cosigned {cp.size} records with a root this log does not have "
                           f"(it was rewritten or cut after it was witnessed)")
            return None
        for s, v in known:
            try:
                ts = verify_cosignature(note.text, s, v)
            except NoteError as exc:
                out.failure = f"INVALID: record 0: {where}: {exc}"
                return None
            if cp.size > best.get(v.name, (0, 0))[0]:
                best[v.name] = (cp.size, ts)
    if ignored:
        out.notes.append(f"{seg.name}: {ignored} cosignature(s) by keys not in the witness keys file ignored")
    return _Seen(seg, lines, best)


def _targets(path: Path, run_dir: str, seg: str) -> Path | None:
    """Where the console should hold this segment, given what the auditor named (a run
    directory, a segment, or the directory of all runs); None when it is not about this run."""
    if path.is_file():
        return path if (path.parent.name == run_dir and path.name == seg) else None
    if path.name == run_dir:
        return path / seg
    if any(path.glob("audit-*.jsonl")):
        return None  # another run's directory
    return path / run_dir / seg


def compare_copy(path: Path, copy: Path, keys: list[Verifier] | None = None) -> tuple[list[str], list[str]]:
    """(failures, notes): each log the witness copy holds that concerns `path`, against the console's."""
    try:
        held_all = list(held_origins(copy))
    except (Refused, OSError) as exc:
        return [f"the witness copy {copy}: {exc}"], []
    if not held_all:
        return [f"the witness copy {copy} holds no logs"], []
    return compare_held(path, held_all, keys, f"the witness copy {copy}")


def compare_held(path: Path, held_all: list[tuple[Held, list[bytes]]], keys: list[Verifier] | None, source: str) -> tuple[list[str], list[str]]:
    """(failures, notes): each log a witness holds (`source` says where it came from: a copy
    directory, or fetched from a host) that concerns `path`, against the console's."""
    failures: list[str] = []
    notes: list[str] = []
    compared = 0
    for held, lines in held_all:
        _, run_dir, seg = parse_origin(held.origin)
        target = _targets(path, run_dir, seg)
        if target is None:
            continue
        compared += 1
        name = held.cosignature.split(" ")[1] if held.cosignature.startswith("\u2014 ") else "the witness"
        if keys is not None:
            try:
                note = parse_note(held.note.encode())
                sig = parse_signature_line(held.cosignature.rstrip("\n"))
                v = next((k for k in keys if k.name == sig.name and k.key_id == sig.key_id), None)
                if v is None:
                    notes.append(f"{run_dir}/{seg}: the copy's cosignature is by {sig.name}, not in the witness keys file")
                else:
                    verify_cosignature(note.text, sig, v)
                cp = parse_body(note.text)
                if cp.size != held.size or cp.root != root_of([leaf_hash(x) for x in lines]):
                    raise NoteError("the records it holds are not those of its cosigned checkpoint")
            except NoteError as exc:
                failures.append(f"{run_dir}/{seg}: the witness copy is not genuine: {exc}")
                continue
        if not target.exists():
            failures.append(f"{run_dir}/{seg}: deleted on the console: {name} holds {held.size} records of it")
            continue
        try:
            mine = _segment_lines(target)
        except (OSError, UnsafeFile) as exc:
            failures.append(f"{run_dir}/{seg}: {exc}")
            continue
        differ = next((i for i in range(min(len(mine), held.size)) if mine[i] != lines[i]), None)
        if differ is not None:
            failures.append(f"{run_dir}/{seg}: rewritten on the console: record {differ} differs from {name}'s copy")
        elif len(mine) < held.size:
            failures.append(f"{run_dir}/{seg}: cut on the console: it has {len(mine)} records, {name} holds {held.size}")
        else:
            notes.append(f"{run_dir}/{seg}: the console holds the {held.size} records {name} holds"
                         + (f", and {len(mine) - held.size} later ones it was not sent" if len(mine) > held.size else ""))
    if not compared:
        notes.append(f"{source} holds nothing of {path}")
    return failures, notes

