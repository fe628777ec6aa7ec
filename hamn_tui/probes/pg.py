"""PostgreSQL probes (psycopg2): `pg.replication` and `pg.promote`, and the promotion-safety rules.

The probes connect from where hamn runs to each node's address and `[pg].port`, as
`[pg].os_user`, database `postgres`. No password is ever written here: libpq finds one the
usual way (~/.pgpass, PGPASSFILE, PGPASSWORD) or the server trusts the address. Every session
is read-only with short connect and statement timeouts.

What is not read stays absent (unknown), never guessed. `reachable` is False only when the
node's TCP port refused or the host/network was reported unreachable: that is an observation
that no server listens. A timeout, a failed login or a server that is starting up leaves
`reachable` unknown: the last two even prove that something still answers, which must never
count as "the old primary is down".
"""
from __future__ import annotations

import asyncio
import errno
import re
import socket
from typing import Any, Callable, Mapping

from ..cluster.model import Cluster
from ..transport.reach import MEMO
from .base import ProbeSet, Reading

CONNECT_TIMEOUT_S = 5
STATEMENT_TIMEOUT_MS = 5000
APPLICATION_NAME = "hamn"

_UNREACHABLE = {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH}
SPLIT_BRAIN = "the old primary is not confirmed down: promoting now could split the brain"


# --- reading one server -----------------------------------------------------------------------


def lsn_to_int(lsn: str | None) -> int | None:
    """'16/B374D848' -> byte position (what pg_wal_lsn_diff subtracts)."""
    if not lsn:
        return None
    hi, _, lo = lsn.partition("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def _tcp_reachable(host: str, port: int, timeout_s: float) -> tuple[bool | None, str | None]:
    """True: something accepts TCP there; False: refused / no route (an observation); None: unknown.

    Done with a plain socket because the errno is exact, where libpq's message is translated
    text; a wrong False here would let an unplanned-failover gate pass with the primary alive.
    """
    silent = MEMO.silent(host, port)
    if silent is not None:  # another probe just saw it: no second ARP wait (transport/reach.py)
        return False, silent.described()
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
        MEMO.forget(host, port)
        return True, None
    except socket.timeout:
        return None, f"no answer from {host}:{port} within {timeout_s} s"
    except socket.gaierror as exc:
        return None, f"cannot resolve {host}: {exc}"
    except OSError as exc:
        if exc.errno in _UNREACHABLE:
            MEMO.record(host, port, exc)
            return False, f"{host}:{port}: {exc.strerror or exc}"
        return None, f"{host}:{port}: {exc}"


def _query(cur: Any, sql: str, notes: list[str], what: str) -> list[tuple[Any, ...]] | None:
    """One statement; a failure (permission, old server) leaves its fields absent and says why."""
    try:
        cur.execute(sql)
        return cur.fetchall()
    except Exception as exc:  # psycopg2.Error, but never let one query sink the rest
        notes.append(f"{what}: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}")
        return None


def _app_name(conninfo: str | None) -> str | None:
    """The application_name a WAL receiver connects with: application_name, else the fallback
    the receiver sets (cluster_name or 'walreceiver'); it names this standby's row on the primary."""
    if not conninfo:
        return None
    pairs = dict(re.findall(r"(\w+)=('(?:[^'\\]|\\.)*'|\S*)", conninfo))
    value = pairs.get("application_name") or pairs.get("fallback_application_name")
    return value.strip("'") if value else None


_REPLICATION_SQL = """
SELECT application_name, client_addr::text, state, sync_state, sent_lsn::text, write_lsn::text,
       flush_lsn::text, replay_lsn::text, pg_wal_lsn_diff({top}, replay_lsn)::bigint
FROM pg_stat_replication
ORDER BY state <> 'streaming', application_name, pid
"""


def _replication_rows(cur: Any, primary: bool, notes: list[str]) -> list[dict[str, Any]] | None:
    """pg_stat_replication; lag is measured from the current WAL end (a cascading standby: its replay)."""
    top = "pg_current_wal_lsn()" if primary else "pg_last_wal_replay_lsn()"
    rows = _query(cur, _REPLICATION_SQL.format(top=top), notes, "pg_stat_replication")
    if rows is None:
        return None
    keys = ("application_name", "client_addr", "state", "sync_state", "sent_lsn", "write_lsn", "flush_lsn",
            "replay_lsn", "lag_bytes")
    return [dict(zip(keys, r)) for r in rows]


def _read_primary_side(cur: Any, out: dict[str, Any], notes: list[str]) -> None:
    """A primary's timeline is the one its WAL is written on now: the first 8 hex digits of the
    current WAL file name. pg_control_checkpoint() would show the old timeline until the first
    checkpoint after a promotion (seen in the lab), exactly when the gates look."""
    row = _query(cur, "SELECT pg_current_wal_lsn()::text, pg_walfile_name(pg_current_wal_lsn())", notes, "current WAL")
    if row:
        out["current_lsn"] = row[0][0]
        out["timeline"] = int(row[0][1][:8], 16)


def _read_standby_side(cur: Any, out: dict[str, Any], notes: list[str]) -> None:
    """Replay position and age, the WAL receiver, and the timeline it receives.

    A standby's timeline is the WAL receiver's `received_tli` (the timeline of the last WAL it
    received and flushed): it follows the primary's timeline switches at once, where the
    checkpoint timeline only moves at a restartpoint. With no receiver running it is absent:
    the checkpoint timeline could be behind and would be a guess.
    """
    row = _query(cur, """SELECT pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text,
        pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::bigint,
        pg_get_wal_replay_pause_state(),
        floor(extract(epoch FROM now() - pg_last_xact_replay_timestamp()))::bigint""", notes, "replay position")
    if row:
        receive, replay, pending, pause, age = row[0]
        out.update(receive_lsn=receive, replay_lsn=replay, replay_pending_bytes=pending, replay_pause=pause)
        out["replay_age_s"] = age  # None: nothing was ever replayed
    rcv = _query(cur, """SELECT status, received_tli, flushed_lsn::text, sender_host, sender_port, slot_name, conninfo
        FROM pg_stat_wal_receiver""", notes, "pg_stat_wal_receiver")
    if rcv is None:
        return
    if not rcv:
        out["wal_receiver"] = "stopped"  # the view has no row while no WAL receiver process runs
        return
    status, tli, flushed, host, port, slot, conninfo = rcv[0]
    if status is None:
        notes.append("pg_stat_wal_receiver: details need superuser or pg_read_all_stats")
        return
    out["wal_receiver"] = status
    out["receiver"] = {"received_tli": tli, "flushed_lsn": flushed, "sender_host": host, "sender_port": port,
                       "slot_name": slot, "application_name": _app_name(conninfo)}
    if tli:
        out["timeline"] = tli


def read_pg(host: str, port: int, user: str, dbname: str = "postgres", *,
            timeout_s: float = CONNECT_TIMEOUT_S) -> dict[str, Any]:
    """Read one server's replication facts. Keys that could not be read are missing.

    Always: `reachable` unless unknown, `error` when something was not read. Connected:
    role, in_recovery, system_identifier, timeline, replication (pg_stat_replication rows),
    streaming_standbys; a primary adds current_lsn; a standby adds receive_lsn, replay_lsn,
    replay_pending_bytes (received but not yet replayed), replay_pause, replay_age_s (None
    when nothing was ever replayed), wal_receiver and receiver (its pg_stat_wal_receiver row).
    """
    import psycopg2

    out: dict[str, Any] = {"host": host, "port": port}
    tcp, why = _tcp_reachable(host, port, timeout_s)
    if tcp is not True:
        if tcp is False:
            out["reachable"] = False
        out["error"] = why
        return out
    try:
        conn = psycopg2.connect(host=host, port=port, user=user, dbname=dbname, connect_timeout=max(2, int(timeout_s)),
                                application_name=APPLICATION_NAME, options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
                                # a peer that vanishes mid-query must not block the read forever
                                keepalives=1, keepalives_idle=5, keepalives_interval=2, keepalives_count=2,
                                tcp_user_timeout=STATEMENT_TIMEOUT_MS * 2)
    except psycopg2.Error as exc:
        # The port accepted TCP, so a server (or something) answers there: never "unreachable".
        out["answers"] = True
        out["error"] = f"connected to {host}:{port} but no session: {str(exc).strip()}"
        return out
    notes: list[str] = []
    try:
        conn.set_session(readonly=True, autocommit=True)
        with conn.cursor() as cur:
            _read_server(cur, out, notes)
    finally:
        conn.close()
    if notes:
        out["error"] = "; ".join(notes)
    return out


def _read_server(cur: Any, out: dict[str, Any], notes: list[str]) -> None:
    out["reachable"] = True
    row = _query(cur, "SELECT pg_is_in_recovery(), (SELECT system_identifier FROM pg_control_system())::text",
                 notes, "recovery state")
    if not row:
        return
    in_recovery, sysid = row[0]
    out.update(in_recovery=in_recovery, role="standby" if in_recovery else "primary")
    if sysid is not None:
        out["system_identifier"] = sysid
    (_read_standby_side if in_recovery else _read_primary_side)(cur, out, notes)
    rows = _replication_rows(cur, not in_recovery, notes)
    if rows is not None:
        out["replication"] = rows
        out["streaming_standbys"] = sum(1 for r in rows if r["state"] == "streaming")


# --- the promotion verdict --------------------------------------------------------------------


def standby_row(standby: Mapping[str, Any], primary: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str | None, bool]:
    """This standby's row in the primary's pg_stat_replication, matched by application_name.

    Returns (row, None, False), or (None, why, refuse): refuse is True when the primary has no
    row for the standby's name (it does not stream from this primary), False when the match is
    only ambiguous (several standbys under one name that disagree) or the name is unknown and
    the primary has not exactly one row.
    """
    rows = list(primary.get("replication") or [])
    name = (standby.get("receiver") or {}).get("application_name")
    if name is None:
        if len(rows) == 1:
            return rows[0], None, False
        return None, f"the standby's application_name is unknown and the primary has {len(rows)} replication rows", False
    mine = [r for r in rows if r.get("application_name") == name]
    if not mine:
        return None, f"the primary's pg_stat_replication has no row for application_name={name!r}", True
    if len({(r.get("state"), r.get("sync_state")) for r in mine}) > 1:
        return None, f"{len(mine)} standbys connect as application_name={name!r} with different states", False
    return mine[0], None, False


def standby_lag_bytes(standby: Mapping[str, Any], primary: Mapping[str, Any] | None) -> int | None:
    """The primary's current LSN minus the standby's replay LSN (None unless both were read).

    Read the standby first, then the primary: the primary only moves forward, so the result
    can overstate the lag, never understate it.
    """
    if not primary:
        return None
    top, replay = lsn_to_int(primary.get("current_lsn")), lsn_to_int(standby.get("replay_lsn"))
    return None if top is None or replay is None else top - replay


def _primary_up(primary: Mapping[str, Any] | None) -> bool | None:
    """True: the primary's server answers; False: observed not listening; None: unknown."""
    if primary is None:
        return None
    if primary.get("reachable") is True or primary.get("answers"):
        return True
    return False if primary.get("reachable") is False else None


def promote_verdict(standby: Mapping[str, Any], primary: Mapping[str, Any] | None, max_lag_bytes: int,
                    primary_down_confirmed: bool) -> tuple[str, list[str]]:
    """May this standby be promoted now? ("allowed" | "refused" | "unknown", reasons).

    Every reason names the field and the value it saw. The rules mirror repmgr's switchover
    checks, Patroni's failover checks and pg_auto_failover (docs anchors.md §3.1-3.3):

    - unknown: the standby cannot be read (not reachable, or in_recovery unread).
    - refused: the standby is not in recovery (it already is a primary).
    - Planned switchover (the primary answers):
      refused when the operator attested the primary down (it is not: split brain), when the
      "primary" is itself in recovery, when the two are different clusters (system_identifier),
      when the standby's wal_receiver is not streaming or the primary has no streaming row for
      it, when replay is paused (repmgr: "not safe"), when lag_bytes > max_lag_bytes or is
      negative (the standby is ahead: diverged), when the timelines differ (Patroni
      check_timeline); unknown when any of these could not be read (sync_state included: a
      switchover needs to know whether the standby was synchronous). Allowed only if all hold.
    - Unplanned failover (the primary does not answer, or cannot be read):
      refused unless primary_down_confirmed (the operator attested it is down and fenced):
      "the old primary is not confirmed down: promoting now could split the brain"; refused
      while the standby's wal_receiver still streams (from whom, if the primary is down?
      Patroni: "primary is still alive"). Otherwise allowed, with a reason saying that the
      data the old primary committed but never sent cannot be measured; replay_age_s, the
      age of the last replayed transaction, is shown instead.
    """
    if standby.get("reachable") is not True or standby.get("in_recovery") is None:
        why = standby.get("error") or "not read"
        return "unknown", [f"the standby cannot be read: reachable={standby.get('reachable')!r} ({why})"]
    if standby["in_recovery"] is False:
        return "refused", ["in_recovery=False: the node is not a standby, it already is a primary"]
    up = _primary_up(primary)
    if up:
        return _planned(standby, primary or {}, max_lag_bytes, primary_down_confirmed)
    return _unplanned(standby, primary, up, primary_down_confirmed)


def _planned(standby: Mapping[str, Any], primary: Mapping[str, Any], max_lag: int, down_confirmed: bool) -> tuple[str, list[str]]:
    refused: list[str] = []
    unknown: list[str] = []
    ok: list[str] = []
    if down_confirmed:
        refused.append(f"the old primary was attested down but answers (reachable={primary.get('reachable')!r}): "
                       "promoting now would split the brain")
    if primary.get("reachable") is not True:
        unknown.append(f"the primary answers but cannot be read ({primary.get('error')})")
        return _decide(refused, unknown, ok)
    if primary.get("in_recovery") is not False:
        (refused if primary.get("in_recovery") else unknown).append(
            f"primary in_recovery={primary.get('in_recovery')!r}: there is no primary to switch over from")
        return _decide(refused, unknown, ok)
    _check_same_cluster(standby, primary, refused, ok)
    _check_streaming(standby, primary, refused, unknown, ok)
    _check_replay_running(standby, refused, unknown, ok)
    _check_lag(standby, primary, max_lag, refused, unknown, ok)
    _check_timeline(standby, primary, refused, unknown, ok)
    return _decide(refused, unknown, ok)


def _check_same_cluster(standby: Mapping[str, Any], primary: Mapping[str, Any], refused: list[str], ok: list[str]) -> None:
    a, b = standby.get("system_identifier"), primary.get("system_identifier")
    if a and b and a != b:
        refused.append(f"system_identifier={a} differs from the primary's {b}: not a standby of this primary")
    elif a and b:
        ok.append(f"system_identifier={a} is the primary's")


def _check_streaming(standby: Mapping[str, Any], primary: Mapping[str, Any], refused: list[str], unknown: list[str], ok: list[str]) -> None:
    rcv = standby.get("wal_receiver")
    if rcv is None:
        unknown.append("wal_receiver is unknown")
    elif rcv != "streaming":
        refused.append(f"wal_receiver={rcv}: the standby is not streaming from a primary")
    else:
        ok.append("wal_receiver=streaming")
    row, why, refuse = standby_row(standby, primary)
    if row is None:
        (refused if refuse else unknown).append(why or "no replication row")
        return
    if row.get("state") != "streaming":
        refused.append(f"the primary's walsender for it is in state={row.get('state')}, not streaming")
    if row.get("sync_state") is None:
        unknown.append("sync_state is unknown")
    else:
        ok.append(f"sync_state={row['sync_state']}")


def _check_replay_running(standby: Mapping[str, Any], refused: list[str], unknown: list[str], ok: list[str]) -> None:
    pause = standby.get("replay_pause")
    if pause is None:
        unknown.append("replay_pause is unknown")
    elif pause != "not paused":
        refused.append(f"replay_pause={pause!r}: WAL replay is paused on the standby")
    else:
        ok.append("replay_pause='not paused'")


def _check_lag(standby: Mapping[str, Any], primary: Mapping[str, Any], max_lag: int, refused: list[str], unknown: list[str], ok: list[str]) -> None:
    lag = standby_lag_bytes(standby, primary)
    if lag is None:
        unknown.append("lag_bytes is unknown (current or replay LSN not read)")
    elif lag < 0:
        refused.append(f"lag_bytes={lag}: the standby has replayed past the primary's WAL end: they diverged")
    elif lag > max_lag:
        refused.append(f"lag_bytes={lag} > max_lag_bytes={max_lag}")
    else:
        ok.append(f"lag_bytes={lag} <= max_lag_bytes={max_lag}")


def _check_timeline(standby: Mapping[str, Any], primary: Mapping[str, Any], refused: list[str], unknown: list[str], ok: list[str]) -> None:
    s, p = standby.get("timeline"), primary.get("timeline")
    if s is None or p is None:
        unknown.append(f"timeline unknown (standby {s!r}, primary {p!r})")
    elif s != p:
        refused.append(f"timeline={s} differs from the primary's timeline={p}")
    else:
        ok.append(f"timeline={s} equals the primary's")


def _unplanned(standby: Mapping[str, Any], primary: Mapping[str, Any] | None, up: bool | None, down_confirmed: bool) -> tuple[str, list[str]]:
    seen = "primary reachable=False" if up is False else f"primary unreadable ({(primary or {}).get('error') or 'not read'})"
    if not down_confirmed:
        return "refused", [f"{SPLIT_BRAIN} ({seen}, primary_down_confirmed=False)"]
    if standby.get("wal_receiver") == "streaming":
        return "refused", ["wal_receiver=streaming: the standby still receives WAL, so a primary is alive; "
                           "if it was just powered off, wait for wal_receiver_timeout and read again"]
    age = standby.get("replay_age_s")
    last = f"replay_age_s={age}: the last replayed transaction committed {age} s ago" if age is not None else \
        "replay_age_s=None: this standby never replayed a transaction"
    return "allowed", [f"{seen}, primary_down_confirmed=True",
                       f"in_recovery=True, wal_receiver={standby.get('wal_receiver')}",
                       "possible data loss cannot be measured: the primary is down, so what it committed "
                       f"but never sent is unknown; {last}"]


def _decide(refused: list[str], unknown: list[str], ok: list[str]) -> tuple[str, list[str]]:
    if refused:
        return "refused", refused + unknown
    if unknown:
        return "unknown", unknown
    return "allowed", ok


# --- the probe set ----------------------------------------------------------------------------


def pg_probes(cluster: Cluster, *, roles: Mapping[str, str] | None = None,
              primary_down_confirmed: Callable[[Mapping[str, Any]], bool] = lambda args: False,
              timeout_s: float = CONNECT_TIMEOUT_S) -> ProbeSet:
    """`pg.replication` and `pg.promote` for the cluster's nodes.

    `roles` is the run's binding (role -> node; it may be rebound after a failover), else the
    cluster file's roles. `primary_down_confirmed` says whether the operator attested the old
    primary down and fenced (the runbook's manual step); it is asked at each reading.
    """

    async def read(name: str) -> dict[str, Any]:
        if cluster.pg is None:
            return {"error": "the cluster file has no [pg] section"}
        node = cluster.nodes.get(name)
        if node is None:
            return {"error": f"no node {name!r} in the cluster file"}
        limit = 3 * timeout_s + STATEMENT_TIMEOUT_MS * 4 / 1000  # connect + a few statements, generously
        try:
            return await asyncio.wait_for(asyncio.to_thread(read_pg, node.address, cluster.pg.port, cluster.pg.os_user,
                                                            timeout_s=timeout_s), limit)
        except asyncio.TimeoutError:  # the worker thread ends on its own timeouts; the answer is unknown now
            return {"error": f"no answer from {name} within {limit:.0f} s"}

    def primary_of(name: str) -> str | None:
        bound = (roles or {}).get("primary")
        if bound is None:
            found = cluster.node_with_role("primary")
            bound = found[0] if found else None
        return bound if bound != name else None

    async def pair(name: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The node, then (for a standby) the primary: that order keeps the lag conservative."""
        me = await read(name)
        other = primary_of(name)
        if me.get("role") != "standby" or other is None:
            return me, None
        return me, await read(other)

    async def replication(node: str, args: Mapping[str, Any], user: str | None) -> Reading:
        me, primary = await pair(node)
        return Reading(replication_fields(me, primary), error=_errors(me, primary))

    async def promote(node: str, args: Mapping[str, Any], user: str | None) -> Reading:
        me, primary = await pair(node)
        if me.get("role") == "standby" and primary is None:
            primary = {"error": "the cluster has no other node bound as primary"}
        max_lag = cluster.pg.max_lag_bytes if cluster.pg else 0
        verdict, reasons = promote_verdict(me, primary, max_lag, primary_down_confirmed(args))
        fields: dict[str, Any] = {"verdict": verdict}
        lag = standby_lag_bytes(me, primary) if me.get("role") == "standby" else None
        if lag is not None:
            fields["lag_bytes"] = lag
        return Reading(fields, detail="; ".join(reasons) or None)

    return ProbeSet({"pg.replication": replication, "pg.promote": promote})


def replication_fields(me: Mapping[str, Any], primary: Mapping[str, Any] | None) -> dict[str, Any]:
    """The catalog's pg.replication fields from one node's reading (and, for a standby, its primary's)."""
    out: dict[str, Any] = {k: me[k] for k in ("reachable", "role", "in_recovery", "timeline", "streaming_standbys")
                           if me.get(k) is not None}
    if me.get("role") == "primary":
        rows = me.get("replication") or []
        if rows:
            _put(out, "sync_state", rows[0].get("sync_state"))
            _put(out, "lag_bytes", rows[0].get("lag_bytes"))
    elif me.get("role") == "standby":
        for k in ("wal_receiver", "replay_age_s"):
            _put(out, k, me.get(k))
        if primary and primary.get("role") == "primary":
            row, _, _ = standby_row(me, primary)
            _put(out, "sync_state", row.get("sync_state") if row else None)
            _put(out, "lag_bytes", standby_lag_bytes(me, primary))
    return out


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        out[key] = value


def _errors(me: Mapping[str, Any], primary: Mapping[str, Any] | None) -> str | None:
    parts = [me["error"]] if me.get("error") else []
    if primary is not None and primary.get("role") != "primary":
        parts.append(f"lag_bytes needs the primary, which was not read as one: {primary.get('error') or 'role=' + str(primary.get('role'))}")
    return "; ".join(parts) or None
