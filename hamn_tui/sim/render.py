"""What the simulated DB2 prints: `db2pd -hadr` (9.7 columns or 10.1+/11.5 `KEY = value`), `get db cfg`,
the snapshot's HADR section.

`hadr_truth` is the simulator's own state in the probes' model (`HadrStatus`, source "sim");
the renderers print exactly it, so parsing the output must give it back (the round-trip test).
Layouts follow the fixtures in shared/fixtures/db2 and tests/fixtures_db2. PEER_WINDOW_END is printed
as the primary's clock set it; the banner's date is the node's own clock (IBM Db2 HADR wiki, HADR Config:
"Peer window end is based on primary host machine's clock").
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ..probes.db2.model import HadrChannel, HadrStatus, LogPosition
from .db2 import log_file, log_page

if TYPE_CHECKING:
    from .cluster import SimCluster, SimNode

KEY_WIDTH = 37


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


def _pos(pos: int | None) -> LogPosition:
    return LogPosition() if pos is None else LogPosition(log_file(pos), log_page(pos), pos)


def hadr_truth(c: "SimCluster", n: "SimNode") -> HadrStatus:
    """The node's HADR status as the simulator holds it (the database must be active)."""
    db = n.db
    assert db is not None and db.active
    if db.hadr is None or db.runtime is None or db.cfg.role == "STANDARD":
        return HadrStatus("sim", db.name, True, False)
    ch, rt, cfg = db.hadr, db.runtime, db.cfg
    now = c.clock.now()
    primary = cfg.role == "PRIMARY"
    heard = ch.last_recv is not None
    since = int(now - ch.last_recv) if ch.last_recv is not None else None
    missed = 0 if since is None or ch.connect_status == "CONNECTED" and since < rt.heartbeat_s else since // rt.heartbeat_s
    out = HadrChannel(
        role=cfg.role, state=ch.state, syncmode=rt.syncmode, connect_status=ch.connect_status,
        standby_id=1 if primary else 0, log_stream_id=0,
        flags=["TCP_PROTOCOL"] if ch.connect_status in ("CONNECTED", "CONGESTED") else [], flags_reported=True,
        connect_status_time_epoch=ch.connect_time, heartbeat_interval_s=float(rt.heartbeat_s), heartbeat_missed=missed,
        hadr_timeout_s=float(rt.timeout_s), time_since_last_recv_s=None if since is None else float(since),
        peer_wait_limit_s=0.0, log_hadr_wait_cur_s=0.0, log_gap_bytes=ch.gap_avg,
        standby_recv_buf_percent=0.0, standby_spool_percent=0.0, peer_window_s=float(rt.peer_window_s),
        peer_window_end_epoch=ch.peer_window_end if rt.peer_window_s > 0 else None, reads_on_standby_enabled=False,
    )
    if primary:
        out.primary_host, out.primary_instance, out.primary_member = cfg.local_host, c.instance, 0
        out.standby_host = cfg.remote_host
        out.standby_instance, out.standby_member = (cfg.remote_inst, 0) if heard else (None, None)
        out.primary_log, out.primary_log_time_epoch = _pos(db.end), db.time_at(db.end)
        out.standby_log, out.standby_log_time_epoch = _pos(ch.partner_pos), ch.partner_time
        out.standby_replay_log, out.standby_replay_log_time_epoch = _pos(ch.partner_replay_pos), ch.partner_replay_time
        gap = None if ch.partner_pos is None or ch.partner_replay_pos is None else ch.partner_pos - ch.partner_replay_pos
    else:
        out.standby_host, out.standby_instance, out.standby_member = cfg.local_host, c.instance, 0
        out.primary_host = cfg.remote_host
        out.primary_instance, out.primary_member = (cfg.remote_inst, 0) if heard else (None, None)
        out.primary_log, out.primary_log_time_epoch = _pos(ch.partner_pos), ch.partner_time
        out.standby_log, out.standby_log_time_epoch = _pos(db.end), db.time_at(db.end)
        out.standby_replay_log, out.standby_replay_log_time_epoch = _pos(db.replay_pos), db.time_at(db.replay_pos)
        gap = db.end - db.replay_pos
    out.standby_recv_replay_gap_bytes = gap
    return HadrStatus("sim", db.name, True, True, [out])


# --- db2pd --------------------------------------------------------------------------------------

def _uptime(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"Up {s // 86400} days {s % 86400 // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def db2pd(c: "SimCluster", n: "SimNode") -> str:
    """`db2pd -db DB -hadr` on the node, in the format of the simulated DB2 level."""
    db = n.db
    assert db is not None
    if not n.instance_up:
        # source: db2pd's own text with the instance stopped, as DB2 11.x prints it; not in facts or fixtures (not re-read)
        return ("Unable to attach to database manager on member 0.\nPlease ensure the following are true:\n"
                "   - db2start has been run for the member.\n   - db2pd is being run on the same physical machine as the member.\n"
                "   - DB2NODE environment variable setting is correct for the member\n     or db2pd -mem setting is correct for the member.\n")
    if not db.active or db.starting:
        # source: facts §1 (verbatim on 11.5); fixture 08_db2pd_database_not_activated.txt
        return (f"\nDatabase {db.name} not activated on database member 0 or this database name cannot be found in the local "
                f"database directory.\n\nOption -hadr requires -db <database> or -alldbs option and active database.\n\n")
    status = hadr_truth(c, n)
    now = c.clock.now() + n.clock_skew_s  # the banner's date is the node's own clock (a scenario's clock_skew_s)
    word = "Standby" if db.cfg.role == "STANDBY" else "Active"
    if c.level == "9.7":
        banner = f"\nDatabase Partition 0 -- Database {db.name} -- {word} -- {_uptime(now - n.clock_skew_s - db.activated_at)}\n\n"
        if not status.hadr_active:  # source: facts §1 ("HADR is not active."); fixture 09
            return banner + "HADR is not active.\n"
        return banner + render_97(status.channels[0], db.cfg.local_svc or "", db.cfg.remote_svc or "")
    date = _utc(now).strftime("%Y-%m-%d-%H.%M.%S.%f")
    up = now - n.clock_skew_s - db.activated_at
    banner = f"\nDatabase Member 0 -- Database {db.name} -- {word} -- {_uptime(up)} -- Date {date}\n\n"
    if not status.hadr_active:
        return banner + "\nHADR is not active.\n"
    return banner + render_115(status.channels[0], extra_expected=int(up // max(1.0, status.channels[0].heartbeat_interval_s or 30)))


def _null(value: object) -> str:
    return "NULL" if value is None else str(value)


def _stamp(epoch: int | None) -> str:
    if epoch is None:
        return "NULL"
    return _utc(epoch).strftime("%m/%d/%Y %H:%M:%S.000000") + f" ({epoch})"


def _logpos(p: LogPosition) -> str:
    return "NULL" if p.pos is None else f"{p.file}, {p.page}, {p.pos}"


def _num(v: float | None) -> str:
    return "NULL" if v is None else f"{v:g}" if v != int(v) else str(int(v))


def render_115(ch: HadrChannel, extra_expected: int = 0) -> str:
    """One 10.5+/11.x `KEY = value` block (key order of the 11.x fixtures)."""
    rows: list[tuple[str, str]] = [
        ("HADR_ROLE", _null(ch.role)), ("REPLAY_TYPE", "PHYSICAL"), ("HADR_SYNCMODE", _null(ch.syncmode)),
        ("STANDBY_ID", _null(ch.standby_id)), ("LOG_STREAM_ID", _null(ch.log_stream_id)), ("HADR_STATE", _null(ch.state)),
        ("HADR_FLAGS", " ".join(ch.flags)), ("PRIMARY_MEMBER_HOST", _null(ch.primary_host)),
        ("PRIMARY_INSTANCE", _null(ch.primary_instance)), ("PRIMARY_MEMBER", _null(ch.primary_member)),
        ("STANDBY_MEMBER_HOST", _null(ch.standby_host)), ("STANDBY_INSTANCE", _null(ch.standby_instance)),
        ("STANDBY_MEMBER", _null(ch.standby_member)), ("HADR_CONNECT_STATUS", _null(ch.connect_status)),
        ("HADR_CONNECT_STATUS_TIME", _stamp(ch.connect_status_time_epoch)),
        ("HEARTBEAT_INTERVAL(seconds)", _num(ch.heartbeat_interval_s)), ("HEARTBEAT_MISSED", _null(ch.heartbeat_missed)),
        ("HEARTBEAT_EXPECTED", str(extra_expected)), ("HADR_TIMEOUT(seconds)", _num(ch.hadr_timeout_s)),
        ("TIME_SINCE_LAST_RECV(seconds)", _num(ch.time_since_last_recv_s)), ("PEER_WAIT_LIMIT(seconds)", _num(ch.peer_wait_limit_s)),
        ("LOG_HADR_WAIT_CUR(seconds)", f"{ch.log_hadr_wait_cur_s or 0:.3f}"), ("LOG_HADR_WAIT_RECENT_AVG(seconds)", "0.000000"),
        ("LOG_HADR_WAIT_ACCUMULATED(seconds)", "0.000"), ("LOG_HADR_WAIT_COUNT", "0"),
        ("SOCK_SEND_BUF_REQUESTED,ACTUAL(bytes)", "0, 46080"), ("SOCK_RECV_BUF_REQUESTED,ACTUAL(bytes)", "0, 367360"),
        ("PRIMARY_LOG_FILE,PAGE,POS", _logpos(ch.primary_log)), ("STANDBY_LOG_FILE,PAGE,POS", _logpos(ch.standby_log)),
        ("HADR_LOG_GAP(bytes)", _null(ch.log_gap_bytes)), ("STANDBY_REPLAY_LOG_FILE,PAGE,POS", _logpos(ch.standby_replay_log)),
        ("STANDBY_RECV_REPLAY_GAP(bytes)", _null(ch.standby_recv_replay_gap_bytes)),
        ("PRIMARY_LOG_TIME", _stamp(ch.primary_log_time_epoch)), ("STANDBY_LOG_TIME", _stamp(ch.standby_log_time_epoch)),
        ("STANDBY_REPLAY_LOG_TIME", _stamp(ch.standby_replay_log_time_epoch)), ("STANDBY_RECV_BUF_SIZE(pages)", "2048"),
        ("STANDBY_RECV_BUF_PERCENT", _num(ch.standby_recv_buf_percent)), ("STANDBY_SPOOL_LIMIT(pages)", "52000"),
        ("STANDBY_SPOOL_PERCENT", _num(ch.standby_spool_percent)), ("STANDBY_ERROR_TIME", "NULL"),
        ("PEER_WINDOW(seconds)", _num(ch.peer_window_s)),
    ]
    if ch.peer_window_s:
        rows.append(("PEER_WINDOW_END", _stamp(ch.peer_window_end_epoch)))
    rows.append(("READS_ON_STANDBY_ENABLED", "Y" if ch.reads_on_standby_enabled else "N"))
    return "".join(f"{k:>{KEY_WIDTH}} = {v}".rstrip() + "\n" for k, v in rows)


_CAMEL = {"PRIMARY": "Primary", "STANDBY": "Standby", "LOCAL_CATCHUP": "LocalCatchup", "REMOTE_CATCHUP_PENDING": "RemoteCatchupPending",
          "REMOTE_CATCHUP": "RemoteCatchup", "PEER": "Peer", "DISCONNECTED_PEER": "DisconnectedPeer", "DISCONNECTED": "Disconnected",
          "SYNC": "Sync", "NEARSYNC": "Nearsync", "ASYNC": "Async", "SUPERASYNC": "Superasync", "CONNECTED": "Connected",
          "CONGESTED": "Congested"}


def _date97(epoch: int | None) -> str:
    """9.7 prints local time then the epoch; `(0)` is DB2's "never"."""
    e = epoch or 0
    return _utc(e).strftime("%a %b %d %H:%M:%S %Y") + f" ({e})"


def _lsn(p: LogPosition) -> tuple[str, str, str]:
    if p.pos is None:  # 9.7 has no NULL: a position never seen prints as zero
        return "S0000000.LOG", "0", "0x0000000000000000"
    return str(p.file), str(p.page), f"0x{p.pos:016X}"


def render_97(ch: HadrChannel, local_svc: str, remote_svc: str) -> str:
    """The 9.7 columnar layout (fixture 01, xCAT wiki): header rows, each followed by its value row."""
    primary = ch.role == "PRIMARY"
    local, remote = (ch.primary_host, ch.standby_host) if primary else (ch.standby_host, ch.primary_host)
    remote_inst = ch.standby_instance if primary else ch.primary_instance
    pf, pp, pl = _lsn(ch.primary_log)
    sf, sp, sl = _lsn(ch.standby_log)
    lines = [
        "HADR Information:",
        f"{'Role':<8}{'State':<21}{'SyncMode':<9}{'HeartBeatsMissed':<19}LogGapRunAvg (bytes)",
        f"{_CAMEL[ch.role or '']:<8}{_CAMEL[ch.state or '']:<21}{_CAMEL[ch.syncmode or '']:<9}{ch.heartbeat_missed or 0:<19}{ch.log_gap_bytes or 0}",
        "",
        f"{'ConnectStatus':<14}{'ConnectTime':<38}Timeout",
        f"{_CAMEL[ch.connect_status or '']:<14}{_date97(ch.connect_status_time_epoch):<38}{_num(ch.hadr_timeout_s)}",
        "",
    ]
    if ch.peer_window_s:
        lines += [f"{'PeerWindowEnd':<38}PeerWindow", f"{_date97(ch.peer_window_end_epoch):<38}{_num(ch.peer_window_s)}", ""]
    lines += [
        f"{'LocalHost':<41}LocalService", f"{local or '':<41}{local_svc}", "",
        f"{'RemoteHost':<41}{'RemoteService':<19}RemoteInstance", f"{remote or '':<41}{remote_svc:<19}{remote_inst or ''}", "",
        f"{'PrimaryFile':<13}{'PrimaryPg':<11}PrimaryLSN", f"{pf:<13}{pp:<11}{pl}", "",
    ]
    if primary:
        lines += [f"{'StandByFile':<13}{'StandByPg':<11}StandByLSN", f"{sf:<13}{sp:<11}{sl}", ""]
    else:
        lines += [f"{'StandByFile':<13}{'StandByPg':<11}{'StandByLSN':<19}StandByRcvBufUsed", f"{sf:<13}{sp:<11}{sl:<19}0%", ""]
    return "\n".join(line.rstrip() for line in lines) + "\n"


# --- db2 get db cfg ---------------------------------------------------------------------------------

def _cfg_line(label: str, param: str | None, value: object) -> str:
    left = f" {label:<{55 - (len(param) + 3 if param else 0)}}" + (f" ({param})" if param else "")
    text = "" if value is None else str(value)
    return f"{left} = {text}".rstrip() + "\n"


def dbcfg(c: "SimCluster", n: "SimNode") -> str:
    """`db2 get db cfg for DB`: the lines the runbooks and the probe read, as 11.5 (and 9.7) print them."""
    db = n.db
    assert db is not None
    cfg = db.cfg
    yes = lambda b: "YES" if b else "NO"  # noqa: E731
    level = "0x0d00" if c.level == "9.7" else "0x1500"
    out = [f"\n       Database Configuration for Database {db.name}\n\n",
           _cfg_line("Database configuration release level", None, level),
           _cfg_line("Database release level", None, level), "\n",
           _cfg_line("Backup pending", None, yes(cfg.backup_pending)), "\n",
           _cfg_line("All committed transactions have been written to disk", None, "NO" if db.active else "YES"),
           _cfg_line("Rollforward pending", None, "DATABASE" if cfg.rollforward_pending else "NO"),
           _cfg_line("Restore pending", None, "NO"), "\n",
           _cfg_line("Log retain for recovery status", None, "RECOVERY" if cfg.archiving else "NO"),
           _cfg_line("User exit for logging status", None, "YES" if cfg.archiving else "NO"), "\n",
           _cfg_line("Track modified pages", "TRACKMOD", "YES" if cfg.trackmod else "NO"), "\n",
           _cfg_line("First active log file", None, log_file(db.end)), "\n",
           _cfg_line("HADR database role", None, cfg.role),
           _cfg_line("HADR local host name", "HADR_LOCAL_HOST", cfg.local_host),
           _cfg_line("HADR local service name", "HADR_LOCAL_SVC", cfg.local_svc),
           _cfg_line("HADR remote host name", "HADR_REMOTE_HOST", cfg.remote_host),
           _cfg_line("HADR remote service name", "HADR_REMOTE_SVC", cfg.remote_svc),
           _cfg_line("HADR instance name of remote server", "HADR_REMOTE_INST", cfg.remote_inst),
           _cfg_line("HADR timeout value", "HADR_TIMEOUT", cfg.timeout_s)]
    if c.level != "9.7":
        out.append(_cfg_line("HADR target list", "HADR_TARGET_LIST", None))
    out.append(_cfg_line("HADR log write synchronization mode", "HADR_SYNCMODE", cfg.syncmode))
    if c.level != "9.7":
        out += [_cfg_line("HADR spool log data limit (4KB)", "HADR_SPOOL_LIMIT", "AUTOMATIC(52000)"),
                _cfg_line("HADR log replay delay (seconds)", "HADR_REPLAY_DELAY", 0)]
    out += [_cfg_line("HADR peer window duration (seconds)", "HADR_PEER_WINDOW", cfg.peer_window_s), "\n"]
    if c.level == "9.7":
        out.append(_cfg_line("Log retain for recovery enabled", "LOGRETAIN", cfg.logretain))
    out += [_cfg_line("First log archive method", "LOGARCHMETH1", cfg.logarchmeth1),
            _cfg_line("Second log archive method", "LOGARCHMETH2", "OFF"), "\n",
            _cfg_line("Auto restart enabled", "AUTORESTART", "ON"),
            _cfg_line("Index re-creation time and redo index build", "INDEXREC", cfg.indexrec),
            _cfg_line("Log pages during index build", "LOGINDEXBUILD", "ON" if cfg.logindexbuild else "OFF")]
    return "".join(out)


# --- db2 get snapshot for db on DB (HADR section) -------------------------------------------------------

_SNAP_STATE = {"LOCAL_CATCHUP": "Local catchup", "REMOTE_CATCHUP_PENDING": "Remote catchup pending", "REMOTE_CATCHUP": "Remote catchup",
               "PEER": "Peer", "DISCONNECTED_PEER": "Disconnected peer", "DISCONNECTED": "Disconnected"}


def snapshot(c: "SimCluster", n: "SimNode") -> str:
    db = n.db
    assert db is not None and db.active
    now = c.clock.now()
    head = (f"\n              Database Snapshot\n\nDatabase name                              = {db.name}\n"
            f"Input database alias                       = {db.name}\n"
            f"Snapshot timestamp                         = {_utc(now).strftime('%m/%d/%Y %H:%M:%S.%f')}\n\n   HADR Status\n")
    status = hadr_truth(c, n)
    if not status.hadr_active:
        return head + "     Role                   = Standard\n\n"
    ch = status.channels[0]
    primary = ch.role == "PRIMARY"
    local, remote = (ch.primary_host, ch.standby_host) if primary else (ch.standby_host, ch.primary_host)
    inst = ch.standby_instance if primary else ch.primary_instance
    when = _utc(ch.connect_status_time_epoch or 0).strftime("%m/%d/%Y %H:%M:%S.000000")

    def pos(p: LogPosition) -> str:
        f, pg, lsn = _lsn(p)
        return f"{f}, {pg}, {lsn[2:]}"

    rows = [("Role", _CAMEL[ch.role or ""]), ("State", _SNAP_STATE[ch.state or ""]),
            ("Synchronization mode", _CAMEL[ch.syncmode or ""]), ("Connection status", f"{_CAMEL[ch.connect_status or '']}, {when}")]
    if ch.peer_window_s:
        rows += [("Peer window end", _stamp(ch.peer_window_end_epoch) if ch.peer_window_end_epoch else "NULL"),
                 ("Peer window (seconds)", _num(ch.peer_window_s))]
    rows += [("Heartbeats missed", str(ch.heartbeat_missed or 0)), ("Local host", local or ""), ("Local service", db.cfg.local_svc or ""),
             ("Remote host", remote or ""), ("Remote service", db.cfg.remote_svc or ""), ("Remote instance", inst or ""),
             ("timeout(seconds)", _num(ch.hadr_timeout_s))]
    body = "".join(f"     {k:<22} = {v}\n" for k, v in rows)
    body += (f"     Primary log position(file, page, LSN) = {pos(ch.primary_log)}\n"
             f"     Standby log position(file, page, LSN) = {pos(ch.standby_log)}\n"
             f"     Log gap running average(bytes) = {ch.log_gap_bytes or 0}\n\n")
    return head + body
