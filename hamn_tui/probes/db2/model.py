"""One typed model of DB2 HADR status, whatever produced it (db2pd 9.x or 10.1+, snapshot, db cfg, MON_GET_HADR).

Values are normalised: enum-like values upper case with underscores (`RemoteCatchupPending` →
`REMOTE_CATCHUP_PENDING`, `Nearsync` → `NEARSYNC`); durations in seconds (MON_GET_HADR's
milliseconds converted); log positions split into file / page / byte position; times as
epoch seconds; empty and NULL as None. A field this source does not print stays None —
unknown, never defaulted. Fields the parser does not know are kept in `extra`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Source = Literal["db2pd-9", "db2pd-10", "db2pd", "snapshot", "dbcfg", "mon_get_hadr", "sim"]
"""`db2pd`: a db2pd message whose DB2 level cannot be told (e.g. "not activated" without a banner)."""


@dataclass
class LogPosition:
    file: str | None = None
    """e.g. S0000012.LOG"""
    page: int | None = None
    pos: int | None = None
    """Byte offset (LSO) where the source gives one."""
    lsn: str | None = None
    """The LSN as printed (hex) by db2pd 9.x and the snapshot; `pos` is filled from it only where
    the level documents the LSN as a byte offset (db2pd 9.x)."""


@dataclass
class HadrChannel:
    """One log-shipping channel: a primary sees one per standby (and per log stream); a standby sees one."""

    role: str | None = None
    state: str | None = None
    syncmode: str | None = None
    connect_status: str | None = None
    standby_id: int | None = None
    log_stream_id: int | None = None
    flags: list[str] = field(default_factory=list)
    primary_host: str | None = None
    primary_instance: str | None = None
    primary_member: int | None = None
    standby_host: str | None = None
    standby_instance: str | None = None
    standby_member: int | None = None
    connect_status_time_epoch: int | None = None
    heartbeat_interval_s: float | None = None
    heartbeat_missed: int | None = None
    hadr_timeout_s: float | None = None
    time_since_last_recv_s: float | None = None
    peer_wait_limit_s: float | None = None
    log_hadr_wait_cur_s: float | None = None
    primary_log: LogPosition = field(default_factory=LogPosition)
    standby_log: LogPosition = field(default_factory=LogPosition)
    standby_replay_log: LogPosition = field(default_factory=LogPosition)
    primary_log_time_epoch: int | None = None
    standby_log_time_epoch: int | None = None
    standby_replay_log_time_epoch: int | None = None
    log_gap_bytes: int | None = None
    standby_recv_replay_gap_bytes: int | None = None
    standby_recv_buf_percent: float | None = None
    standby_spool_percent: float | None = None
    peer_window_s: float | None = None
    peer_window_end_epoch: int | None = None
    reads_on_standby_enabled: bool | None = None
    flags_reported: bool = False
    """True when the source printed HADR_FLAGS (db2pd 10.5+, MON_GET_HADR 10.5+); an empty `flags`
    then means no flag is set. False: the source has no flags (9.x, 10.1, snapshot) — unknown."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Fields this parser does not know, by their printed key, value as printed (stripped)."""
    implausible: dict[str, str] = field(default_factory=dict)
    """Fields whose printed value cannot be true (a negative size, a date and `(epoch)` no time zone
    reconciles), by field name: the printed key and value and why. Such a field is None (unknown) and
    every takeover verdict that reads it is unknown: a garbled reading must not pass for a safe one."""


@dataclass
class HadrStatus:
    source: Source
    database: str | None = None
    activated: bool | None = None
    """False when db2pd says the database is not activated (the role is then unknown, never STANDARD)."""
    hadr_active: bool | None = None
    """False when db2pd says `HADR is not active` (role STANDARD)."""
    channels: list[HadrChannel] = field(default_factory=list)
    cfg: dict[str, Any] = field(default_factory=dict)
    """For `db2 get db cfg`: normalised HADR configuration (role, local_host, … timeout_s, peer_window_s)."""
    db2_level: str | None = None
    timestamp_epoch: int | None = None
    """When the source says it took the reading, where it gives an absolute time (the db2pd banner and
    the snapshot print local time without a zone: they fill `timestamp_local` instead)."""
    timestamp_local: str | None = None
    """The reading's date as printed in the DB host's local time, ISO 8601 without offset."""
    cfg_extra: dict[str, Any] = field(default_factory=dict)
    """For `db2 get db cfg`: every other line, by parameter name (HADR_TARGET_LIST, …) or label, as printed."""
    warnings: list[str] = field(default_factory=list)
    """What the parser could not vouch for (unknown enum values or flags, a last line possibly cut, …)."""

    @property
    def role(self) -> str | None:
        if self.hadr_active is False:
            return "STANDARD"
        if self.channels:
            return self.channels[0].role
        return self.cfg.get("role")

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out = {"format": out.pop("source"), **out}
        out["role"] = self.role
        for ch in out["channels"]:
            for key in ("primary_log", "standby_log", "standby_replay_log"):
                pos = ch.pop(key)
                ch[f"{key}_file"], ch[f"{key}_page"], ch[f"{key}_pos"] = pos["file"], pos["page"], pos["pos"]
                ch[f"{key}_lsn"] = pos["lsn"]
        return out


class ParseError(ValueError):
    """Input that is not a status this parser understands; the message says what was expected."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message = " ".join(message.split())  # always one line
        self.line = line
        """1-based line of the input where the problem is, when there is one."""

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message
