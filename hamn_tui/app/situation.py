"""What is going on with the pair, from one status reading: the situation, the evidence that
decided it, the runbook(s) that fit with the reason, and what not to do.

The operator decides; this only diagnoses — the way HP Serviceguard's DB2 HADR toolkit names
its four events (standby fails, primary fails, node crash, roles switched), from the readings
the probes already made (no probing here). A value that could not be read never counts as
"down": a pair that cannot be told apart is `unknown`, with what could not be read.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..cluster.model import Cluster
from .status import NodeStatus, Snapshot

Kind = Literal[
    "healthy", "standby_lost", "primary_database_down", "primary_node_down", "roles_switched", "replication_degraded",
    "peer_window_closing", "split_brain", "both_down", "not_set_up", "unknown",
]

TITLES: dict[str, str] = {
    "healthy": "healthy",
    "standby_lost": "standby lost",
    "primary_database_down": "primary database down, its node up",
    "primary_node_down": "primary node down",
    "roles_switched": "roles switched",
    "replication_degraded": "replication degraded",
    "peer_window_closing": "peer window running out",
    "split_brain": "split brain: two primaries",
    "both_down": "both management nodes down",
    "not_set_up": "replication not set up",
    "unknown": "unknown",
}
CATCHING_UP = ("LOCAL_CATCHUP", "REMOTE_CATCHUP", "REMOTE_CATCHUP_PENDING")


@dataclass(frozen=True)
class Recommendation:
    runbook: str
    why: str
    roles: dict[str, str] = field(default_factory=dict)
    """Role bindings the run needs (after a failover the configured standby is primary)."""

    def command(self) -> str:
        flags = "".join(f" --role {r}={n}" for r, n in sorted(self.roles.items()))
        return f"hamn run {self.runbook}{flags}"


@dataclass(frozen=True)
class Situation:
    kind: Kind
    summary: str
    """One line for the top of the screen: what is going on, naming the nodes."""
    evidence: tuple[str, ...]
    """The readings that decided it, as `node: field = value`."""
    recommended: tuple[Recommendation, ...] = ()
    avoid: tuple[str, ...] = ()
    """What not to do now, and why."""
    peer_window_left_s: float | None = None
    """Seconds until a primary holding commits (DISCONNECTED_PEER) goes on alone, when that is the clock."""

    @property
    def title(self) -> str:
        return TITLES[self.kind]

    def line(self, left_s: float | None = None) -> str:
        """TITLE: summary, with the seconds the peer window has left (now, or as read)."""
        left = self.peer_window_left_s if left_s is None else left_s
        clock = f"; {_secs(left)} left before it goes on alone" if self.kind == "peer_window_closing" else ""
        return f"{self.title.upper()}: {self.summary}{clock}"

    def to_json(self) -> dict[str, Any]:
        return {"situation": self.kind, "title": self.title, "summary": self.summary, "evidence": list(self.evidence),
                "recommended": [{"runbook": r.runbook, "why": r.why, "roles": r.roles, "command": r.command()} for r in self.recommended],
                "avoid": list(self.avoid), "peer_window_left_s": self.peer_window_left_s}


def assess(snap: Snapshot, cluster: Cluster) -> Situation:
    """`classify` with the cluster file's own threshold (PostgreSQL's max_lag_bytes) and method."""
    pg = cluster.pg
    return classify(snap, max_lag_bytes=pg.max_lag_bytes if pg is not None else None,
                    dump_method=pg is not None and snap.database == "pg" and pg.method == "dump")


def classify(snap: Snapshot, *, max_lag_bytes: int | None = None, dump_method: bool = False) -> Situation:
    """The situation of a DB2 HADR or PostgreSQL pair from one snapshot. `dump_method`: a
    PostgreSQL pair kept by periodic dump and restore, where both servers are read-write and the
    primary is the node that holds the service IP."""
    nodes = [n for n in snap.nodes.values() if n.role_at_setup in ("primary", "standby")]
    if len(nodes) != 2:
        return Situation("unknown", f"the cluster file names {len(nodes)} management nodes, not a primary and a standby",
                         tuple(f"{n.name}: set up as {n.role_at_setup}" for n in nodes))
    pair = _Pair(snap.database, nodes, max_lag_bytes)
    return pair.dump_pair() if dump_method else pair.classify()


class _Pair:
    def __init__(self, database: str, nodes: list[NodeStatus], max_lag_bytes: int | None):
        self.db2 = database == "db2"
        self.nodes = nodes
        self.configured = {n.role_at_setup: n for n in nodes}
        self.max_lag = max_lag_bytes

    # --- readings ----------------------------------------------------------------------------------
    def role(self, n: NodeStatus) -> str | None:
        """PRIMARY / STANDBY / STANDARD (DB2) or primary / standby (PostgreSQL), upper-cased; None unread."""
        r = n.replication.get("role")
        return str(r).upper() if r else None

    def fact(self, n: NodeStatus, key: str) -> str:
        return f"{n.name}: {key} = {_show(n.replication.get(key))}"

    def reach(self, n: NodeStatus) -> str:
        return f"{n.name}: reachable over ssh = {_show(n.reachable)}"

    def other(self, n: NodeStatus) -> NodeStatus:
        return self.nodes[1] if n is self.nodes[0] else self.nodes[0]

    def database_down(self, n: NodeStatus) -> bool:
        """The node answers, and its database says it is not serving (or could not be read at all)."""
        if self.db2:
            return n.reachable is True and (n.replication.get("activated") is False or (self.role(n) is None and bool(n.errors)))
        return n.reachable is True and n.replication.get("reachable") is False

    # --- the decision --------------------------------------------------------------------------------
    def classify(self) -> Situation:
        mn1, mn2 = self.configured.get("primary"), self.configured.get("standby")
        assert mn1 is not None and mn2 is not None
        primaries = [n for n in self.nodes if self.role(n) == "PRIMARY"]
        standbys = [n for n in self.nodes if self.role(n) == "STANDBY"]
        if len(primaries) == 2:
            return self.split_brain(primaries)
        if all(n.reachable is False for n in self.nodes):
            return Situation("both_down", f"neither {mn1.name} nor {mn2.name} answers over ssh", tuple(self.reach(n) for n in self.nodes),
                             avoid=("do not start a database on one node before you know the other is down and fenced",))
        if primaries:
            return self.with_primary(primaries[0])
        if standbys:
            return self.standby_alone(standbys[0])
        if all(self.role(n) == "STANDARD" for n in self.nodes):
            return Situation("not_set_up", f"{mn1.name} and {mn2.name} run plain databases: no HADR pair",
                             tuple(self.fact(n, "role") for n in self.nodes),
                             (Recommendation("db2-hadr-setup", "back up, restore on the standby, configure and start HADR"),))
        alone = self.primary_alone() if self.db2 else None
        if alone is not None:
            return alone
        return self.unknown("no node reads as primary or standby")

    def unknown(self, why: str) -> Situation:
        evidence = [self.reach(n) for n in self.nodes] + [self.fact(n, "role") for n in self.nodes]
        evidence += [f"{n.name}: could not read: {e[:160]}" for n in self.nodes for e in n.errors]
        return Situation("unknown", why, tuple(evidence), avoid=("do not act on a guess: read the nodes by hand (db2pd -hadr, psql) first",))

    def split_brain(self, primaries: list[NodeStatus]) -> Situation:
        a, b = primaries
        ip = [n.name for n in primaries if n.holds_service_ip]
        evidence = (self.fact(a, "role"), self.fact(b, "role"), *(f"{n.name}: holds the service IP = {_show(n.holds_service_ip)}" for n in primaries))
        keep = ip[0] if len(ip) == 1 else None
        rec: tuple[Recommendation, ...] = ()
        if keep is not None:
            lose = b.name if keep == a.name else a.name
            rec = (Recommendation("failback" if self.db2 else "pg-failback",
                                  f"{keep} holds the service IP: keep it primary; stop {lose}'s database and reintegrate it as standby",
                                  {"primary": keep, "standby": lose}),)
        return Situation("split_brain", f"{a.name} and {b.name} both act as primary" + (f"; {keep} holds the service IP" if keep else ""),
                         evidence, rec, ("do not take over, promote or restart anything until one primary is stopped: "
                                         "writes on both sides diverge",))

    def with_primary(self, p: NodeStatus) -> Situation:
        s = self.other(p)
        roles = {"primary": p.name, "standby": s.name}
        switched = p.role_at_setup != "primary"
        pr = p.replication
        if self.db2 and pr.get("state") == "DISCONNECTED_PEER":
            left = pr.get("peer_window_left_s")
            why = (f"{s.name} does not answer" if s.reachable is False else
                   f"{s.name} answers but its database is not connected" if s.reachable else f"{s.name} could not be read")
            avoid = [f"do not take over on {s.name}: {p.name} is still primary and answers"] if p.reachable else []
            return Situation("peer_window_closing", f"{p.name} holds every commit for its standby ({why})",
                             (self.fact(p, "state"), self.fact(p, "connect_status"), self.fact(p, "peer_window_left_s"), self.reach(s)),
                             (Recommendation("event-standby-lost", f"bring {s.name} back as standby before the peer window ends", roles),),
                             tuple(avoid), float(left) if isinstance(left, (int, float)) else None)
        s_role = self.role(s)
        connected = self.connected(p, s)
        if s_role == "STANDBY" and connected:
            degraded = self.degraded(p, s)
            if degraded:
                return Situation("replication_degraded", f"{s.name} is connected but not in sync: {degraded[0]}", tuple(degraded),
                                 (Recommendation("db2-hadr-verify" if self.db2 else "pg-failover", "read every check and wait for PEER"
                                                 if self.db2 else "promotion would lose the lag: only after it is caught up", roles),),
                                 (f"do not take over on {s.name} now: it has not caught up",))
            if switched:
                return Situation("roles_switched", f"{p.name} (set up as standby) is primary, {s.name} its standby, in sync",
                                 (self.fact(p, "role"), self.fact(s, "role"), *self.sync_facts(p, s)),
                                 (Recommendation("event-switch-roles-back" if self.db2 else "pg-failback",
                                                 f"a graceful takeover back to {s.name}, the configured primary", roles),))
            return Situation("healthy", f"{p.name} primary, {s.name} standby, in sync", (self.fact(p, "role"), self.fact(s, "role"), *self.sync_facts(p, s)),
                             (Recommendation("db2-hadr-verify" if self.db2 else "pg-failover",
                                             "nothing is wrong: read every check" if self.db2 else "only for planned maintenance", roles),))
        # the primary has no working standby
        reason = (f"{s.name} does not answer" if s.reachable is False else
                  f"{s.name}'s database is not a standby (role {_show(s.replication.get('role'))})")
        rec = (Recommendation("failback" if self.db2 else "pg-failback", f"reintegrate {s.name} as standby of {p.name}, then switch back", roles)
               if switched else Recommendation("event-standby-lost" if self.db2 else "pg-streaming-setup", f"bring {s.name} back as standby", roles))
        avoid = [f"do not start {s.name}'s database as primary: {p.name} is primary"] if s.reachable else []
        if s.services.get("xcatd"):
            avoid.append(f"xcatd runs on {s.name}, which is not primary: stop it there")
        return Situation("standby_lost", f"{p.name} is primary without a standby: {reason}" + (" (after a failover)" if switched else ""),
                         (self.fact(p, "role"), self.fact(p, "state" if self.db2 else "streaming_standbys"), self.reach(s), self.fact(s, "role")),
                         (rec,), tuple(avoid))

    def primary_alone(self) -> Situation | None:
        """One node does not answer; the other answers, holds the service IP (it is the primary, or took
        over) and its database is down: an HADR primary without its standby does not start (SQL1768N
        reason 7) — the event-primary-alone runbook."""
        gone = [n for n in self.nodes if n.reachable is False]
        if len(gone) != 1:
            return None
        s = gone[0]
        p = self.other(s)
        if not (self.database_down(p) and p.holds_service_ip is True):
            return None
        return Situation("primary_database_down",
                         f"{p.name} holds the service IP but its database is down, and {s.name} does not answer: "
                         "an HADR primary without its standby does not start (SQL1768N reason 7)",
                         (self.reach(s), self.reach(p), self.fact(p, "activated"), f"{p.name}: holds the service IP = True"),
                         (Recommendation("event-primary-alone", f"start {p.name}'s database BY FORCE with {s.name} fenced, or STOP HADR",
                                         {"primary": p.name, "standby": s.name}),),
                         (f"do not start {p.name} AS PRIMARY BY FORCE before {s.name} is proven down and fenced: two primaries",))

    def standby_alone(self, s: NodeStatus) -> Situation:
        p = self.other(s)
        roles = {"primary": p.name, "standby": s.name}
        evidence = [self.reach(p), self.fact(p, "role"), self.fact(s, "role"), self.fact(s, "state" if self.db2 else "wal_receiver")]
        if p.reachable is False:
            still = self.db2 and s.replication.get("connect_status") == "CONNECTED"
            first = (Recommendation("event-primary-node-crash", f"{s.name} still reports CONNECTED: confirm the crash and wait out HADR_TIMEOUT", roles)
                     if still else None)
            take = Recommendation("failover-unplanned" if self.db2 else "pg-failover", f"fence {p.name}, then take over on {s.name}", roles)
            avoid = []
            if self.db2 and s.replication.get("state") == "REMOTE_CATCHUP_PENDING":
                avoid.append(f"{s.name} is in REMOTE_CATCHUP_PENDING: a takeover BY FORCE loses what {p.name} wrote alone")
            avoid.append(f"do not take over before {p.name} is fenced (powered off): it may come back as primary")
            return Situation("primary_node_down", f"{p.name} (primary) does not answer; {s.name} is standby", tuple(evidence),
                             tuple(r for r in (first, take) if r is not None), tuple(avoid),
                             _num(s.replication.get("peer_window_left_s")) if self.db2 and s.replication.get("state") == "DISCONNECTED_PEER" else None)
        if self.database_down(p) or (p.reachable is True and self.role(p) is None):
            rec = (Recommendation("event-primary-lost", f"restart {p.name}'s database as primary (no takeover, no loss)", roles)
                   if self.db2 else Recommendation("pg-failover", f"only if {p.name}'s postgres cannot be restarted", roles))
            return Situation("primary_database_down", f"{p.name} answers but its database does not serve; {s.name} is standby",
                             (*evidence, *(f"{p.name}: could not read: {e[:160]}" for e in p.errors)), (rec,),
                             (f"do not force a takeover: {p.name} still answers",))
        return self.unknown(f"{s.name} is standby, {p.name} could not be read as primary")

    # --- a dump-method PostgreSQL pair -----------------------------------------------------------
    def dump_pair(self) -> Situation:
        """Both servers run read-write; the primary is the one holding the service IP and serving
        xCAT, the standby holds the last dump its restore job loaded."""
        mn1, mn2 = self.configured["primary"], self.configured["standby"]
        if all(n.reachable is False for n in self.nodes):
            return Situation("both_down", f"neither {mn1.name} nor {mn2.name} answers over ssh", tuple(self.reach(n) for n in self.nodes),
                             avoid=("do not start xCAT on one node before you know the other is down and fenced",))
        holders = [n for n in self.nodes if n.holds_service_ip is True]
        ip = lambda n: f"{n.name}: holds the service IP = {_show(n.holds_service_ip)}"  # noqa: E731
        xcatd = lambda n: f"{n.name}: xcatd running = {_show(n.services.get('xcatd'))}"  # noqa: E731
        if len(holders) == 2:
            return Situation("split_brain", f"{mn1.name} and {mn2.name} both hold the service IP", tuple(ip(n) for n in self.nodes),
                             avoid=("do not run any runbook until one node has given the address up: clients split between them",))
        p = holders[0] if holders else (mn1 if mn1.reachable is not False else mn2)
        s = self.other(p)
        roles = {"primary": p.name, "standby": s.name}
        evidence = (self.reach(p), ip(p), xcatd(p), self.fact(p, "reachable"), self.reach(s), ip(s), xcatd(s))
        if not holders:
            if p is mn2 or mn1.reachable is False:
                return Situation("primary_node_down", f"{mn1.name} (primary) does not answer and nobody holds the service IP; "
                                 f"{mn2.name} has the last dump it restored", evidence,
                                 (Recommendation("pg-dump-failover", f"fence {mn1.name}, then serve xCAT from {mn2.name}'s copy "
                                                 "(what was written after its last dump is lost)", {"primary": mn1.name, "standby": mn2.name}),),
                                 (f"do not take over before {mn1.name} is fenced (powered off): it may come back and serve xCAT",))
            return self.unknown("no node holds the service IP")
        if s.services.get("xcatd") and p.services.get("xcatd"):
            return Situation("split_brain", f"xcatd runs on {p.name} and on {s.name}, each with its own read-write database", evidence,
                             avoid=(f"stop xcatd on {s.name}: its database is a copy, and what it writes is lost at the next restore",))
        if self.database_down(p):
            return Situation("primary_database_down", f"{p.name} holds the service IP but its PostgreSQL does not answer", evidence,
                             (Recommendation("pg-dump-failover", f"only if {p.name}'s postgres cannot be restarted: {s.name}'s copy "
                                             "lacks what was written after the last dump", roles),),
                             (f"do not fail over while {p.name} may still come back: restart its postgres first",))
        if s.reachable is False or s.replication.get("reachable") is False:
            why = f"{s.name} does not answer" if s.reachable is False else f"{s.name}'s PostgreSQL does not answer"
            return Situation("standby_lost", f"{p.name} serves xCAT without a copy: {why}", evidence,
                             (Recommendation("pg-dump-restore-setup", f"bring {s.name} back, then set its restore job up again", roles),))
        if p is not mn1:
            return Situation("roles_switched", f"{p.name} (set up as standby) serves xCAT; {s.name} is up", evidence,
                             (Recommendation("pg-dump-restore-setup", f"make {s.name} the copy of {p.name} (roles swapped), "
                                             "then pg-dump-failover planned to switch back", roles),))
        return Situation("healthy", f"{p.name} serves xCAT with the service IP; {s.name} keeps the dump copy", evidence,
                         (Recommendation("pg-dump-failover", "only for planned maintenance", roles),))

    # --- sync --------------------------------------------------------------------------------------
    def connected(self, p: NodeStatus, s: NodeStatus) -> bool:
        if self.db2:
            return p.replication.get("connect_status") in ("CONNECTED", "CONGESTED")
        return (p.replication.get("streaming_standbys") or 0) > 0 and s.replication.get("wal_receiver") == "streaming"

    def sync_facts(self, p: NodeStatus, s: NodeStatus) -> tuple[str, ...]:
        if self.db2:
            return self.fact(p, "state"), self.fact(p, "connect_status"), self.fact(p, "log_gap_bytes")
        return self.fact(p, "streaming_standbys"), self.fact(s, "wal_receiver"), self.fact(p, "lag_bytes")

    def degraded(self, p: NodeStatus, s: NodeStatus) -> list[str]:
        out = []
        if self.db2:
            if p.replication.get("state") in CATCHING_UP:
                out.append(self.fact(p, "state"))
            if p.replication.get("connect_status") == "CONGESTED":
                out.append(self.fact(p, "connect_status"))
            gap = p.replication.get("log_gap_bytes")
            if self.max_lag is not None and isinstance(gap, int) and gap > self.max_lag:
                out.append(f"{self.fact(p, 'log_gap_bytes')} (over {self.max_lag})")
        else:
            lag = p.replication.get("lag_bytes")
            if self.max_lag is not None and isinstance(lag, int) and lag > self.max_lag:
                out.append(f"{self.fact(p, 'lag_bytes')} (over {self.max_lag})")
        return out


def _show(v: Any) -> str:
    return "unknown" if v is None else str(v)


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _secs(v: Any) -> str:
    n = _num(v)
    return "unknown time" if n is None else f"{int(n)} s"


GROUPS = ("events", "failover", "setup", "checks")


def group_of(runbook_id: str) -> str:
    """Where a runbook stands on the home screen: the HADR events, failover and failback, setup, checks."""
    if runbook_id.startswith("event-"):
        return "events"
    if runbook_id.endswith("-setup"):
        return "setup"
    if "fail" in runbook_id or runbook_id == "network-services":
        return "failover"
    return "checks"


def arrange(runbook_ids: list[str], situation: Situation | None) -> list[tuple[str, list[str]]]:
    """The runbooks in the order an operator needs them: what the situation recommends first,
    then the rest by group (each runbook once)."""
    first = [r.runbook for r in situation.recommended if r.runbook in runbook_ids] if situation is not None else []
    first = list(dict.fromkeys(first))
    out = [("recommended", first)] if first else []
    for group in GROUPS:
        members = [i for i in runbook_ids if group_of(i) == group and i not in first]
        if members:
            out.append((group, members))
    return out
