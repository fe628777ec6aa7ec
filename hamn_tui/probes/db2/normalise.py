"""Value normalisation shared by the DB2 status parsers, and the text checks every parser runs first.

Why one place: the takeover gates compare these values to fixed words (`PEER`, `CONNECTED`) and
numbers; every source must spell and scale them the same way. A value that cannot be read is a
`ValueError` here; the parsers turn it into a `ParseError` with the line it came from. Nothing here
guesses: empty, `NULL` and `N/A` are None (unknown), and a printed timestamp without its epoch is
refused rather than read in an unknown time zone. Numbers are bounded by DB2's own types (BIGINT):
a 5,000-digit "log gap" is refused with its line, never carried into arithmetic. A value that reads
but cannot be true (a negative size, a date and epoch no time zone reconciles) is `implausible`:
the parsers keep it as unknown and say why, and the gates refuse to decide on it.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from .model import HadrChannel, LogPosition, ParseError

ROLES = frozenset({"PRIMARY", "STANDBY", "STANDARD"})
STATES = frozenset({"DISCONNECTED", "LOCAL_CATCHUP", "REMOTE_CATCHUP_PENDING", "REMOTE_CATCHUP", "PEER", "DISCONNECTED_PEER"})
SYNCMODES = frozenset({"SYNC", "NEARSYNC", "ASYNC", "SUPERASYNC"})
CONNECT_STATUSES = frozenset({"CONNECTED", "CONGESTED", "DISCONNECTED"})
KNOWN_FLAGS = frozenset({
    "ASSISTED_REMOTE_CATCHUP", "STANDBY_RECV_BLOCKED", "STANDBY_LOG_DEVICE_FULL", "STANDBY_TABLESPACE_ERROR", "TCP_PROTOCOL",
    # facts §2.5 [R]: recalled, not verified
    "ASSISTED_MEMBER_ACTIVE", "STANDBY_LOG_RETRIEVAL", "STANDBY_REPLAY_NOT_ON_PREFERRED",
})
DOMAINS: dict[str, frozenset[str]] = {"role": ROLES, "state": STATES, "syncmode": SYNCMODES, "connect_status": CONNECT_STATUSES}

NULLS = frozenset({"", "NULL", "N/A"})
_ALIASES = {"SUPER_ASYNC": "SUPERASYNC", "NEAR_SYNC": "NEARSYNC", "STAND_BY": "STANDBY"}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_EPOCH = re.compile(r"\((\d+)\)\s*$")
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_HEX = re.compile(r"(?:0[xX])?([0-9A-Fa-f]+)")
_LOGFILE = re.compile(r"S\d{7}\.LOG")
_UNIT = re.compile(r"^(?P<base>.*?)\s*\((?P<unit>[A-Za-z ]+)\)$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
INT64_MAX = 2**63 - 1
"""DB2's widest integer (BIGINT): every count, size, position and epoch db2pd prints fits in it."""
_INT64_DIGITS = len(str(INT64_MAX))
TZ_WEST_S, TZ_EAST_S = -12 * 3600, 14 * 3600
"""The time-zone offsets in use (UTC-12 … UTC+14): a printed local time and its epoch are at most this far apart."""


def null(raw: object) -> str | None:
    """The stripped text, or None for empty / NULL / N/A."""
    if raw is None:
        return None
    text = str(raw).strip()
    return None if text.upper() in NULLS else text


def enum(raw: object) -> str | None:
    """`RemoteCatchupPending`, `Remote catchup pending`, `REMOTE_CATCHUP_PENDING` → `REMOTE_CATCHUP_PENDING`."""
    text = null(raw)
    if text is None:
        return None
    text = _CAMEL.sub("_", text)
    text = re.sub(r"[\s\-]+", "_", text).upper()
    return _ALIASES.get(text, text)


def enum_in(kind: str, raw: object, warnings: list[str], where: str = "") -> str | None:
    """`enum`, plus a warning when the value is outside the documented domain (kept, never mapped)."""
    value = enum(raw)
    if value is not None and value not in DOMAINS[kind]:
        warnings.append(f"{where}unknown {kind} value {snippet(value)} (documented: {', '.join(sorted(DOMAINS[kind]))})")
    return value


def flags(raw: object, warnings: list[str], where: str = "") -> list[str]:
    """HADR_FLAGS is a space-separated set; unknown tokens are kept and warned about (facts §2.5)."""
    tokens = [enum(t) or "" for t in (null(raw) or "").split()]
    for t in tokens:
        if t not in KNOWN_FLAGS:
            warnings.append(f"{where}unknown HADR_FLAGS token {snippet(t)}")
    return tokens


def to_int(raw: object) -> int | None:
    if isinstance(raw, bool):
        raise ValueError(f"expected an integer, got {raw!r}")
    if isinstance(raw, int):
        return raw
    text = null(raw)
    if text is None:
        return None
    if not _INT.fullmatch(text):
        raise ValueError(f"expected an integer, got {snippet(text)}")
    return _int64(text)


def _int64(text: str, base: int = 10) -> int:
    """int(text) within DB2's BIGINT range; the length is checked first (Python refuses 4,300+ digits itself)."""
    digits = text.lstrip("+-").lstrip("0")
    width = _INT64_DIGITS if base == 10 else 16
    value = int(text, base) if len(digits) <= width else None
    if value is None or abs(value) > INT64_MAX:
        raise ValueError(f"a {len(digits)}-digit number, beyond DB2's 64-bit integers: not a value db2pd prints")
    return value


def to_float(raw: object) -> float | None:
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        value = float(raw)
    else:
        text = null(raw)
        if text is None:
            return None
        text = text.removesuffix("%").strip()
        if not _FLOAT.fullmatch(text):
            raise ValueError(f"expected a number, got {snippet(text)}")
        value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {snippet(str(raw))}")
    if abs(value) > INT64_MAX:
        raise ValueError(f"{snippet(str(raw))} is beyond DB2's 64-bit range: not a value db2pd prints")
    return value


def hex_int(raw: object) -> int | None:
    """`0x0000000001CA4000` or `0000000000BB800C` → int."""
    text = null(raw)
    if text is None:
        return None
    m = _HEX.fullmatch(text)
    if not m:
        raise ValueError(f"expected a hexadecimal LSN, got {snippet(text)}")
    return _int64(m.group(1), 16)


def yes_no(raw: object) -> bool | None:
    text = null(raw)
    if text is None:
        return None
    up = text.upper()
    if up in {"Y", "YES", "ON", "TRUE"}:
        return True
    if up in {"N", "NO", "OFF", "FALSE"}:
        return False
    raise ValueError(f"expected Y/N, YES/NO or ON/OFF, got {snippet(text)}")


def epoch(raw: object) -> int | None:
    """`03/14/2016 09:12:41.337109 (1457946761)` → 1457946761.

    db2pd prints local time and, in parentheses, the epoch: only the epoch is used (the zone of
    the local time is unknown). An epoch of 0 is DB2's "never" (e.g. never reached peer) → None.
    """
    text = null(raw)
    if text is None:
        return None
    m = _EPOCH.search(text)
    if not m:
        raise MissingEpoch(f"expected a timestamp ending in (epoch seconds), got {snippet(text)}")
    value = _int64(m.group(1))
    return value or None


class MissingEpoch(ValueError):
    """A printed time without its `(epoch)`: the snapshot keeps such a value as text."""


_DATES = ("%m/%d/%Y %H:%M:%S.%f", "%m/%d/%Y %H:%M:%S", "%a %b %d %H:%M:%S %Y")
"""db2pd 10.1+ and the snapshot (`05/14/2024 03:12:02.000000`), db2pd 9.x (`Thu Aug 5 20:33:00 2010`)."""


def date_disagrees(raw: object, value: int) -> str | None:
    """Why the local date printed before `(epoch)` cannot be that epoch in any time zone, or None.

    The zone is unknown, so only what no zone explains is refused: dates further apart than
    UTC-12 … UTC+14, or apart by a time that is no zone's offset (a whole number of quarter hours,
    give or take the second DB2 may round). A date this parser cannot read is not judged."""
    text = (null(raw) or "").rsplit("(", 1)[0].strip()
    for fmt in _DATES:
        try:
            local = datetime.strptime(" ".join(text.split()), fmt)
            break
        except ValueError:
            continue
    else:
        return None
    apart = int(local.replace(tzinfo=timezone.utc).timestamp()) - value
    if TZ_WEST_S - 1 <= apart <= TZ_EAST_S + 1 and apart % 900 in (0, 1, 899):
        return None
    when = datetime.fromtimestamp(value, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if value < 253402300800 else "after 9999"
    return f"the date and the epoch ({when}) are {_span(abs(apart))} apart, which no time zone explains"


def _span(seconds: int) -> str:
    """`3h07m12s`, `6.3 days`, `412 years`: how far apart, readable at a glance."""
    if seconds >= 1000 * 86400:
        return f"{seconds / (365.25 * 86400):.0f} years"
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.1f} days"
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s"


def implausible(kind: str, raw: object, value: object) -> str | None:
    """Why a value read from its printed text cannot be true, or None.

    Every count, size, duration, position and time db2pd prints is non-negative, and a timestamp's
    date and epoch must agree up to a time-zone offset. Such a value is left unknown by the parsers
    (with a warning) and makes every verdict that reads it unknown (gates)."""
    if kind in ("int", "bytes", "float", "duration") and isinstance(value, (int, float)) and value < 0:
        return "negative, which this value never is"
    if kind == "logpos" and isinstance(value, LogPosition) and any(v is not None and v < 0 for v in (value.page, value.pos)):
        return "a negative page or position, which a log position never has"
    if kind == "epoch" and isinstance(value, int):
        return date_disagrees(raw, value)
    return None


def assign(ch: HadrChannel, name: str, kind: str, value: object, key: str, raw: object, warnings: list[str], where: str) -> None:
    """Set one channel field from its converted value; an implausible one stays unknown, is warned about and
    named in `ch.implausible` (printed key, value and why) so a gate can say what it could not decide on."""
    why = implausible(kind, raw, value)
    if why is not None:
        shown = f"{key} = {snippet(str(raw))}: {why}"
        warnings.append(f"{where}{shown}: ignored (unknown)")
        ch.implausible[name] = shown
        value = LogPosition() if kind == "logpos" else None
    setattr(ch, name, value)


def key_unit(key: str) -> tuple[str, str | None]:
    """`HADR_TIMEOUT(seconds)` → (`HADR_TIMEOUT`, `seconds`); `TIMEOUT_S` → (`TIMEOUT`, `seconds`); `X_MS` → (`X`, `ms`)."""
    m = _UNIT.match(key.strip())
    if m:
        return m.group("base").strip(), m.group("unit").strip().lower()
    if key.endswith("_MS"):
        return key[:-3], "ms"
    if key.endswith("_S"):
        return key[:-2], "seconds"
    return key.strip(), None


_SECONDS = {"seconds": 1.0, "second": 1.0, "secs": 1.0, "sec": 1.0, "s": 1.0, "milliseconds": 0.001, "ms": 0.001}


def duration_s(raw: object, unit: str | None) -> float | None:
    """A duration in seconds from a value whose unit the key (or the source) names."""
    if unit is None or unit.lower() not in _SECONDS:
        raise ValueError(f"duration without a known unit ({unit!r})")
    value = to_float(raw)
    return None if value is None else value * _SECONDS[unit.lower()]


def log_position(raw: object, third: str = "pos") -> LogPosition:
    """`S0000012.LOG, 1234, 40012345` → file/page/pos; with third="lsn" the last part is a hex LSN."""
    text = null(raw)
    if text is None:
        return LogPosition()
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 3:
        raise ValueError(f"expected 'file, page, {third}', got {snippet(text)}")
    file = null(parts[0])
    if file is not None and not _LOGFILE.fullmatch(file):
        raise ValueError(f"expected a log file name like S0000012.LOG, got {snippet(file)}")
    page = to_int(parts[1])
    if third == "lsn":
        lsn = null(parts[2])
        hex_int(lsn)  # validates
        return LogPosition(file, page, None, lsn)
    return LogPosition(file, page, to_int(parts[2]))


def local_timestamp(raw: str) -> str | None:
    """A local date as DB2 prints it (`2016-03-14-11.40.33.915512`, `06/08/2011 13:57:23`) → ISO 8601, no zone."""
    text = raw.strip()
    for fmt in ("%Y-%m-%d-%H.%M.%S.%f", "%Y-%m-%d-%H.%M.%S", "%m/%d/%Y %H:%M:%S.%f", "%m/%d/%Y %H:%M:%S"):
        try:
            return datetime.strptime(text, fmt).isoformat()
        except ValueError:
            continue
    return None


@dataclass(frozen=True)
class Line:
    no: int
    """1-based line number in the input."""
    text: str
    cut: bool = False
    """The last line, with no newline after it: it may have been cut mid-way."""


def lines_of(text: str, what: str = "db2pd -hadr, db2 get snapshot or db2 get db cfg output") -> list[Line]:
    """The input's lines after the checks every parser shares: not empty, text not binary."""
    if not text.strip():
        raise ParseError(f"empty input: expected {what}")
    raw = text.split("\n")
    ends_cut = raw[-1] != ""
    if not ends_cut:
        raw.pop()
    out: list[Line] = []
    for i, line in enumerate(raw, 1):
        line = line.rstrip("\r")
        m = _CONTROL.search(line)
        if m:
            raise ParseError(f"binary data (control character {ord(m.group()):#04x}): expected {what}", i)
        out.append(Line(i, line, ends_cut and i == len(raw)))
    return out


def snippet(text: str, width: int = 60) -> str:
    """A short, quoted, one-line view of input text for an error message."""
    text = " ".join(text.split())
    return repr(text if len(text) <= width else text[: width - 1] + "…")


CHANNEL_KEYS: dict[str, tuple[str, str]] = {
    # db2pd 10.1+ key without its (unit) / MON_GET_HADR column -> (HadrChannel field, kind)
    "HADR_ROLE": ("role", "enum:role"),
    "HADR_SYNCMODE": ("syncmode", "enum:syncmode"),
    "STANDBY_ID": ("standby_id", "int"),
    "LOG_STREAM_ID": ("log_stream_id", "int"),
    "HADR_STATE": ("state", "enum:state"),
    "HADR_FLAGS": ("flags", "flags"),
    "PRIMARY_MEMBER_HOST": ("primary_host", "str"),
    "PRIMARY_INSTANCE": ("primary_instance", "str"),
    "PRIMARY_MEMBER": ("primary_member", "int"),
    "STANDBY_MEMBER_HOST": ("standby_host", "str"),
    "STANDBY_INSTANCE": ("standby_instance", "str"),
    "STANDBY_MEMBER": ("standby_member", "int"),
    "HADR_CONNECT_STATUS": ("connect_status", "enum:connect_status"),
    "HADR_CONNECT_STATUS_TIME": ("connect_status_time_epoch", "epoch"),
    "HEARTBEAT_INTERVAL": ("heartbeat_interval_s", "duration"),
    "HEARTBEAT_MISSED": ("heartbeat_missed", "int"),
    "HADR_TIMEOUT": ("hadr_timeout_s", "duration"),
    "TIME_SINCE_LAST_RECV": ("time_since_last_recv_s", "duration"),
    "PEER_WAIT_LIMIT": ("peer_wait_limit_s", "duration"),
    "LOG_HADR_WAIT_CUR": ("log_hadr_wait_cur_s", "duration"),
    "PRIMARY_LOG_FILE,PAGE,POS": ("primary_log", "logpos"),
    "STANDBY_LOG_FILE,PAGE,POS": ("standby_log", "logpos"),
    "STANDBY_REPLAY_LOG_FILE,PAGE,POS": ("standby_replay_log", "logpos"),
    "HADR_LOG_GAP": ("log_gap_bytes", "bytes"),
    "STANDBY_RECV_REPLAY_GAP": ("standby_recv_replay_gap_bytes", "bytes"),
    "PRIMARY_LOG_TIME": ("primary_log_time_epoch", "epoch"),
    "STANDBY_LOG_TIME": ("standby_log_time_epoch", "epoch"),
    "STANDBY_REPLAY_LOG_TIME": ("standby_replay_log_time_epoch", "epoch"),
    "STANDBY_RECV_BUF_PERCENT": ("standby_recv_buf_percent", "float"),
    "STANDBY_SPOOL_PERCENT": ("standby_spool_percent", "float"),
    "PEER_WINDOW": ("peer_window_s", "duration"),
    "PEER_WINDOW_END": ("peer_window_end_epoch", "epoch"),
    "READS_ON_STANDBY_ENABLED": ("reads_on_standby_enabled", "bool"),
}


class UnitError(ValueError):
    """The key names a unit this field cannot take (kept in `extra`, with a warning, instead)."""


def printed(kind: str, raw: str, unit: str | None, warnings: list[str], where: str = "") -> object:
    """Convert one printed value (db2pd, snapshot) of the given kind; ValueError when it cannot be read."""
    if kind.startswith("enum:"):
        return enum_in(kind[5:], raw, warnings, where)
    if kind == "flags":
        return flags(raw, warnings, where)
    if kind == "duration":
        if unit is None or unit.lower() not in _SECONDS:
            raise UnitError(f"no time unit in the key ({unit!r})")
        return duration_s(raw, unit)
    if kind == "bytes" and unit not in (None, "bytes"):
        raise UnitError(f"unit {unit!r} where bytes were expected")
    if unit is not None and kind not in ("bytes",):
        raise UnitError(f"unexpected unit {unit!r}")
    converters = {"int": to_int, "bytes": to_int, "float": to_float, "epoch": epoch, "logpos": log_position, "bool": yes_no, "str": null}
    return converters[kind](raw)
