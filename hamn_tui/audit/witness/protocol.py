"""One request and one answer over the stdin and stdout of an SSH forced command.

Request (bytes; the header is ASCII, one field a line, in this order):

    hamn-witness/1 add
    note <bytes>
    from <first record index>
    records <count> <bytes>
    <blank line>
    <the signed checkpoint note><the records, each ending in a newline>

or `hamn-witness/1 holds <origin>\\n` (how many records of that log the witness holds, so a
sender knows where to start), or `hamn-witness/1 export <origin prefix>[ after <origin>]\\n`
(what it holds of the logs whose origin starts with the prefix: the read side, for an auditor).
Answers: `ok <size>\\n` then the cosignature line (`— name base64`), `holds <n>\\n`, an export
(below), or `refused: <reason>\\n`. The whole request is bounded (`MAX_REQUEST`); anything else —
huge, truncated, binary, a wrong count — is refused with one line and changes nothing.

An export answer is framed so that a cut or padded one cannot pass:

    export <logs> <bytes>
    <logs × (`log <state bytes> <records bytes>\\n`, its state.json, its records)>
    end | more <the last origin sent>

at most `MAX_EXPORT` bytes; `more` asks the client to go on with `after <that origin>`."""
from __future__ import annotations

import re
from dataclasses import dataclass

from .note import MAX_NOTE, NoteError, Signature, parse_signature_line
from .checkpoint import MAX_ORIGIN, parse_origin
from .store import Held, Refused, WitnessStore, parse_held, split_records

MAGIC = b"hamn-witness/1"
MAX_REQUEST = 64 * 1024 * 1024
MAX_HEADER = 4096
MAX_RECORDS = 1_000_000
_INT = rb"(0|[1-9][0-9]{0,11})"
MAX_EXPORT = 64 * 1024 * 1024
"""The most one export answer carries (a bigger holding is sent in several answers)."""
PREFIX = re.compile(r"\Ahamn/[^\s+]*\Z")


@dataclass
class AddRequest:
    note: bytes
    first: int
    lines: list[bytes]


def encode_add(signed_checkpoint: bytes, first: int, lines: list[bytes]) -> bytes:
    body = b"".join(x + b"\n" for x in lines)
    return (MAGIC + b" add\n" + b"note %d\n" % len(signed_checkpoint) + b"from %d\n" % first
            + b"records %d %d\n\n" % (len(lines), len(body)) + signed_checkpoint + body)


def encode_holds(origin: str) -> bytes:
    return MAGIC + b" holds " + origin.encode() + b"\n"


def encode_export(prefix: str, after: str = "") -> bytes:
    return MAGIC + b" export " + prefix.encode() + (b" after " + after.encode() if after else b"") + b"\n"


def _check_prefix(prefix: str) -> str:
    if len(prefix) > MAX_ORIGIN or not PREFIX.match(prefix):
        raise Refused(f"wrong origin prefix: {prefix[:80]!r} is not hamn/…")
    return prefix


def _export(store: WitnessStore, line: bytes) -> bytes:
    """Answer `export <prefix>[ after <origin>]` (the request line without the magic)."""
    m = re.fullmatch(rb"export (\S+)(?: after (\S+))?", line)
    if not m:
        raise Refused("malformed request: want 'hamn-witness/1 export <origin prefix>[ after <origin>]'")
    try:
        prefix = _check_prefix(m[1].decode("ascii"))
        after = m[2].decode("ascii") if m[2] else ""
        if after:
            parse_origin(after)
    except (UnicodeDecodeError, NoteError) as exc:
        raise Refused(f"wrong origin: {exc}") from None
    logs, more = store.export(prefix, after, MAX_EXPORT - MAX_HEADER)
    body = b"".join(b"log %d %d\n" % (len(state), len(records)) + state + records for state, records in logs)
    tail = b"more " + parse_held(logs[-1][0], "sent").origin.encode() + b"\n" if more else b"end\n"
    return b"export %d %d\n" % (len(logs), len(body)) + body + tail


def _header(data: bytes) -> tuple[list[bytes], bytes]:
    head, sep, rest = data[:MAX_HEADER].partition(b"\n\n")
    if not sep:
        raise Refused("malformed request: no header ending in a blank line within 4096 bytes")
    return head.split(b"\n"), data[len(head) + 2:]


def parse_add(data: bytes) -> AddRequest:
    lines, rest = _header(data)
    if len(lines) != 4 or lines[0] != MAGIC + b" add":
        raise Refused("malformed request: want the header 'hamn-witness/1 add', note, from, records")
    m1 = re.fullmatch(rb"note " + _INT, lines[1])
    m2 = re.fullmatch(rb"from " + _INT, lines[2])
    m3 = re.fullmatch(rb"records " + _INT + rb" " + _INT, lines[3])
    if not (m1 and m2 and m3):
        raise Refused("malformed request: bad note, from or records line")
    note_len, first, count, body_len = int(m1[1]), int(m2[1]), int(m3[1]), int(m3[2])
    if note_len > MAX_NOTE or count > MAX_RECORDS:
        raise Refused("malformed request: the note or the record count is too large")
    if len(rest) != note_len + body_len:
        raise Refused(f"truncated or padded request: {len(rest)} bytes after the header, the header says {note_len + body_len}")
    body = rest[note_len:]
    records = body.split(b"\n")
    if body and records[-1] != b"" or len(records) - 1 != count:
        raise Refused(f"malformed request: the records are not {count} newline-terminated lines")
    return AddRequest(rest[:note_len], first, records[:-1])


def handle(store: WitnessStore, data: bytes) -> tuple[bytes, bool]:
    """The answer to one request, and whether it was accepted. Never raises for bad input."""
    try:
        if len(data) > MAX_REQUEST:
            raise Refused(f"request larger than {MAX_REQUEST} bytes")
        first_line = data[:MAX_HEADER].partition(b"\n")[0]
        if first_line.startswith(MAGIC + b" holds "):
            origin = first_line[len(MAGIC) + 7:]
            if data != first_line + b"\n":
                raise Refused("malformed request: a holds request is one line")
            try:
                return b"holds %d\n" % store.holds(origin.decode("ascii")), True
            except (UnicodeDecodeError, NoteError) as exc:
                raise Refused(f"wrong origin: {exc}") from None
        if first_line.startswith(MAGIC + b" export "):
            if data != first_line + b"\n":
                raise Refused("malformed request: an export request is one line")
            return _export(store, first_line[len(MAGIC) + 1:]), True
        req = parse_add(data)
        sig = store.add(req.note, req.first, req.lines)
        return b"ok %d\n" % (req.first + len(req.lines)) + sig.line.encode(), True
    except Refused as exc:
        return b"refused: " + _one_line(str(exc)) + b"\n", False


def _one_line(text: str) -> bytes:
    return "".join(c if c.isprintable() else "?" for c in text)[:300].encode()


@dataclass
class Answer:
    ok: bool
    text: str
    """The reason (refused) or the first line."""
    cosignature: Signature | None = None
    holds: int | None = None


def parse_answer(data: bytes) -> Answer:
    """A witness's answer; anything unexpected is a refusal naming what came."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return Answer(False, "the witness's answer is not UTF-8")
    lines = text.split("\n")
    if lines and lines[0].startswith("refused: "):
        return Answer(False, lines[0][9:])
    m = re.fullmatch(r"holds (0|[1-9][0-9]*)", lines[0]) if lines else None
    if m and text == lines[0] + "\n":
        return Answer(True, lines[0], holds=int(m[1]))
    if len(lines) == 3 and lines[2] == "" and re.fullmatch(r"ok (0|[1-9][0-9]*)", lines[0]):
        try:
            return Answer(True, lines[0], cosignature=parse_signature_line(lines[1]))
        except NoteError as exc:
            return Answer(False, f"the witness's cosignature is malformed: {exc}")
    return Answer(False, f"unexpected answer from the witness: {text[:80]!r}")


class ExportError(ValueError):
    """An export answer that cannot be trusted as one (cut, padded, garbage, too big); one line."""


@dataclass
class Export:
    logs: list[tuple[Held, list[bytes]]]
    more: str
    """The last origin sent when the witness holds more ("": all sent)."""


def parse_export(data: bytes, prefix: str, after: str = "") -> Export:
    """An export answer, checked frame by frame; anything else raises `ExportError`."""
    if data.startswith(b"refused: "):
        raise ExportError("refused: " + _one_line(data[9:].partition(b"\n")[0].decode("utf-8", "replace")).decode())
    if len(data) > MAX_EXPORT:
        raise ExportError(f"the answer is larger than {MAX_EXPORT} bytes")
    m = re.match(rb"export " + _INT + rb" " + _INT + rb"\n", data)
    if not m:
        raise ExportError(f"not an export answer: {_one_line(repr(data[:60])).decode()}")
    count, size = int(m[1]), int(m[2])
    body, tail = data[m.end():m.end() + size], data[m.end() + size:]
    if len(body) != size:
        raise ExportError(f"truncated export answer: {len(body)} of {size} bytes")
    t = re.fullmatch(rb"end\n|more (\S+)\n", tail)
    if not t:
        raise ExportError("truncated or padded export answer: it does not end with 'end' or 'more <origin>'")
    logs: list[tuple[Held, list[bytes]]] = []
    last = after
    pos = 0
    while pos < len(body):
        h = re.match(rb"log " + _INT + rb" " + _INT + rb"\n", body[pos:pos + 64])
        if not h:
            raise ExportError(f"malformed export answer: log {len(logs)} has no 'log <bytes> <bytes>' line")
        pos += h.end()
        state, records = body[pos:pos + int(h[1])], body[pos + int(h[1]):pos + int(h[1]) + int(h[2])]
        pos += int(h[1]) + int(h[2])
        if pos > len(body):
            raise ExportError(f"malformed export answer: log {len(logs)} runs past the answer's end")
        try:
            held = parse_held(state, f"of log {len(logs)} in the answer")
            parse_origin(held.origin)
            lines = split_records(records, held)
        except (Refused, NoteError) as exc:
            raise ExportError(f"malformed export answer: {exc}") from None
        if not held.origin.startswith(prefix) or held.origin <= last:
            raise ExportError(f"malformed export answer: {held.origin} is not after {last or 'the start'} under {prefix}")
        last = held.origin
        logs.append((held, lines))
    if len(logs) != count:
        raise ExportError(f"malformed export answer: {len(logs)} logs, the header says {count}")
    more = t[1].decode("ascii", "replace") if t[1] else ""
    if more and (not logs or more != last):
        raise ExportError("malformed export answer: 'more' does not name the last log sent")
    return Export(logs, more)
