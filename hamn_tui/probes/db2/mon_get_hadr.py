"""The ibm_db path: `MON_GET_HADR(NULL)` rows → HadrStatus (source "mon_get_hadr").

Needs a connection, so it works on a primary and on a standby with Reads-on-Standby only; db2pd
stays the reading of record during a takeover (facts §1). Units differ from db2pd: every
MON_GET_HADR duration is in **milliseconds** (facts §3) and is converted to seconds here.
Timestamps come back from ibm_db as naive `datetime`s in the *server's* local time, so the query
also reads `CURRENT TIMEZONE` and converts with it (None when it is missing — never the client's
zone). The column list is that of facts §3; a server older than some of those columns (SQL0206N)
is read again with `T.*`, and what it does not return stays None.

Rows: one per standby / log stream (a primary), one (a standby). One STANDARD row → STANDARD.
No row at all is **not** read as STANDARD: whether a non-HADR database returns no row or a
STANDARD row is not verified (facts §11), so the role is then unknown, with a warning.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Iterable, Mapping

from .model import HadrChannel, HadrStatus, LogPosition
from .normalise import CHANNEL_KEYS, enum_in, flags, null, to_float, to_int, yes_no

COLUMNS = (
    "HADR_ROLE", "REPLAY_TYPE", "HADR_SYNCMODE", "STANDBY_ID", "LOG_STREAM_ID", "HADR_STATE", "HADR_FLAGS",
    "PRIMARY_MEMBER_HOST", "PRIMARY_INSTANCE", "PRIMARY_MEMBER", "STANDBY_MEMBER_HOST", "STANDBY_INSTANCE", "STANDBY_MEMBER",
    "HADR_CONNECT_STATUS", "HADR_CONNECT_STATUS_TIME", "HEARTBEAT_INTERVAL", "HEARTBEAT_MISSED", "HEARTBEAT_EXPECTED",
    "HADR_TIMEOUT", "TIME_SINCE_LAST_RECV", "PEER_WAIT_LIMIT", "LOG_HADR_WAIT_CUR", "LOG_HADR_WAIT_TIME", "LOG_HADR_WAITS_TOTAL",
    "SOCK_SEND_BUF_REQUESTED", "SOCK_SEND_BUF_ACTUAL", "SOCK_RECV_BUF_REQUESTED", "SOCK_RECV_BUF_ACTUAL",
    "PRIMARY_LOG_FILE", "PRIMARY_LOG_PAGE", "PRIMARY_LOG_POS", "STANDBY_LOG_FILE", "STANDBY_LOG_PAGE", "STANDBY_LOG_POS",
    "HADR_LOG_GAP", "STANDBY_REPLAY_LOG_FILE", "STANDBY_REPLAY_LOG_PAGE", "STANDBY_REPLAY_LOG_POS", "STANDBY_RECV_REPLAY_GAP",
    "PRIMARY_LOG_TIME", "STANDBY_LOG_TIME", "STANDBY_REPLAY_LOG_TIME", "STANDBY_RECV_BUF_SIZE", "STANDBY_RECV_BUF_PERCENT",
    "STANDBY_SPOOL_LIMIT", "STANDBY_SPOOL_PERCENT", "STANDBY_REPLAY_DELAY", "PEER_WINDOW", "PEER_WINDOW_END",
    "TAKEOVER_APP_REMAINING_PRIMARY", "TAKEOVER_APP_REMAINING_STANDBY", "READS_ON_STANDBY_ENABLED",
    "STANDBY_REPLAY_ONLY_WINDOW_ACTIVE", "STANDBY_REPLAY_ONLY_WINDOW_START", "STANDBY_REPLAY_ONLY_WINDOW_TRAN_COUNT",
    "STANDBY_ERROR_TIME", "HADR_LAST_TAKEOVER_TIME",
)
"""facts §3, in its order."""
_REGISTERS = "CURRENT TIMEZONE AS SERVER_TZ_OFFSET, CURRENT SERVER AS SERVER_DB_NAME"
MON_GET_HADR_SQL = f"SELECT {', '.join(COLUMNS)}, {_REGISTERS} FROM TABLE(MON_GET_HADR(NULL))"
MON_GET_HADR_ANY_LEVEL_SQL = f"SELECT T.*, {_REGISTERS} FROM TABLE(MON_GET_HADR(NULL)) AS T"
"""The fallback for servers that lack some of COLUMNS (added in 10.5, 10.5 FP9, 11.x, 11.5)."""

_LOGPOS = {"PRIMARY": "primary_log", "STANDBY": "standby_log", "STANDBY_REPLAY": "standby_replay_log"}
_MS_DURATIONS = {"HEARTBEAT_INTERVAL", "HADR_TIMEOUT", "TIME_SINCE_LAST_RECV", "PEER_WAIT_LIMIT", "LOG_HADR_WAIT_CUR", "PEER_WINDOW"}
_UNDEFINED_COLUMN = re.compile(r"SQL0206N|SQLSTATE=42703")


class Db2QueryError(RuntimeError):
    """The query could not run (no connection, authority, Reads-on-Standby off, …); the DB2 message is kept."""


def read_mon_get_hadr(conn: Any, database: str | None = None) -> HadrStatus:
    """Run MON_GET_HADR_SQL on an ibm_db connection and map its rows (see module doc)."""
    import ibm_db

    warnings: list[str] = []
    try:
        stmt = _exec(ibm_db, conn, MON_GET_HADR_SQL)
    except Db2QueryError as exc:
        if not _UNDEFINED_COLUMN.search(str(exc)):
            raise
        warnings.append(f"this DB2 level lacks some MON_GET_HADR columns ({exc}): read with T.*, missing ones are unknown")
        stmt = _exec(ibm_db, conn, MON_GET_HADR_ANY_LEVEL_SQL)
    rows: list[Mapping[str, Any]] = []
    row = ibm_db.fetch_assoc(stmt)
    while row:  # fetch_assoc returns False after the last row
        rows.append(row)
        row = ibm_db.fetch_assoc(stmt)
    status = status_from_rows(rows, database)
    status.warnings[:0] = warnings
    return status


def _exec(ibm_db: Any, conn: Any, sql: str) -> Any:
    try:
        stmt = ibm_db.exec_immediate(conn, sql)
    except Exception as exc:  # ibm_db raises a bare Exception carrying the SQLCODE text
        raise Db2QueryError(f"MON_GET_HADR: {' '.join(str(exc).split())}") from None
    if stmt is False:
        raise Db2QueryError(f"MON_GET_HADR: {' '.join(str(ibm_db.stmt_errormsg()).split())}")
    return stmt


def status_from_rows(rows: Iterable[Mapping[str, Any]], database: str | None = None) -> HadrStatus:
    """Map MON_GET_HADR rows (as `ibm_db.fetch_assoc` returns them) to a status."""
    rows = [{str(k).upper(): v for k, v in r.items()} for r in rows]
    warnings: list[str] = []
    server_db = null(rows[0].get("SERVER_DB_NAME")) if rows else None
    if database and server_db and server_db.upper() != database.upper():
        warnings.append(f"connected to database {server_db}, not {database}: this status is {server_db}'s")
    name = server_db or database
    if not rows:
        warnings.append("MON_GET_HADR returned no row: the HADR role is unknown (a non-HADR database may return no row; "
                        "read db2 get db cfg for the role)")
        return HadrStatus("mon_get_hadr", name, True, None, warnings=warnings)
    roles = [enum_in("role", r.get("HADR_ROLE"), warnings) for r in rows]
    if roles == ["STANDARD"]:
        return HadrStatus("mon_get_hadr", name, True, False, warnings=warnings)
    channels = [_channel(r, i, warnings) for i, r in enumerate(rows, 1)]
    return HadrStatus("mon_get_hadr", name, True, True, channels, warnings=warnings)


def _channel(row: Mapping[str, Any], n: int, warnings: list[str]) -> HadrChannel:
    ch = HadrChannel()
    where = f"row {n}: "
    tz = _server_tz(row.get("SERVER_TZ_OFFSET"), warnings, where)
    for col, value in row.items():
        if col in ("SERVER_TZ_OFFSET", "SERVER_DB_NAME"):
            continue
        part = re.fullmatch(r"(PRIMARY|STANDBY|STANDBY_REPLAY)_LOG_(FILE|PAGE|POS)", col)
        if part:
            pos: LogPosition = getattr(ch, _LOGPOS[part.group(1)])
            if part.group(2) == "FILE":
                pos.file = null(value)
            else:
                setattr(pos, part.group(2).lower(), to_int(value))
            continue
        spec = CHANNEL_KEYS.get(col)
        if spec is None:
            ch.extra[col] = _json_safe(value)
            continue
        name, kind = spec
        try:
            setattr(ch, name, _convert(kind, col, value, tz, warnings, where))
        except ValueError as exc:
            warnings.append(f"{where}{col} = {value!r}: {exc}: kept in extra")
            ch.extra[col] = _json_safe(value)
            continue
        if kind == "flags" and value is not None:
            ch.flags_reported = True
    return ch


def _convert(kind: str, col: str, value: Any, tz: timezone | None, warnings: list[str], where: str) -> Any:
    if kind.startswith("enum:"):
        return enum_in(kind[5:], value, warnings, where)
    if kind == "flags":
        return flags(value, warnings, where)
    if kind == "duration":
        ms = to_float(value)
        if col not in _MS_DURATIONS:
            raise ValueError("duration column of unknown unit")
        return None if ms is None else ms / 1000.0
    if kind == "epoch":
        return _epoch(value, tz)
    if kind in ("int", "bytes"):
        return to_int(value)
    if kind == "float":
        return to_float(value)
    if kind == "bool":
        return yes_no(value)
    return null(value)


def _server_tz(raw: Any, warnings: list[str], where: str) -> timezone | None:
    """CURRENT TIMEZONE is a signed DECIMAL(6,0) hhmmss (e.g. -50000 = UTC-5)."""
    if raw is None:
        return None
    try:
        value = int(Decimal(str(raw).strip()))
    except ArithmeticError:
        warnings.append(f"{where}CURRENT TIMEZONE {raw!r} not understood: timestamps unknown")
        return None
    sign, value = (-1 if value < 0 else 1), abs(value)
    return timezone(sign * timedelta(hours=value // 10000, minutes=value // 100 % 100, seconds=value % 100))


def _epoch(value: Any, tz: timezone | None) -> int | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise ValueError("expected a TIMESTAMP")
    if value.tzinfo is None:
        if tz is None:
            raise ValueError("server time zone unknown")
        value = value.replace(tzinfo=tz)
    return int(value.timestamp()) or None


def _json_safe(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, str):
        return value.strip()
    return value


_DB_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_@#$]{0,7}")
_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]{0,252}|\[[0-9A-Fa-f:.]+\]")
_USER = re.compile(r"[A-Za-z0-9_@#$.\-]{1,128}")


def connect(database: str, user: str | None = None, password: str | None = None, host: str | None = None,
            port: int | None = None) -> Any:
    """An ibm_db connection, for `read_mon_get_hadr`.

    Without `host` the database is a catalogued alias and the credentials go to ibm_db as separate
    arguments (never into a string). With `host`, DB2 CLI needs them in the connection string:
    every value is checked against a strict pattern first — a `;`, `{` or `}` could not be escaped
    with certainty, so it is refused rather than quoted. The password never appears in an error.
    """
    import ibm_db

    if not _DB_NAME.fullmatch(database or ""):
        raise ValueError("database: expected a DB2 database name or alias (a letter, then up to 7 letters, digits, _ @ # $)")
    if user is not None and not _USER.fullmatch(user):
        raise ValueError("user: expected letters, digits and _ @ # $ . - only")
    if host is None:
        if port is not None:
            raise ValueError("port given without host")
        dsn, uid, pwd = database, user or "", password or ""
    else:
        if not _HOST.fullmatch(host):
            raise ValueError("host: expected a host name or an IP address")
        if port is None or not 0 < int(port) < 65536:
            raise ValueError("port: expected 1-65535 with host")
        if password is not None and (any(c in password for c in ";{}") or password != password.strip()
                                     or any(ord(c) < 32 for c in password)):
            raise ValueError("password: contains ; { } or spaces at its ends, which a DB2 connection string cannot carry "
                             "safely; catalog the database and connect by alias instead")
        parts = [f"DATABASE={database}", f"HOSTNAME={host}", f"PORT={int(port)}", "PROTOCOL=TCPIP"]
        if user is not None:
            parts.append(f"UID={user}")
        if password is not None:
            parts.append(f"PWD={password}")
        dsn, uid, pwd = ";".join(parts) + ";", "", ""
    try:
        return ibm_db.connect(dsn, uid, pwd)
    except Exception as exc:
        message = " ".join(str(exc).split())
        if password:
            message = message.replace(password, "***")
        where = f"{host}:{port}/{database}" if host else database
        raise Db2QueryError(f"cannot connect to {where}: {message}") from None
