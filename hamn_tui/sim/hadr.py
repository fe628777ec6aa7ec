"""DB2 HADR as documented (db2-hadr-facts.md §2, §4, §5): states, failure detection, takeover, start/stop.

Every operation returns the CLP message DB2 would print. The transitions:

* a standby starts in LOCAL_CATCHUP, replays its own log, then waits in REMOTE_CATCHUP_PENDING;
* with its primary reachable it connects (REMOTE_CATCHUP), catches up, and both reach PEER —
  unless its log is not a prefix of the primary's: then it shuts itself down (ADM12500E);
* a lost partner is noticed at once when its socket closes (database or instance down on a
  live node) and only after HADR_TIMEOUT when it falls silent (node crash, partition);
* lost while in PEER with a peer window (SYNC/NEARSYNC): DISCONNECTED_PEER until
  PEER_WINDOW_END = last message + HADR_PEER_WINDOW, the primary blocking its commits; then the
  standby reports REMOTE_CATCHUP_PENDING and the primary DISCONNECTED (and writes alone);
* a clean deactivate never opens the peer window;
* PEER_WINDOW_END is set from the primary's clock and a node compares it with its own: a clock
  skew between the nodes (a scenario's `clock_skew_s`) reaches the peer-window check exactly as
  it does in DB2 (IBM Db2 HADR wiki, HADR Config: "Primary-standby Clock Synchronization");
* a congested connection (CONGESTED: the socket is alive, one side cannot send) ships no log, and
  in SYNC/NEARSYNC PEER the primary's commits wait for it (facts §2.4; HADR wiki, HADR Monitoring);
* a graceful takeover can fail half-way: the old primary has become a standby when the
  connection goes silent, the old standby waits HADR_TIMEOUT and stays a standby — two standbys,
  never two primaries (HADR wiki, HADR Takeover: "How to recover from failed takeover").

Each message comes from messages.py, which names its documented source.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from . import messages as m
from .db2 import Channel, Runtime, compatible

if TYPE_CHECKING:
    from .cluster import SimCluster, SimNode

REMOTE_CATCHUP_BYTES_PER_S = 32 * 1024 * 1024
TAKEOVER_CLOCK_MARGIN_S = 5
"""TAKEOVER ... PEER WINDOW ONLY needs the standby's clock 5 s before PEER_WINDOW_END (m.HADR_WIKI_CONFIG)."""


def clock_of(n: "SimNode", t: float) -> float:
    """Virtual time `t` as the node's own clock shows it (its scenario clock skew added)."""
    return t + n.clock_skew_s


def partner_of(c: "SimCluster", node: "SimNode") -> "SimNode | None":
    """The node this database's HADR_REMOTE_HOST names."""
    db = node.db
    if db is None:
        return None
    p = c.resolve(db.cfg.remote_host)
    return p if p is not None and p is not node and p.db is not None else None


def _hadr_up(n: "SimNode") -> bool:
    return bool(n.up and n.instance_up and n.db and n.db.active and n.db.runtime and n.db.hadr)


def can_talk(c: "SimCluster", a: "SimNode", b: "SimNode") -> bool:
    """Both HADR databases run, in opposite roles, configured for each other, with equal HADR_TIMEOUT
    and HADR_PEER_WINDOW (SQL1768N reason 7 otherwise), and the network between them works."""
    if not (c.talks(a, b) and _hadr_up(a) and _hadr_up(b)):
        return False
    assert a.db and b.db and a.db.runtime and b.db.runtime
    if {a.db.cfg.role, b.db.cfg.role} != {"PRIMARY", "STANDBY"}:
        return False
    if partner_of(c, a) is not b or partner_of(c, b) is not a:
        return False
    ra, rb = a.db.runtime, b.db.runtime
    return (ra.timeout_s, ra.peer_window_s) == (rb.timeout_s, rb.peer_window_s)


def _set_state(c: "SimCluster", n: "SimNode", state: str) -> None:
    assert n.db and n.db.hadr
    ch = n.db.hadr
    if ch.state != state:
        c.note(f"{n.name}: HADR {n.db.cfg.role} {ch.state} -> {state}")
        ch.state = state


# --- one tick --------------------------------------------------------------------------------

def tick(c: "SimCluster", T: int) -> None:
    mns = sorted(c.mns(), key=lambda n: n.name)
    for n in mns:
        _detect(c, n, T)
    c.settle()
    for n in mns:
        if c.in_use(n) and not c.writes_blocked(n) and not congestion_blocks(c, n):
            c.append(n)
    for n in mns:
        if _hadr_up(n) and n.db.cfg.role == "STANDBY" and not n.db.hadr.linked:  # type: ignore[union-attr]
            _connect(c, n, T)
    for n in mns:
        if _hadr_up(n) and n.db.cfg.role == "PRIMARY" and n.db.hadr.linked:  # type: ignore[union-attr]
            _flow(c, n, T)


def _detect(c: "SimCluster", n: "SimNode", T: int) -> None:
    if not _hadr_up(n):
        return
    db = n.db
    assert db and db.hadr and db.runtime
    ch = db.hadr
    if ch.state == "LOCAL_CATCHUP":
        if db.replay_pos < db.end:
            db.replay_pos = db.end  # replays the logs it holds
        else:
            _set_state(c, n, "REMOTE_CATCHUP_PENDING")
        return
    partner = partner_of(c, n)
    if ch.linked:
        if partner is not None and can_talk(c, n, partner):
            return
        silent = partner is not None and not c.talks(n, partner)
        if not silent or (ch.last_recv is not None and T - ch.last_recv >= db.runtime.timeout_s):
            lose(c, n, T, clean=False)
        return
    if ch.state == "DISCONNECTED_PEER" and ch.peer_window_end is not None and clock_of(n, T) >= ch.peer_window_end:
        _set_state(c, n, "REMOTE_CATCHUP_PENDING" if db.cfg.role == "STANDBY" else "DISCONNECTED")


def lose(c: "SimCluster", n: "SimNode", T: int, *, clean: bool) -> None:
    """This side declares the connection lost (at once on a closed socket, after HADR_TIMEOUT on silence)."""
    db = n.db
    assert db and db.hadr and db.runtime
    ch, rt = db.hadr, db.runtime
    was_peer = ch.state == "PEER"
    ch.linked = False
    ch.connect_status = "DISCONNECTED"
    ch.connect_time = T
    ch.congested_since = None
    # the window end last set by the primary's clock (frozen on the standby), against this node's own clock
    window_end = ch.peer_window_end if ch.peer_window_end is not None else (ch.last_recv if ch.last_recv is not None else T) + rt.peer_window_s
    if was_peer and not clean and rt.peer_window_s > 0 and rt.syncmode in ("SYNC", "NEARSYNC") and window_end > clock_of(n, T):
        ch.peer_window_end = window_end
        _set_state(c, n, "DISCONNECTED_PEER")
    else:
        _set_state(c, n, "REMOTE_CATCHUP_PENDING" if db.cfg.role == "STANDBY" else "DISCONNECTED")


def _connect(c: "SimCluster", s: "SimNode", T: int) -> None:
    assert s.db and s.db.hadr
    if s.db.hadr.state not in ("REMOTE_CATCHUP_PENDING", "DISCONNECTED_PEER"):
        return
    p = partner_of(c, s)
    if p is None or not can_talk(c, s, p):
        return
    assert p.db and p.db.hadr
    if not compatible(s.db, p.db):
        c.note(f"{s.name}: log stream incompatible with {p.name}'s: the standby shuts down (ADM12500E)")
        c.diag(s, "Severe", "hdrEduStartup, probe:21210", m.ADM12500E)
        shutdown(c, s, clean=True, quiet=True)
        return
    for node, other in ((p, s), (s, p)):
        ch = node.db.hadr  # type: ignore[union-attr]
        assert ch is not None
        ch.partner, ch.linked, ch.connect_status, ch.connect_time, ch.last_recv = other.name, True, "CONNECTED", T, T
        ch.linked_at, ch.congested_since = T, None
        ch.peer_window_end = None
        _set_state(c, node, "REMOTE_CATCHUP")
    _exchange(c, p, s, T)


def _flow(c: "SimCluster", p: "SimNode", T: int) -> None:
    s = partner_of(c, p)
    if s is None or not can_talk(c, p, s) or not s.db.hadr.linked:  # type: ignore[union-attr]
        return
    pdb, sdb = p.db, s.db
    assert pdb and sdb and sdb.hadr and pdb.runtime
    before = sdb.end
    if congested(c, p):
        _exchange(c, p, s, T)  # heartbeats still pass; log data does not
        return
    target = pdb.end if sdb.hadr.state == "PEER" else min(pdb.end, sdb.end + REMOTE_CATCHUP_BYTES_PER_S)
    upto = max(pdb.index_of(target), min(len(sdb.log) + 1, len(pdb.log)))  # at least one record per tick
    sdb.log.extend(pdb.log[len(sdb.log): upto])
    sdb.replay_pos = max(sdb.replay_pos, before)  # replay trails receipt by a tick
    if sdb.hadr.state == "REMOTE_CATCHUP" and sdb.end == pdb.end and pdb.runtime.syncmode != "SUPERASYNC":
        _set_state(c, p, "PEER")
        _set_state(c, s, "PEER")
    _exchange(c, p, s, T)


def _exchange(c: "SimCluster", p: "SimNode", s: "SimNode", T: int) -> None:
    """A heartbeat both ways: each side learns the other's log positions."""
    pdb, sdb = p.db, s.db
    assert pdb and sdb and pdb.hadr and sdb.hadr and pdb.runtime
    gap = max(0, pdb.end - sdb.end)
    pw = pdb.runtime.peer_window_s
    # PEER_WINDOW_END is the primary's clock plus the window; the standby receives it as is (m.HADR_WIKI_CONFIG)
    window_end = int(clock_of(p, T)) + pw
    for ch in (pdb.hadr, sdb.hadr):
        ch.last_recv = T
        ch.connect_status = "CONGESTED" if ch.congested_since is not None else "CONNECTED"
        ch.connect_time = ch.congested_since if ch.congested_since is not None else ch.linked_at
        ch.gap_avg = (ch.gap_avg * 3 + gap) // 4
        ch.peer_window_end = window_end if ch.state == "PEER" and pw > 0 and pdb.runtime.syncmode in ("SYNC", "NEARSYNC") else None
    sdb.hadr.partner_pos, sdb.hadr.partner_time = pdb.end, pdb.time_at(pdb.end)
    pdb.hadr.partner_pos, pdb.hadr.partner_time = sdb.end, sdb.time_at(sdb.end)
    pdb.hadr.partner_replay_pos, pdb.hadr.partner_replay_time = sdb.replay_pos, sdb.time_at(sdb.replay_pos)


# --- operations (what the CLP commands do) -------------------------------------------------------

def shutdown(c: "SimCluster", n: "SimNode", *, clean: bool, quiet: bool = False) -> None:
    """The database stops. A clean stop tells a connected partner at once (no peer window)."""
    db = n.db
    assert db is not None
    partner = partner_of(c, n)
    if clean and db.hadr and db.hadr.linked and partner is not None and c.talks(n, partner) and _hadr_up(partner) \
            and partner.db.hadr.linked:  # type: ignore[union-attr]
        lose(c, partner, int(c.clock.now()), clean=True)
    db.active = db.starting = False
    db.hadr = None
    db.runtime = None
    if not quiet:
        c.note(f"{n.name}: database {db.name} stopped")


def _open(c: "SimCluster", n: "SimNode", state: str, explicit: bool = True) -> None:
    db = n.db
    assert db is not None
    db.active, db.explicit = True, explicit
    db.activated_at = c.clock.now()
    db.runtime = Runtime(db.cfg.syncmode.upper(), db.cfg.timeout_s, db.cfg.peer_window_s)
    partner = partner_of(c, n)
    db.hadr = Channel(partner.name if partner else None, state, connect_time=int(c.clock.now()))


def _config_problem(c: "SimCluster", n: "SimNode") -> m.Msg | None:
    """SQL1768N reasons 1, 8, 4, 5, 6 (facts §6)."""
    cfg = n.db.cfg  # type: ignore[union-attr]
    if not cfg.archiving:
        return m.sql1768n(1)
    if not all((cfg.local_host, cfg.local_svc, cfg.remote_host, cfg.remote_svc, cfg.remote_inst)):
        return m.sql1768n(8)
    if c.resolve(cfg.local_host) is not n:
        return m.sql1768n(4)
    names = {line.split()[0] for line in n.fs.text("/etc/services").splitlines() if line.split() and not line.startswith("#")}
    if not str(cfg.local_svc).isdigit() and cfg.local_svc not in names:
        return m.sql1768n(5)
    if not str(cfg.remote_svc).isdigit() and cfg.remote_svc not in names:
        return m.sql1768n(6)
    return None


def activate(c: "SimCluster", n: "SimNode", command: str = "ACTIVATE DATABASE", *, explicit: bool = True) -> m.Msg:
    """ACTIVATE DATABASE (explicit), or the activation by a client's first connection (`explicit=False`).

    A connection that starts an HADR primary is an explicit activation all the same: the database does
    not stop when its last client disconnects (m.HADR_WIKI_COMMANDS: "Once an HADR primary or standby
    database is started (by any means), database activation flag is set").
    """
    if not n.instance_up:
        return m.SQL1032N
    db = n.db
    assert db is not None
    if db.active:
        db.explicit = db.explicit or explicit
        return m.SQL1490W
    if db.cfg.role == "STANDBY":
        _open(c, n, "LOCAL_CATCHUP")
        c.note(f"{n.name}: database activated as HADR standby")
        return m.ok(command)
    if db.cfg.rollforward_pending:
        return m.sql1117n(db.name)
    if db.cfg.backup_pending:
        return m.sql1116n(db.name)
    if db.cfg.role == "PRIMARY":
        return _start_primary(c, n, by_force=False, command=command, explicit=True)
    db.active, db.explicit, db.activated_at, db.runtime, db.hadr = True, explicit, c.clock.now(), None, None
    c.note(f"{n.name}: database activated")
    return m.ok(command)


def wait_for_activation(c: "SimCluster", n: "SimNode") -> m.Msg | None:
    """A connection that arrives while the primary is being activated (waiting for its standby).

    DB2 makes it wait while the database is started (m.ACTIVATE_DB: "the application must wait while the
    database manager starts the required database"); that start either sees the standby connect or fails
    after HADR_TIMEOUT with SQL1768N reason 7. The connection gets that outcome: None (the database is up)
    or SQL1768N reason 7. No source documents a different answer for the waiting connection, so the
    documented outcome of the activation it waited for is the one given.
    """
    db = n.db
    assert db is not None and db.runtime is not None
    deadline = db.activated_at + db.runtime.timeout_s
    while db.starting and db.hadr is not None and not db.hadr.linked and c.clock.now() < deadline:
        c.clock.advance(1)
    if db.active and db.hadr is not None and (db.hadr.linked or not db.starting):
        return None
    return m.sql1768n(7)


def start_hadr(c: "SimCluster", n: "SimNode", as_role: str, by_force: bool) -> m.Msg:
    """START HADR, following the behaviour table of the START HADR command (m.START_HADR)."""
    if not n.instance_up:
        return m.SQL1032N
    db = n.db
    assert db is not None
    if as_role == "STANDBY":
        if db.active:
            if db.cfg.role == "STANDBY":
                return m.SQL1777N
            return m.refused(f"START HADR AS STANDBY needs the database offline; it is an active {db.cfg.role} database "
                             "(\"Error message returned\")", m.START_HADR)
        if db.cfg.role == "STANDARD" and not db.cfg.rollforward_pending:
            return m.refused("START HADR AS STANDBY starts a standard database only in rollforward-pending mode "
                             "(after a restore or STOP HADR on a standby); otherwise \"an error is returned\"", m.START_HADR)
        problem = _config_problem(c, n)
        if problem:
            return problem
        db.cfg.role = "STANDBY"
        _open(c, n, "LOCAL_CATCHUP")
        c.diag(n, "Event", "sqeDBMgr::StartUsingLocalDatabase", m.DIAG_START_STANDBY)
        c.note(f"{n.name}: START HADR AS STANDBY")
        return m.ok("START HADR ON DATABASE")
    if db.active and db.cfg.role == "PRIMARY":
        return m.SQL1777N
    if db.active and db.cfg.role == "STANDBY":
        return m.not_simulated("START HADR AS PRIMARY on an active standby (TAKEOVER changes roles)")
    if db.cfg.rollforward_pending:
        return m.sql1117n(db.name)
    if db.cfg.backup_pending:
        return m.sql1116n(db.name)
    problem = _config_problem(c, n)
    if problem:
        return problem
    return _start_primary(c, n, by_force=by_force, command="START HADR ON DATABASE")


def _start_primary(c: "SimCluster", n: "SimNode", *, by_force: bool, command: str, explicit: bool = True) -> m.Msg:
    """Waits up to HADR_TIMEOUT for the standby (split-brain guard) unless BY FORCE (facts §4, §5.3;
    m.START_HADR: "If the primary database cannot connect to the HADR standby database within the time
    specified by the hadr_timeout database configuration parameter, the primary will not start")."""
    db = n.db
    assert db is not None
    partner = partner_of(c, n)
    if not by_force and partner is not None and c.talks(n, partner) and partner.instance_up and partner.db \
            and partner.db.active and partner.db.cfg.role == "PRIMARY":
        # source: none for the db2diag text — hamn's own summary of facts §5.3 (SQL1776N RC 6: the standby took over)
        c.diag(n, "Error", "hdrStartPrimary", "The peer database has taken over as HADR primary. This database must be "
               "reintegrated as a standby (START HADR AS STANDBY). SQL1776N reason code 6.")
        c.note(f"{n.name}: refused to start as primary: {partner.name} is primary (SQL1776N RC 6)")
        return m.sql1776n(6)
    was_standard = db.cfg.role == "STANDARD"
    db.cfg.role = "PRIMARY"
    if db.active:  # a STANDARD database becoming primary online
        db.explicit = True
        db.runtime = Runtime(db.cfg.syncmode.upper(), db.cfg.timeout_s, db.cfg.peer_window_s)
        db.hadr = Channel(partner.name if partner else None, "DISCONNECTED", connect_time=int(c.clock.now()))
    else:
        _open(c, n, "DISCONNECTED", explicit)
    if by_force:
        c.diag(n, "Event", "sqeDBMgr::StartUsingLocalDatabase", m.DIAG_START_PRIMARY_FORCE)
        c.note(f"{n.name}: started as HADR primary BY FORCE (no standby check)")
        return m.ok(command)
    if command.startswith("START HADR"):
        c.diag(n, "Event", "sqeDBMgr::StartUsingLocalDatabase", m.DIAG_START_PRIMARY)
    db.starting = True
    assert db.runtime is not None
    deadline = c.clock.now() + db.runtime.timeout_s
    while True:
        if not n.up or db.hadr is None:
            return m.not_simulated("a start interrupted by a failure of this node")
        if db.hadr.linked:
            db.starting = False
            c.note(f"{n.name}: started as HADR primary")
            return m.ok(command)
        if c.clock.now() >= deadline:
            break
        c.clock.advance(1)
    db.starting = False
    shutdown(c, n, clean=True, quiet=True)
    if was_standard:
        db.cfg.role = "STANDARD"
    c.note(f"{n.name}: no standby connected within HADR_TIMEOUT (SQL1768N RC 7)")
    return m.sql1768n(7)


def deactivate(c: "SimCluster", n: "SimNode") -> m.Msg:
    """DEACTIVATE DATABASE. With applications still connected DB2 answers SQL1495W: the deactivation
    succeeds — the explicit activation ends — but the database stays up for those applications and stops
    when the last of them disconnects (m.DEACTIVATE_DB; `SimCluster.settle` then stops it)."""
    if not n.instance_up:
        return m.SQL1032N
    db = n.db
    assert db is not None
    if not db.active:
        return m.SQL1496W
    if c.applications(n):
        db.explicit = False
        c.note(f"{n.name}: DEACTIVATE with connections: {db.name} stops when its last application disconnects (SQL1495W)")
        return m.SQL1495W
    shutdown(c, n, clean=True)
    return m.ok("DEACTIVATE DATABASE")


def stop_hadr(c: "SimCluster", n: "SimNode") -> m.Msg:
    """STOP HADR (facts §5.4; m.HADR_WIKI_COMMANDS): a primary becomes STANDARD and stays as it was
    (online or not); a standby must be inactive (SQL1769N reason 2) and becomes STANDARD, rollforward pending."""
    if not n.instance_up:
        return m.SQL1032N
    db = n.db
    assert db is not None
    if db.cfg.role == "STANDARD":
        return m.refused("STOP HADR on a database that is not an HADR database", m.FACTS + " §6 SQL1769N (RC 1 [R], not verified)",
                         message="SQL1769N (Stop HADR cannot complete)")
    c.diag(n, "Event", "sqeDBMgr::StartUsingLocalDatabase", m.DIAG_STOP_HADR)
    if db.cfg.role == "STANDBY":
        if db.active:
            return m.sql1769n(2)
        db.cfg.role = "STANDARD"
        db.cfg.rollforward_pending = True
    else:
        if db.active:
            partner = partner_of(c, n)
            if db.hadr and db.hadr.linked and partner is not None and _hadr_up(partner) and c.talks(n, partner):
                lose(c, partner, int(c.clock.now()), clean=True)
            db.hadr, db.runtime = None, None
        db.cfg.role = "STANDARD"
    c.note(f"{n.name}: STOP HADR: role STANDARD")
    return m.ok("STOP HADR ON DATABASE")


def takeover(c: "SimCluster", n: "SimNode", *, force: bool, peer_window_only: bool) -> m.Msg:
    """The takeover matrix of facts §5.1, on the standby `n`."""
    if not n.instance_up:
        return m.SQL1032N
    db = n.db
    assert db is not None
    if not db.active or db.cfg.role != "STANDBY" or db.hadr is None or db.runtime is None:
        c.note(f"{n.name}: TAKEOVER refused: not an active standby")
        return m.takeover_refused("TAKEOVER HADR can only be issued on the standby database, and a client connection "
                                  "cannot start a standby", f"{m.TAKEOVER_HADR}; {m.HADR_WIKI_COMMANDS}")
    ch, rt = db.hadr, db.runtime
    now = c.clock.now()
    partner = partner_of(c, n)
    kind = "by force peer window only" if peer_window_only else "by force" if force else ""
    c.diag(n, "Info", "hdrTakeover", m.DIAG_TAKEOVER_RECEIVED)
    if not force:
        superasync = ch.state == "REMOTE_CATCHUP" and rt.syncmode == "SUPERASYNC"
        if not ch.linked or not (ch.state == "PEER" or superasync):
            return _refused(c, n, m.takeover_refused(
                f"a takeover without BY FORCE needs the standby connected in PEER (REMOTE_CATCHUP with SUPERASYNC); "
                f"it is {ch.state}", m.SWITCHING_ROLES), f"graceful takeover refused in {ch.state}")
        if partner is None or not can_talk(c, n, partner):
            # it still believes the primary is there: it waits for an answer until the connection times out
            if ch.last_recv is not None:
                c.clock.advance_to(max(now, ch.last_recv + rt.timeout_s))
            return _refused(c, n, m.sql1770n(7), "the primary did not respond")
        assert partner.db is not None
        if db.takeover_breaks or partner.db.takeover_breaks:
            return _breaks_halfway(c, n, partner)
        _switch_roles(c, n, partner)
        return m.ok("TAKEOVER HADR ON DATABASE")
    if ch.state in ("LOCAL_CATCHUP", "REMOTE_CATCHUP"):
        return _refused(c, n, m.takeover_refused(
            f"TAKEOVER BY FORCE is not allowed in {ch.state}", f"{m.FACTS} §5.1; {m.HADR_WIKI_TAKEOVER}"),
            f"BY FORCE refused in {ch.state}")
    if peer_window_only:
        # the standby's own clock against PEER_WINDOW_END, which the primary's clock set (m.HADR_WIKI_CONFIG)
        mine = clock_of(n, now)
        inside = (rt.syncmode in ("SYNC", "NEARSYNC") and rt.peer_window_s > 0 and ch.state in ("PEER", "DISCONNECTED_PEER")
                  and ch.peer_window_end is not None and mine + TAKEOVER_CLOCK_MARGIN_S < ch.peer_window_end)
        if not inside:
            return _refused(c, n, m.sql1770n(9), "not inside the peer window (by this node's clock)")
    if partner is not None and ch.linked and can_talk(c, n, partner):
        # still connected: the old primary is told to stop, its in-flight log is accepted
        assert partner.db is not None
        db.log.extend(partner.db.log[len(db.log):])
        c.diag(partner, "Info", "hdrTakeover", m.DIAG_PRIMARY_FORCED)
        shutdown(c, partner, clean=False, quiet=True)
        c.note(f"{partner.name}: stopped by the standby's forced takeover")
    db.replay_pos = db.end
    db.cfg.role = "PRIMARY"
    db.cfg.rollforward_pending = False
    db.forced_takeover_at = now
    db.hadr = Channel(partner.name if partner else None, "DISCONNECTED", connect_time=int(now))
    c.diag(n, "Info", "hdrTakeover", m.diag_standby_initiated(kind))
    c.diag(n, "Info", "hdrTakeover", m.diag_role_set("PRIMARY", "STANDBY"))
    c.note(f"{n.name}: TAKEOVER {kind.upper()}: now PRIMARY")
    return m.ok("TAKEOVER HADR ON DATABASE")


def _refused(c: "SimCluster", n: "SimNode", answer: m.Msg, why: str) -> m.Msg:
    c.note(f"{n.name}: TAKEOVER refused: {why} ({answer.id if answer.id.startswith('SQL') else 'refused'})")
    return answer


def _switch_roles(c: "SimCluster", n: "SimNode", p: "SimNode") -> None:
    """Graceful: the primary forces its applications off, ships every page and becomes the standby."""
    ndb, pdb = n.db, p.db
    assert ndb and pdb and ndb.hadr and pdb.hadr
    ndb.log.extend(pdb.log[len(ndb.log):])
    ndb.replay_pos, pdb.replay_pos = ndb.end, pdb.end
    ndb.cfg.role, pdb.cfg.role = "PRIMARY", "STANDBY"
    ndb.cfg.rollforward_pending, pdb.cfg.rollforward_pending = False, True
    ndb.hadr.congested_since = pdb.hadr.congested_since = None
    for node in (n, p):
        node.db.runtime = Runtime(node.db.cfg.syncmode.upper(), node.db.cfg.timeout_s, node.db.cfg.peer_window_s)  # type: ignore[union-attr]
    c.diag(p, "Info", "hdrTakeover", m.DIAG_PRIMARY_NONFORCED)
    c.diag(p, "Info", "hdrTakeover", m.diag_role_set("STANDBY", "PRIMARY"))
    c.diag(n, "Info", "hdrTakeover", m.diag_standby_initiated(""))
    c.diag(n, "Info", "hdrTakeover", m.diag_role_set("PRIMARY", "STANDBY"))
    c.note(f"{n.name}: graceful TAKEOVER: {n.name} PRIMARY, {p.name} STANDBY")
    _exchange(c, n, p, int(c.clock.now()))


def _breaks_halfway(c: "SimCluster", n: "SimNode", p: "SimNode") -> m.Msg:
    """The graceful takeover fails half-way (fault `takeover_fails_halfway`), as IBM describes it.

    The old primary forced its applications off, shipped all its log and turned into a standby; then
    the connection goes silent, so the old standby never learns that the primary switched: it waits
    until HADR_TIMEOUT, answers that the primary did not respond (SQL1770N reason 7, the documented
    reason for a primary that stops answering a connected standby, facts §6) and stays a standby.
    Afterwards: two standbys with identical logs, never two primaries; either can take over BY FORCE
    and the other then connects to it (m.HADR_WIKI_TAKEOVER, "How to recover from failed takeover";
    facts §5.2).
    """
    ndb, pdb = n.db, p.db
    assert ndb and pdb and ndb.hadr and ndb.runtime
    ndb.takeover_breaks = pdb.takeover_breaks = False
    now = c.clock.now()
    ndb.log.extend(pdb.log[len(ndb.log):])
    ndb.replay_pos, pdb.replay_pos = ndb.end, pdb.end
    c.diag(p, "Info", "hdrTakeover", m.DIAG_PRIMARY_NONFORCED)
    pdb.cfg.role, pdb.cfg.rollforward_pending = "STANDBY", True
    pdb.runtime = Runtime(pdb.cfg.syncmode.upper(), pdb.cfg.timeout_s, pdb.cfg.peer_window_s)
    pdb.hadr = Channel(n.name, "REMOTE_CATCHUP_PENDING", connect_time=int(now))
    c.diag(p, "Info", "hdrTakeover", m.diag_role_set("STANDBY", "PRIMARY"))
    c.note(f"{p.name}: became a standby; the connection to {n.name} went silent before the takeover completed")
    cut = frozenset((n.name, p.name))
    added = cut not in c.cuts
    c.cuts.add(cut)
    last = ndb.hadr.last_recv if ndb.hadr.last_recv is not None else int(now)
    c.clock.advance_to(max(now, last + ndb.runtime.timeout_s))
    if added:
        c.cuts.discard(cut)  # a passing network failure: back, but two standbys do not connect to each other
    return _refused(c, n, m.sql1770n(7), "the primary did not respond: the takeover failed half-way (two standbys)")


def congested(c: "SimCluster", p: "SimNode") -> bool:
    """Either side of p's HADR connection is CONGESTED."""
    ch = p.db.hadr if p.db else None
    if ch is None or not ch.linked:
        return False
    s = partner_of(c, p)
    other = s.db.hadr if s is not None and s.db is not None else None
    return ch.congested_since is not None or (other is not None and other.linked and other.congested_since is not None)


def congestion_blocks(c: "SimCluster", n: "SimNode") -> bool:
    """SYNC/NEARSYNC in PEER: a commit waits for the standby, which a congested connection does not reach."""
    db = n.db
    if db is None or db.cfg.role != "PRIMARY" or db.hadr is None or db.runtime is None:
        return False
    return db.runtime.syncmode in ("SYNC", "NEARSYNC") and db.hadr.state == "PEER" and congested(c, n)


def congest(c: "SimCluster", n: "SimNode") -> bool:
    """Fault: n's HADR socket stays open but n cannot send (full TCP send space: a slow network, a standby
    not draining). n reports HADR_CONNECT_STATUS = CONGESTED, HADR_CONNECT_STATUS_TIME = when it began
    (facts §2.4; m.HADR_WIKI_MONITORING). False when n has no HADR connection to congest."""
    ch = n.db.hadr if n.db is not None else None
    if not _hadr_up(n) or ch is None or not ch.linked:
        c.note(f"{n.name}: no HADR connection to congest")
        return False
    ch.congested_since = int(c.clock.now())
    ch.connect_status, ch.connect_time = "CONGESTED", ch.congested_since
    c.note(f"{n.name}: HADR connection congested (it cannot send)")
    return True


def decongest(c: "SimCluster", n: "SimNode") -> None:
    ch = n.db.hadr if n.db is not None else None
    if ch is not None and ch.congested_since is not None:
        ch.congested_since = None
        if ch.linked:
            ch.connect_status, ch.connect_time = "CONNECTED", ch.linked_at
        c.note(f"{n.name}: HADR connection no longer congested")


def arm_takeover_failure(c: "SimCluster", n: "SimNode") -> None:
    """Fault: the next graceful takeover between n and its partner fails half-way (`_breaks_halfway`)."""
    if n.db is not None:
        n.db.takeover_breaks = True
        c.note(f"{n.name}: the next graceful takeover will fail half-way")


def kill_instance(c: "SimCluster", n: "SimNode") -> None:
    """The instance dies (crash, db2_kill): no goodbye to the partner, which sees the socket close."""
    if n.db is not None and n.db.active:
        shutdown(c, n, clean=False, quiet=True)
    n.instance_up = False
    c.note(f"{n.name}: DB2 instance {c.instance} died")
