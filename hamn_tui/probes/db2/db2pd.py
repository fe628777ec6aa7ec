"""`db2pd -db DB -hadr` output → HadrStatus: the 9.x columnar layout and the 10.1+ `KEY = value` blocks.

db2pd is what the takeover decision reads (facts §1), so this parser prefers refusing to guessing:

* fields come and go between DB2 levels: a key it does not know goes to `extra`, a key a level
  does not print stays None (unknown);
* **truncated output raises.** A 10.1+ block must hold the keys every documented level prints
  (role, sync mode, state, connect status, the primary and standby log positions, the log gap,
  the peer window — the last of these is printed near the end of a block); a 9.x header row
  needs its value row, and the documented 9.x rows must all be there. A block cut mid-way would
  otherwise give a channel whose missing fields read as nothing-wrong;
* a value cut mid-way is caught by its own format (a timestamp needs its `(epoch)`, a log
  position its three parts); the one cut a format cannot show — the last line when the input
  does not end with a newline (`PEER_WINDOW(seconds) = 12` of 120) — is ignored: that field
  stays None and a warning says why;
* "not activated" is `activated=False` with the role unknown, never STANDARD (facts §1);
  `HADR is not active.` after the banner is STANDARD.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .model import HadrChannel, HadrStatus, LogPosition, ParseError
from .normalise import CHANNEL_KEYS, Line, UnitError, assign, enum_in, hex_int, key_unit, lines_of, local_timestamp, printed, snippet

BANNER = re.compile(
    r"^\s*Database\s+(?P<kind>Member|Partition)\s+(?P<member>\d+)\s+--\s+Database\s+(?P<db>\S+)\s+--\s+(?P<state>.+?)\s+--\s+"
    r"Up\s+(?P<days>\d+)\s+days?\s+(?P<hms>\d+:\d\d:\d\d)(?:\s+--\s*(?:Date\s+(?P<date>.+?))?)?\s*$"
)
DATE_CONTINUATION = re.compile(r"^\s*Date\s+(?P<date>.+?)\s*$")
NOT_ACTIVATED = re.compile(r"^\s*Database\s+(?P<db>\S+)\s+not activated on database (?:member|partition)\s+\d+", re.I)
OPTION_HADR = re.compile(r"^\s*Option -hadr requires -db <database> or -alldbs option and active database\.?\s*$", re.I)
NOT_ACTIVE = re.compile(r"^\s*HADR is not active\.?\s*$", re.I)
INFO_9 = re.compile(r"^\s*HADR Information:\s*$", re.I)
KV = re.compile(r"^\s*(?P<key>[A-Z][A-Z0-9_]*(?:,[A-Z0-9_]+)*(?:\([^()=]+\))?)\s*=(?P<value>.*)$")
PROMPT = re.compile(r"^\s*[$#>]\s")
TRANSIENT = ("Changing data structure forced command termination", "Virtual Address Space Randomization")

REQUIRED_10 = ("HADR_ROLE", "HADR_SYNCMODE", "HADR_STATE", "HADR_CONNECT_STATUS", "PRIMARY_LOG_FILE,PAGE,POS",
               "STANDBY_LOG_FILE,PAGE,POS", "HADR_LOG_GAP", "PEER_WINDOW")
"""Printed in every block by every documented 10.1+ level (10.1, 10.5, 11.1, 11.5 samples)."""


class Db2pdTransient(ParseError):
    """db2pd said something the Pacemaker agent treats as transient (facts §1): read again."""


@dataclass
class _Scan:
    banner: re.Match[str] | None = None
    banner_line: int = 0
    date: str | None = None
    not_activated: list[tuple[Line, str | None]] = field(default_factory=list)
    not_active: Line | None = None
    info_9: Line | None = None
    kv: list[tuple[Line, str, str]] = field(default_factory=list)
    other: list[Line] = field(default_factory=list)


def parse_db2pd(text: str) -> HadrStatus:
    """Parse one database's `db2pd -hadr` output; ParseError (with the line) when it is not that."""
    lines = lines_of(text, "db2pd -db <database> -hadr output")
    scan = _scan(lines)
    warnings: list[str] = []
    banner = scan.banner
    database = banner.group("db") if banner else None
    timestamp_local = None
    if scan.date:
        timestamp_local = local_timestamp(scan.date)
        if timestamp_local is None:
            warnings.append(f"line {scan.banner_line}: banner date {scan.date!r} not understood")
    if scan.kv or scan.info_9 or any(_header_columns(l.text) for l in scan.other):
        for line, _ in scan.not_activated:  # -allmembers: another member is not active
            warnings.append(f"line {line.no}: db2pd: {' '.join(line.text.split())}")

    if scan.kv:
        _no_stray_lines(scan.other, warnings, "KEY = value")
        if scan.not_active:
            raise ParseError("'HADR is not active.' next to HADR status blocks: the output mixes several readings", scan.not_active.no)
        channels = [_channel_10(block, warnings) for block in _blocks(scan.kv)]
        roles = {c.role for c in channels}
        if len(roles) > 1:
            warnings.append(f"blocks disagree on HADR_ROLE ({', '.join(sorted(r or 'NULL' for r in roles))})")
        if not banner:
            warnings.append("no db2pd banner: the database name and the reading's date are unknown")
        return HadrStatus("db2pd-10", database, True, True, channels, timestamp_local=timestamp_local, warnings=warnings)
    source = "db2pd-9" if banner and banner.group("kind") == "Partition" else "db2pd-10" if banner else "db2pd"
    if scan.info_9 or any(_header_columns(l.text) for l in scan.other):
        if scan.not_active:
            raise ParseError("'HADR is not active.' next to an HADR status: the output mixes several readings", scan.not_active.no)
        channel = _channel_9(scan, warnings)
        if not banner:
            warnings.append("no db2pd banner: the database name is unknown")
        return HadrStatus("db2pd-9", database, True, True, [channel], timestamp_local=timestamp_local, warnings=warnings)
    if scan.not_active:
        if not banner:
            raise ParseError("'HADR is not active.' without the db2pd banner before it: cannot tell which database it is about",
                             scan.not_active.no)
        _no_stray_lines(scan.other, warnings, "the db2pd banner and 'HADR is not active.'")
        return HadrStatus(source, database, True, False, timestamp_local=timestamp_local, warnings=warnings)  # type: ignore[arg-type]
    if scan.not_activated:
        if banner:  # an active member's banner with nothing after it: not "not activated"
            raise ParseError("db2pd banner of an active database but no HADR section after it, only a 'not activated' message "
                             "(several members, cut short?)", scan.banner_line)
        _no_stray_lines(scan.other, warnings, "db2pd's 'not activated' message")
        named = [db for _, db in scan.not_activated if db]
        return HadrStatus("db2pd", named[0] if named else None, False, None, warnings=warnings)
    if banner:
        raise ParseError("db2pd banner but no HADR section after it: expected 'HADR_ROLE = …' blocks, the 9.x "
                         "'Role State SyncMode …' rows or 'HADR is not active.' (truncated output?)", scan.banner_line)
    first = next(l for l in lines if l.text.strip())
    raise ParseError(f"not db2pd -hadr output: expected a 'Database Member N -- Database X -- …' banner, 'HADR_ROLE = …' "
                     f"or db2pd's 'not activated' message; found {snippet(first.text)}", first.no)


def _scan(lines: list[Line]) -> _Scan:
    scan = _Scan()
    skip = False
    for i, line in enumerate(lines):
        if skip:
            skip = False
            continue
        t = line.text
        if not t.strip():
            continue
        if any(msg.lower() in t.lower() for msg in TRANSIENT):
            raise Db2pdTransient(f"db2pd reported a transient condition ({snippet(t)}): read the status again", line.no)
        m = BANNER.match(t)
        if m:
            if scan.banner and m.group("db").upper() != scan.banner.group("db").upper():
                raise ParseError(f"a second database ({m.group('db')}) in one output: read one database at a time "
                                 f"(db2pd -db <database> -hadr)", line.no)
            if not scan.banner:
                scan.banner, scan.banner_line, scan.date = m, line.no, m.group("date")
                if scan.date is None and t.rstrip().endswith("--") and i + 1 < len(lines):
                    d = DATE_CONTINUATION.match(lines[i + 1].text)
                    if d:
                        scan.date, skip = d.group("date"), True
            continue
        if (m := NOT_ACTIVATED.match(t)) or OPTION_HADR.match(t):
            scan.not_activated.append((line, m.group("db") if m else None))
        elif NOT_ACTIVE.match(t):
            scan.not_active = line
        elif INFO_9.match(t):
            scan.info_9 = line
        elif (m := KV.match(t)) and not _header_columns(t):
            scan.kv.append((line, m.group("key"), m.group("value")))
        elif PROMPT.match(t) and not (scan.banner or scan.kv or scan.other):
            continue  # the command line an operator pasted above the output
        else:
            scan.other.append(line)
    return scan


def _no_stray_lines(other: list[Line], warnings: list[str], expected: str) -> None:
    for line in other:
        if line.cut:
            warnings.append(f"line {line.no}: the input ends mid-line here ({snippet(line.text)}): ignored")
            continue
        raise ParseError(f"unexpected text {snippet(line.text)}: expected {expected}", line.no)


def _blocks(kv: list[tuple[Line, str, str]]) -> list[list[tuple[Line, str, str]]]:
    """One block per channel; each starts at HADR_ROLE (facts §1: one per standby / log stream)."""
    blocks: list[list[tuple[Line, str, str]]] = []
    for item in kv:
        line, key, _ = item
        if key == "HADR_ROLE":
            blocks.append([])
        elif not blocks:
            raise ParseError(f"{key} before any HADR_ROLE: each db2pd block starts with HADR_ROLE (output cut at the top?)", line.no)
        elif any(k == key for _, k, _ in blocks[-1]):
            raise ParseError(f"{key} twice in the block that starts at line {blocks[-1][0][0].no}: garbled output", line.no)
        blocks[-1].append(item)
    return blocks


def _channel_10(block: list[tuple[Line, str, str]], warnings: list[str]) -> HadrChannel:
    ch = HadrChannel()
    seen: set[str] = set()
    for line, key, value in block:
        base, unit = key_unit(key)
        seen.add(base)
        where = f"line {line.no}: "
        if line.cut:
            warnings.append(f"{where}{key}: the input ends without a newline on this line, so the value may be cut: ignored (unknown)")
            continue
        spec = CHANNEL_KEYS.get(base)
        if spec is None:
            ch.extra[key] = value.strip()
            continue
        name, kind = spec
        try:
            converted = printed(kind, value, unit, warnings, where)
        except UnitError as exc:
            warnings.append(f"{where}{key}: {exc}: kept in extra")
            ch.extra[key] = value.strip()
            continue
        except ValueError as exc:
            raise ParseError(f"{key}: {exc}", line.no) from None
        assign(ch, name, kind, converted, key, value, warnings, where)
        if kind == "flags":
            ch.flags_reported = True
    missing = [k for k in REQUIRED_10 if k not in seen]
    if missing:
        first, last = block[0][0].no, block[-1][0].no
        raise ParseError(f"the HADR block at lines {first}-{last} ends without {', '.join(missing)}: "
                         f"every DB2 10.1+ block prints them — the db2pd output looks truncated", last)
    return ch


# --- DB2 9.x columnar layout -------------------------------------------------------------

COLUMNS_9: dict[str, tuple[str, str]] = {
    "Role": ("role", "enum:role"),
    "State": ("state", "enum:state"),
    "SyncMode": ("syncmode", "enum:syncmode"),
    "HeartBeatsMissed": ("heartbeat_missed", "int"),
    "LogGapRunAvg (bytes)": ("log_gap_bytes", "int"),
    "ConnectStatus": ("connect_status", "enum:connect_status"),
    "ConnectTime": ("connect_status_time_epoch", "epoch"),
    "Timeout": ("hadr_timeout_s", "float"),
    "PeerWindowEnd": ("peer_window_end_epoch", "epoch"),
    "PeerWindow": ("peer_window_s", "float"),
    "StandByRcvBufUsed": ("standby_recv_buf_percent", "float"),
}
"""Columns with a HadrChannel home of their own; hosts, instance and log positions are mapped by role below."""
SPECIAL_9 = {"LocalHost", "LocalService", "RemoteHost", "RemoteService", "RemoteInstance",
             "PrimaryFile", "PrimaryPg", "PrimaryLSN", "StandByFile", "StandByPg", "StandByLSN"}
REQUIRED_9 = ("Role", "State", "SyncMode", "ConnectStatus", "LocalHost", "RemoteHost", "PrimaryFile", "StandByFile")
"""The rows every documented 9.x output prints (IBM wiki 9.7, xCAT wiki 9.7)."""

_HEADER_TOKEN = re.compile(r"\S+(?: \([a-z]+\))?")
_CAMEL_WORD = re.compile(r"[A-Z][A-Za-z]+(?: \([a-z]+\))?")
_VALUE_TOKEN = re.compile(r"[A-Z][a-z]{2} [A-Z][a-z]{2} +\d{1,2} \d{1,2}:\d{2}:\d{2} \d{4} \(\d+\)|\S+")


def _header_columns(text: str) -> list[tuple[int, str]] | None:
    """(start, name) of a 9.x header row, or None: all CamelCase words, at least one a known column."""
    cols = [(m.start(), m.group()) for m in _HEADER_TOKEN.finditer(text)]
    if not cols or not all(_CAMEL_WORD.fullmatch(n) for _, n in cols):
        return None
    if not any(n in COLUMNS_9 or n in SPECIAL_9 for _, n in cols):
        return None
    return cols


def _cells(cols: list[tuple[int, str]], value: Line, header: Line) -> list[str | None]:
    tokens = [(m.start(), m.group()) for m in _VALUE_TOKEN.finditer(value.text)]
    if len(tokens) == len(cols):
        return [t for _, t in tokens]
    out: list[str | None] = [None] * len(cols)  # fewer or more tokens: align under the header's columns
    for pos, tok in tokens:
        idx = max((i for i, (start, _) in enumerate(cols) if start <= pos), default=None)
        if idx is None or out[idx] is not None:
            raise ParseError(f"cannot line up {snippet(value.text)} with the columns of line {header.no} "
                             f"({' '.join(n for _, n in cols)})", value.no)
        out[idx] = tok
    return out


def _channel_9(scan: _Scan, warnings: list[str]) -> HadrChannel:
    rows = scan.other
    cells: dict[str, tuple[str | None, Line]] = {}
    i = 0
    while i < len(rows):
        header = rows[i]
        cols = _header_columns(header.text)
        if cols is None:
            raise ParseError(f"expected a db2pd 9.x header row (e.g. 'Role State SyncMode …'), found {snippet(header.text)}", header.no)
        if i + 1 >= len(rows) or _header_columns(rows[i + 1].text):
            raise ParseError(f"header row {snippet(header.text)} has no value row after it: the db2pd output looks truncated", header.no)
        value = rows[i + 1]
        if value.cut:
            warnings.append(f"line {value.no}: the input ends without a newline on this row, so its values may be cut: "
                            f"{', '.join(n for _, n in cols)} ignored (unknown)")
            row: list[str | None] = [None] * len(cols)
        else:
            row = _cells(cols, value, header)
        for (_, name), cell in zip(cols, row):
            if name in cells:
                raise ParseError(f"column {name} twice (first at line {cells[name][1].no}): garbled output", header.no)
            cells[name] = (cell, value)
        i += 2
    missing = [n for n in REQUIRED_9 if n not in cells]
    if missing:
        last = rows[-1].no if rows else (scan.info_9.no if scan.info_9 else 1)
        raise ParseError(f"the db2pd 9.x HADR section ends without the {', '.join(missing)} rows: the output looks truncated", last)
    return _map_9(cells, warnings)


def _map_9(cells: dict[str, tuple[str | None, Line]], warnings: list[str]) -> HadrChannel:
    ch = HadrChannel()

    def raw(name: str) -> str | None:
        return cells[name][0] if name in cells else None

    def convert(name: str, kind: str) -> object:
        cell, line = cells[name]
        try:
            if kind == "hex":
                return hex_int(cell)
            return printed(kind, cell or "", None, warnings, f"line {line.no}: ")
        except ValueError as exc:
            raise ParseError(f"{name}: {exc}", line.no) from None

    for name, (cell, line) in cells.items():
        if name in COLUMNS_9:
            attr, kind = COLUMNS_9[name]
            assign(ch, attr, kind, convert(name, kind), name, cell, warnings, f"line {line.no}: ")
        elif name not in SPECIAL_9 or name in ("LocalService", "RemoteService"):
            ch.extra[name] = cell
    role = ch.role or enum_in("role", raw("Role"), [])
    local, remote, remote_inst = raw("LocalHost"), raw("RemoteHost"), raw("RemoteInstance")
    if role == "PRIMARY":
        ch.primary_host, ch.standby_host, ch.standby_instance = local, remote, remote_inst
    elif role == "STANDBY":
        ch.standby_host, ch.primary_host, ch.primary_instance = local, remote, remote_inst
    else:
        ch.extra.update({"LocalHost": local, "RemoteHost": remote, "RemoteInstance": remote_inst})
        warnings.append(f"role {role!r}: cannot tell which host is the primary")
    for prefix, attr in (("Primary", "primary_log"), ("StandBy", "standby_log")):
        if f"{prefix}File" not in cells:
            continue
        lsn = raw(f"{prefix}LSN")
        file = raw(f"{prefix}File")
        if file is not None and not re.fullmatch(r"S\d{7}\.LOG", file):
            raise ParseError(f"{prefix}File: expected a log file name like S0000012.LOG, got {file!r}", cells[f"{prefix}File"][1].no)
        page = convert(f"{prefix}Pg", "int") if f"{prefix}Pg" in cells else None
        # 9.x LSNs are byte offsets in the log stream (IBM 9.7 "Log sequence numbers"; fixture 01: the
        # LSN difference matches LogGapRunAvg), so they give `pos` as well.
        pos = convert(f"{prefix}LSN", "hex") if f"{prefix}LSN" in cells else None
        shown = " ".join(str(c) for c in (file, raw(f"{prefix}Pg"), lsn) if c is not None)
        assign(ch, attr, "logpos", LogPosition(file, page, pos, lsn), f"{prefix}File/Pg/LSN", shown, warnings,  # type: ignore[arg-type]
               f"line {cells[f'{prefix}File'][1].no}: ")
    return ch
