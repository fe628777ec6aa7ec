"""`parse_any`: tell which DB2 output a text is (db2pd 9.x / 10.1+, its special messages, a snapshot,
a db cfg listing) and parse it; anything else is a ParseError that says what was expected.

Detection looks for each format's own marker lines, not for the first line, so a pasted shell
prompt or a leading blank line does not matter; a text with the markers of two formats is refused
(one reading per input).
"""
from __future__ import annotations

import re
from typing import Callable

from .db2pd import BANNER, INFO_9, KV, NOT_ACTIVATED, NOT_ACTIVE, OPTION_HADR, TRANSIENT, parse_db2pd
from .dbcfg import parse_dbcfg
from .model import HadrStatus, ParseError
from .normalise import lines_of, snippet
from .snapshot import HEADER as SNAPSHOT_HEADER, parse_snapshot

EXPECTED = ("db2pd -db <database> -hadr output (DB2 9.x or 10.1+), the HADR section of db2 get snapshot for db, "
            "or db2 get db cfg for <database>")
_DBCFG = re.compile(r"^\s*HADR database role\s*=|\(HADR_LOCAL_HOST\)\s*=", re.I)
_ROLE_9 = re.compile(r"^\s*Role\s+State\s+SyncMode\b")


def detect(text: str) -> str:
    """'db2pd', 'snapshot' or 'dbcfg'; ParseError when none (or several) match."""
    lines = lines_of(text, EXPECTED)
    found: dict[str, int] = {}
    for line in lines:
        t = line.text
        if (BANNER.match(t) or NOT_ACTIVATED.match(t) or OPTION_HADR.match(t) or NOT_ACTIVE.match(t) or INFO_9.match(t)
                or _ROLE_9.match(t) or any(m.lower() in t.lower() for m in TRANSIENT)
                or ((m := KV.match(t)) and m.group("key") == "HADR_ROLE")):
            found.setdefault("db2pd", line.no)
        elif SNAPSHOT_HEADER.match(t):
            found.setdefault("snapshot", line.no)
        elif _DBCFG.search(t):
            found.setdefault("dbcfg", line.no)
    if len(found) > 1:
        (a, la), (b, lb) = sorted(found.items(), key=lambda kv: kv[1])[:2]
        raise ParseError(f"both {a} output (line {la}) and {b} output: give one reading per input", lb)
    if not found:
        first = next(l for l in lines if l.text.strip())
        raise ParseError(f"not a DB2 HADR status: expected {EXPECTED}; found {snippet(first.text)}", first.no)
    return next(iter(found))


PARSERS: dict[str, Callable[[str], HadrStatus]] = {"db2pd": parse_db2pd, "snapshot": parse_snapshot, "dbcfg": parse_dbcfg}


def parse_any(text: str) -> HadrStatus:
    """Detect the format and parse it (see module doc)."""
    return PARSERS[detect(text)](text)


def parse_bytes(data: bytes) -> HadrStatus:
    """`parse_any` on raw bytes: they must be UTF-8 text (binary input is refused with its line)."""
    try:
        text = data.decode("utf-8-sig")  # a BOM from a Windows editor is not part of the output
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ParseError(f"not text: byte {data[exc.start]:#04x} is not UTF-8 (binary data?); expected {EXPECTED}", line) from None
    return parse_any(text)
