"""One node's copy of the xCAT database: its configuration, its log, and its HADR channel.

The log is a list of records shared by identity between copies: a standby holds a prefix of
its primary's records. A copy whose last record is not its partner's record at the same
place has diverged (a forced takeover left transactions on the old primary that the new one
never saw) and cannot become its standby again without a restore (facts §5.3).
"""
from __future__ import annotations

import bisect
import copy
from dataclasses import dataclass, field

LOG_PAGE = 4096
LOG_FILE_PAGES = 1024
LOG_FILE_BYTES = LOG_PAGE * LOG_FILE_PAGES

STATES = ("LOCAL_CATCHUP", "REMOTE_CATCHUP_PENDING", "REMOTE_CATCHUP", "PEER", "DISCONNECTED_PEER", "DISCONNECTED")


@dataclass(frozen=True)
class LogRecord:
    end: int
    """Log position (byte offset) just after this record."""
    rid: int
    """Identity: equal records in two copies are the same transaction."""
    t: int
    """Commit time, epoch seconds."""
    op: tuple[str, ...] = ()
    """An xCAT table change: ("mkdef", type, name, attrs…) or ("rmdef", type, name); () for other work."""


def log_file(pos: int) -> str:
    return f"S{pos // LOG_FILE_BYTES:07d}.LOG"


def log_page(pos: int) -> int:
    return (pos % LOG_FILE_BYTES) // LOG_PAGE


@dataclass
class Db2Config:
    """The database configuration (`db2 get db cfg`) the runbooks read and write."""

    role: str = "STANDARD"
    local_host: str | None = None
    local_svc: str | None = None
    remote_host: str | None = None
    remote_svc: str | None = None
    remote_inst: str | None = None
    syncmode: str = "NEARSYNC"
    timeout_s: int = 120
    peer_window_s: int = 0
    logarchmeth1: str = "OFF"
    logretain: str = "OFF"
    trackmod: bool = False
    logindexbuild: bool = False
    indexrec: str = "SYSTEM"
    rollforward_pending: bool = False
    backup_pending: bool = False

    @property
    def archiving(self) -> bool:
        return self.logarchmeth1.upper() != "OFF" or self.logretain.upper() in ("ON", "RECOVERY")


@dataclass
class Runtime:
    """HADR settings read at activation: a later UPDATE DB CFG only takes effect at the next one (SQL1363W)."""

    syncmode: str
    timeout_s: int
    peer_window_s: int

    @property
    def heartbeat_s(self) -> int:
        """min(hadr_timeout/4, hadr_peer_window/4, 30 s) (facts §4)."""
        cands = [self.timeout_s / 4, 30.0] + ([self.peer_window_s / 4] if self.peer_window_s > 0 else [])
        return max(1, int(min(cands)))


@dataclass
class Channel:
    """What this database knows about its HADR partner: the state db2pd shows."""

    partner: str | None
    state: str
    connect_status: str = "DISCONNECTED"
    connect_time: int = 0
    linked: bool = False
    """Believes it is connected (it may not have noticed yet that the partner is gone)."""
    last_recv: int | None = None
    peer_window_end: int | None = None
    partner_pos: int | None = None
    partner_time: int | None = None
    partner_replay_pos: int | None = None
    partner_replay_time: int | None = None
    gap_avg: int = 0
    linked_at: int = 0
    """When the connection was made (HADR_CONNECT_STATUS_TIME while CONNECTED)."""
    congested_since: int | None = None
    """This side cannot send although the socket is alive (a scenario's `congest_hadr`): HADR_CONNECT_STATUS =
    CONGESTED since then (facts §2.4; IBM Db2 HADR wiki, HADR Monitoring)."""


@dataclass
class BackupImage:
    """The content of a backup image file: the database as it was."""

    db: str
    seed: int
    ts: str
    base_pos: int
    log: list[LogRecord]
    cfg: Db2Config
    online: bool
    size: int = 512 * 1024 * 1024


@dataclass
class Database:
    name: str
    seed: int
    """Databases created separately have different seeds; a restore over a different seed takes the image's configuration."""
    base_pos: int
    created: int
    cfg: Db2Config = field(default_factory=Db2Config)
    log: list[LogRecord] = field(default_factory=list)
    replay_pos: int = 0
    active: bool = False
    explicit: bool = False
    """Activated by ACTIVATE / START HADR; an implicit activation (a client's first connection) ends with the last connection."""
    starting: bool = False
    """Activating as primary, waiting for the standby: not open for applications yet."""
    activated_at: float = 0.0
    runtime: Runtime | None = None
    hadr: Channel | None = None
    alt_server: tuple[str, str] | None = None
    forced_takeover_at: float | None = None
    takeover_breaks: bool = False
    """The next graceful takeover involving this database fails half-way (a scenario's `takeover_fails_halfway`)."""

    @property
    def end(self) -> int:
        return self.log[-1].end if self.log else self.base_pos

    def time_at(self, pos: int) -> int:
        """Commit time of the record ending at (or last before) `pos`."""
        i = bisect.bisect_right([r.end for r in self.log], pos) - 1
        return self.log[i].t if i >= 0 else self.created

    def index_of(self, pos: int) -> int:
        """How many records end at or before `pos`."""
        return bisect.bisect_right([r.end for r in self.log], pos)

    def tables(self, upto: int | None = None) -> dict[tuple[str, str], dict[str, str]]:
        """The xCAT objects this copy holds, replaying its log up to `upto` (its replay position)."""
        limit = self.end if upto is None else upto
        objs: dict[tuple[str, str], dict[str, str]] = {}
        for r in self.log:
            if r.end > limit:
                break
            if not r.op:
                continue
            if r.op[0] == "mkdef":
                attrs = dict(a.split("=", 1) for a in r.op[3:] if "=" in a)
                objs.setdefault((r.op[1], r.op[2]), {}).update(attrs)
            elif r.op[0] == "rmdef":
                objs.pop((r.op[1], r.op[2]), None)
        return objs

    def image(self, ts: str, online: bool) -> BackupImage:
        return BackupImage(self.name, self.seed, ts, self.base_pos, list(self.log), copy.deepcopy(self.cfg), online)


def compatible(standby: Database, primary: Database) -> bool:
    """The standby's log is a prefix of the primary's (same lineage, no transaction the primary lacks)."""
    if standby.seed != primary.seed or standby.base_pos != primary.base_pos:
        return False
    n = len(standby.log)
    if n > len(primary.log):
        return False
    return n == 0 or primary.log[n - 1].rid == standby.log[-1].rid
