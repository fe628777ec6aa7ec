"""The simulated cluster: nodes, the network between them, xCAT's DB2 clients, and time.

Each whole virtual second is one tick, processed in a fixed order (HADR failure detection,
the workload's writes, new HADR connections, log shipping), so the same seed and the same
commands always give the same states.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from .clock import VirtualClock
from .db2 import Database, LogRecord
from .fs import SimFs

MN, SN, CONSOLE = "mn", "sn", "console"
WORKLOAD_BYTES = (512, 6144)
"""Log bytes per second a connected xcatd makes its database write."""


@dataclass
class Service:
    running: bool = False
    enabled: bool = False
    pid: int = 0
    fails: str = ""
    """Why it cannot start ('' : it starts) — a scenario's `fail_service`."""
    stop_s: float = 0.0
    """Virtual seconds a stop takes (a wedged daemon) — a scenario's `hang_service`."""


@dataclass
class SimNode:
    name: str
    hostname: str
    address: str
    kind: str
    os: str = "linux"
    interface: str = "eth0"
    prefix: int = 24
    up: bool = True
    instance_up: bool = False
    autostart: bool = False
    """DB2 instance starts at boot (db2fm / db2iauto); off keeps a fenced old primary down."""
    db: Database | None = None
    fs: SimFs = field(default_factory=SimFs)
    services: dict[str, Service] = field(default_factory=dict)
    addrs: dict[str, list[str]] = field(default_factory=dict)
    persistent_addrs: dict[str, list[str]] = field(default_factory=dict)
    persistent_hostname: str = ""
    crontabs: dict[str, str] = field(default_factory=dict)
    users: list[str] = field(default_factory=lambda: ["root"])
    clock_skew_s: float = 0.0
    trusts_root_of: list[str] = field(default_factory=list)
    """Nodes whose root may SSH in here as root without a password (root's authorized_keys)."""
    xcat_client: bool = False
    bmc: bool = True


class SimCluster:
    def __init__(self, *, clock: VirtualClock, seed: int, level: str, instance: str, database: str, instance_home: str,
                 service_ip: str, service_prefix: int):
        self.clock = clock
        self.rng = random.Random(seed)
        self.level = level
        self.instance = instance
        self.dbname = database
        self.instance_home = instance_home
        self.service_ip = service_ip
        self.service_prefix = service_prefix
        self.nodes: dict[str, SimNode] = {}
        self._mns: list[SimNode] = []
        """The management nodes, kept as they are added: read every tick, so not rescanned (a site may have hundreds of nodes)."""
        self.cuts: set[frozenset[str]] = set()
        self.console_cut: set[str] = set()
        self.history: list[tuple[int, str]] = []
        self._rid = 0
        self._pid = 4000
        self._tick_done = int(clock.now())
        clock.on_advance(self._evolve)

    # --- lookups -------------------------------------------------------------------------------
    def add(self, node: SimNode) -> SimNode:
        self.nodes[node.name] = node
        if node.kind == MN:
            self._mns = [n for n in self.nodes.values() if n.kind == MN]
        if not node.persistent_hostname:
            node.persistent_hostname = node.hostname
        return node

    def mns(self) -> list[SimNode]:
        return list(self._mns)

    def resolve(self, host: str | None) -> SimNode | None:
        """A host name or address as another node (or DB2's HADR_REMOTE_HOST) would resolve it."""
        if not host:
            return None
        for n in self.nodes.values():
            if n.kind == CONSOLE:
                continue
            if host in (n.name, n.hostname, n.address) or any(a.split("/")[0] == host for addrs in n.addrs.values() for a in addrs):
                return n
        return None

    def holds(self, node: SimNode, ip: str) -> bool:
        return any(a.split("/")[0] == ip for addrs in node.addrs.values() for a in addrs)

    def talks(self, a: SimNode, b: SimNode) -> bool:
        """The two can exchange packets: both up and no partition between them."""
        if a is b:
            return a.up
        return a.up and b.up and frozenset((a.name, b.name)) not in self.cuts

    def console_reaches(self, node: SimNode) -> bool:
        return node.kind == CONSOLE or (node.up and node.name not in self.console_cut)

    def note(self, text: str) -> None:
        self.history.append((int(self.clock.now()), text))

    def next_pid(self) -> int:
        self._pid += 7
        return self._pid

    # --- DB2 clients: xcatd -------------------------------------------------------------------
    def usable(self, node: SimNode) -> bool:
        """Its database accepts applications: active, not starting, PRIMARY or STANDARD (a standby refuses them)."""
        db = node.db
        return bool(node.up and node.instance_up and db and db.active and not db.starting and db.cfg.role in ("PRIMARY", "STANDARD"))

    def xcatd_db(self, node: SimNode) -> SimNode | None:
        """The management node whose database this node's running xcatd is connected to."""
        svc = node.services.get("xcatd")
        if not node.up or svc is None or not svc.running:
            return None
        if node.kind == MN:
            return node if self.usable(node) else None
        # a service node's DB2 client reaches the service IP, then the alternate server (client reroute)
        holders = [m for m in self.mns() if self.holds(m, self.service_ip)]
        for m in holders + [m for m in self.mns() if m not in holders]:
            if self.usable(m) and self.talks(node, m):
                return m
        return None

    def applications(self, mn: SimNode) -> list[str]:
        if not self.usable(mn):  # nothing connects to it: no need to ask every node
            return []
        return [n.name for n in self.nodes.values() if self.xcatd_db(n) is mn]

    def in_use(self, mn: SimNode) -> bool:
        """Any xcatd connected to its database (what a tick asks: stops at the first)."""
        return self.usable(mn) and any(self.xcatd_db(n) is mn for n in self.nodes.values())

    def settle(self) -> None:
        """An implicitly activated database deactivates when its last connection ends."""
        from .hadr import shutdown

        for n in self.mns():
            db = n.db
            if db is not None and db.active and not db.explicit and not db.starting and not self.in_use(n):
                shutdown(self, n, clean=True, quiet=True)
                self.note(f"{n.name}: last connection gone: {db.name} deactivated (it was activated by a connection)")

    # --- the log -----------------------------------------------------------------------------------
    def writes_blocked(self, node: SimNode) -> bool:
        """SYNC/NEARSYNC: commits wait for the standby — while it silently vanished, then through the peer window."""
        db = node.db
        if db is None or db.starting:
            return True
        if db.cfg.role != "PRIMARY" or db.hadr is None or db.runtime is None:
            return False
        if db.runtime.syncmode not in ("SYNC", "NEARSYNC"):
            return False
        ch = db.hadr
        if ch.state == "DISCONNECTED_PEER":
            return True
        from .hadr import can_talk, partner_of

        partner = partner_of(self, node)
        return ch.linked and ch.state == "PEER" and (partner is None or not can_talk(self, node, partner))

    def append(self, node: SimNode, op: tuple[str, ...] = (), size: int | None = None) -> LogRecord:
        db = node.db
        assert db is not None
        self._rid += 1
        nbytes = size if size is not None else self.rng.randint(*WORKLOAD_BYTES)
        rec = LogRecord(db.end + nbytes, self._rid, int(self.clock.now()), op)
        db.log.append(rec)
        db.replay_pos = db.end
        return rec

    # --- time -----------------------------------------------------------------------------------
    def _evolve(self, now: float) -> None:
        from .hadr import tick

        while self._tick_done < int(now):
            self._tick_done += 1
            tick(self, self._tick_done)

    def diag(self, node: SimNode, level: str, function: str, message: str) -> None:
        """Append a db2diag.log record on the node (what `grep … db2diag.log` finds)."""
        from datetime import datetime, timezone

        path = f"{self.instance_home}/sqllib/db2dump/db2diag.log"
        if not node.fs.exists(path):
            return
        t = datetime.fromtimestamp(self.clock.now(), timezone.utc)
        head = t.strftime("%Y-%m-%d-%H.%M.%S.%f") + "+000"
        body = message.replace("\n", "\n          ")
        rec = (f"{head} I{self.next_pid()}E512          LEVEL: {level}\n"
               f"PID     : {self.next_pid():<20} TID : 140         PROC : db2sysc 0\n"
               f"INSTANCE: {self.instance:<20} NODE : 000          DB   : {self.dbname}\n"
               f"HOSTNAME: {node.hostname}\n"
               f"FUNCTION: DB2 UDB, High Availability Disaster Recovery, {function}\n"
               f"MESSAGE : {body}\n\n")
        node.fs.write(path, rec, append=True)
