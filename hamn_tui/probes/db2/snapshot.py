"""The `HADR status` section of `db2 get snapshot for db on X` → HadrStatus (source "snapshot").

The snapshot interface is deprecated since 10.1, shows the principal standby only and nothing at
all in pureScale (facts §1); it is read for DB2 9.x and as a second opinion. Its labels are prose
(`Synchronization mode`, `Primary log position(file, page, LSN)`), matched case- and
space-insensitively. Its LSN is kept as printed (`lsn`) but not turned into a byte position: the
snapshot does not say its DB2 level, and only 9.x documents the LSN as a byte offset. Its dates
without an `(epoch)` are local time of an unknown zone: kept as printed in `extra`, never converted.
A section cut before its log positions raises, like a truncated db2pd block.
"""
from __future__ import annotations

import re

from .model import HadrChannel, HadrStatus, ParseError
from .normalise import Line, MissingEpoch, assign, enum_in, lines_of, local_timestamp, log_position, null, printed, snippet

HEADER = re.compile(r"^\s*HADR\s+status\s*$", re.I)
ITEM = re.compile(r"^\s*(?P<label>[^=]*?\S)\s*=(?P<value>.*)$")

FIELDS: dict[str, tuple[str, str]] = {
    "role": ("role", "enum:role"),
    "state": ("state", "enum:state"),
    "synchronization mode": ("syncmode", "enum:syncmode"),
    "heartbeat missed": ("heartbeat_missed", "int"),
    "heartbeats missed": ("heartbeat_missed", "int"),
    "timeout(seconds)": ("hadr_timeout_s", "float"),
    "log gap running average(bytes)": ("log_gap_bytes", "int"),
    "peer window(seconds)": ("peer_window_s", "float"),
}
REQUIRED = ("role", "state", "synchronization mode", "connection status", "primary log position(file, page, lsn)",
            "standby log position(file, page, lsn)", "log gap running average(bytes)")
"""In both documented 9.x snapshots (IBM 9.7 docs, xCAT wiki)."""


def _label(raw: str) -> str:
    text = " ".join(raw.lower().split())
    return re.sub(r"\s+\(", "(", text)


def parse_snapshot(text: str) -> HadrStatus:
    """Parse the HADR section of a database snapshot; ParseError (with the line) when there is none or it is cut."""
    lines = lines_of(text, "the output of db2 get snapshot for db on <database>")
    start = next((i for i, l in enumerate(lines) if HEADER.match(l.text)), None)
    if start is None:
        first = next(l for l in lines if l.text.strip())
        raise ParseError(f"no 'HADR status' section: expected the output of db2 get snapshot for db; found {snippet(first.text)}", first.no)
    warnings: list[str] = []
    database = timestamp_local = None
    for line in lines[:start]:
        m = ITEM.match(line.text)
        if m and _label(m.group("label")) == "database name":
            database = null(m.group("value"))
        elif m and _label(m.group("label")) == "snapshot timestamp":
            timestamp_local = local_timestamp(m.group("value"))
    items: dict[str, tuple[str, Line, str]] = {}
    """normalised label -> (value, line, label as printed)"""
    for line in lines[start + 1:]:
        if not line.text.strip():
            if items:
                break
            continue
        m = ITEM.match(line.text)
        if not m:
            break
        label = _label(m.group("label"))
        if line.cut:
            warnings.append(f"line {line.no}: the input ends without a newline on this line, so its value may be cut: ignored (unknown)")
            items[label] = ("", line, m.group("label").strip())
            continue
        if label in items:
            raise ParseError(f"{m.group('label').strip()!r} twice in the HADR section: garbled output", line.no)
        items[label] = (m.group("value"), line, " ".join(m.group("label").split()))
    role = enum_in("role", items["role"][0] if "role" in items else None, warnings)
    if role == "STANDARD":
        return HadrStatus("snapshot", database, True, False, timestamp_local=timestamp_local, warnings=warnings)
    missing = [k for k in REQUIRED if k not in items]
    if missing:
        last = max((l.no for _, l, _ in items.values()), default=lines[start].no)
        raise ParseError(f"the HADR status section ends without {', '.join(missing)}: the snapshot output looks truncated", last)
    return HadrStatus("snapshot", database, True, True, [_channel(items, role, warnings)], timestamp_local=timestamp_local,
                      warnings=warnings)


def _channel(items: dict[str, tuple[str, Line, str]], role: str | None, warnings: list[str]) -> HadrChannel:
    ch = HadrChannel()
    for label, (value, line, printed_label) in items.items():
        where = f"line {line.no}: "
        try:
            if label in FIELDS:
                name, kind = FIELDS[label]
                assign(ch, name, kind, printed(kind, value, None, warnings, where), printed_label, value, warnings, where)
            elif label == "connection status":
                status, _, when = value.partition(",")
                ch.connect_status = enum_in("connect_status", status, warnings, where)
                if null(when):
                    ch.extra["Connection status time"] = when.strip()  # local time, zone unknown
            elif label == "peer window end":
                try:
                    end = printed("epoch", value, None, warnings, where)
                    assign(ch, "peer_window_end_epoch", "epoch", end, printed_label, value, warnings, where)
                except MissingEpoch:
                    ch.extra["Peer window end"] = value.strip()
                    warnings.append(f"{where}Peer window end {value.strip()!r} has no (epoch): kept as printed, not converted")
            elif label == "primary log position(file, page, lsn)":
                assign(ch, "primary_log", "logpos", log_position(value, "lsn"), printed_label, value, warnings, where)
            elif label == "standby log position(file, page, lsn)":
                assign(ch, "standby_log", "logpos", log_position(value, "lsn"), printed_label, value, warnings, where)
            elif label not in ("local host", "remote host", "remote instance"):
                ch.extra[printed_label] = value.strip()
        except ValueError as exc:
            raise ParseError(f"{label}: {exc}", line.no) from None
    local, remote, inst = (null(items[k][0]) if k in items else None for k in ("local host", "remote host", "remote instance"))
    if role == "PRIMARY":
        ch.primary_host, ch.standby_host, ch.standby_instance = local, remote, inst
    elif role == "STANDBY":
        ch.standby_host, ch.primary_host, ch.primary_instance = local, remote, inst
    else:
        ch.extra.update({items[k][2]: null(items[k][0]) for k in ("local host", "remote host", "remote instance") if k in items})
        warnings.append(f"role {role!r}: cannot tell which host is the primary")
    return ch
