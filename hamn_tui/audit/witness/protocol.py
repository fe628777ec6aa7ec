"""One request and one answer over the stdin and stdout of an SSH forced command.

Request (bytes; the header is ASCII, one field a line, in this order):

    hamn-witness/1 add
    note <bytes>
    from <first record index>
    records <count> <bytes>
    <blank line>
    <the signed checkpoint note><the records, each ending in a newline>

or `hamn-witness/1 holds <origin>\\n` (how many records of that log the witness holds, so a
sender knows where to start). Answers: `ok <size>\\n` then the cosignature line
(`— name base64`), `holds <n>\\n`, or `refused: <reason>\\n`. The whole request is bounded
(`MAX_REQUEST`); anything else — huge, truncated, binary, a wrong count — is refused with one
line and changes nothing."""
from __future__ import annotations

import re
from dataclasses import dataclass

from .note import MAX_NOTE, NoteError, Signature, parse_signature_line
from .store import Refused, WitnessStore

MAGIC = b"hamn-witness/1"
MAX_REQUEST = 64 * 1024 * 1024
MAX_HEADER = 4096
MAX_RECORDS = 1_000_000
_INT = rb"(0|[1-9][0-9]{0,11})"


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
