"""PostgreSQL 15 in the lab nodes: a template cluster made once, then copies in the shapes the
tests and runbooks start from (a streaming pair, two bare nodes, two independent servers).

Settings follow docs/lab-recipes.md §1 and the pg runbooks' conventions: postgresql.conf inside
the data directory, wal_log_hints and wal_keep_size for pg_rewind, trust for the lab subnet (no
password anywhere), fsync off (a lab: speed over durability).
"""
from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

from .errors import LabError
from .proc import in_node, run
from .topology import MANAGEMENT_NODES, SUBNET

BIN = "/usr/lib/postgresql/15/bin"
DATA = "/var/lib/postgresql/15/main"
"""Inside a node (the cluster file's default pg.data_dir)."""
TEMPLATE = "/var/lib/postgresql/.hamn-lab-template"
"""Inside mn1: made by initdb once per `lab up`; copying it (0.5 s) beats initdb (1.1-1.6 s)."""
SLOT = "hamn_standby"
REPLICATION_USER = "replicator"
DATABASE = "xcatdb"
USER = "postgres"

CONF = f"""
# --- hamn lab (docs/lab.md) ---
listen_addresses = '*'
port = 5432
unix_socket_directories = '/run/postgresql'
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
hot_standby = on
wal_log_hints = on
wal_keep_size = '256MB'
fsync = off
shared_buffers = 32MB
max_connections = 40
"""
HBA = f"""
# hamn lab: the superuser is trusted from the lab subnet (no passwords in the lab): the
# runbooks' psql and pg_rewind, and hamn's probes from the console, log in as it. Replication
# is NOT allowed here: pg-streaming-setup and pg-failback add their own rules, and the tests
# prove those rules work.
host all {USER} {SUBNET} trust
"""
REPLICATION_RULE = "host replication {user} {address}/32 trust\n"
"""What pg-streaming-setup adds; the lab adds the same when it builds the pair itself."""
XCAT_TABLES = """
CREATE TABLE site (key text PRIMARY KEY, value text);
CREATE TABLE nodelist (node text PRIMARY KEY, groups text);
INSERT INTO site VALUES ('master', '10.99.0.100'), ('domain', 'lab.hamn');
INSERT INTO nodelist SELECT 'cn' || g, 'compute' FROM generate_series(1, 20) g;
"""


def host_path(lab: Path, node: str, inside: str) -> Path:
    """Where a path under /var/lib/postgresql inside `node` lives on the machine."""
    return lab / node / "pghome" / Path(inside).relative_to("/var/lib/postgresql")


class NodePg:
    """PostgreSQL on one lab node, driven from outside with nsenter."""

    def __init__(self, lab: Path, node: str, anchor: int):
        self.lab, self.node, self.anchor = lab, node, anchor

    def cmd(self, *argv: str, check: bool = True, timeout: float = 120):
        return run(in_node(self.anchor, argv, user=USER), check=check, timeout=timeout)

    def psql(self, sql: str, db: str = "postgres", check: bool = True) -> str:
        return self.cmd(f"{BIN}/psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", "/run/postgresql", "-U", USER, "-d", db,
                        "-c", sql, check=check).stdout.strip()

    @property
    def data(self) -> Path:
        return host_path(self.lab, self.node, DATA)

    def postmaster_pid(self) -> int | None:
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        try:  # a postgres of this node: never one that reused the pid (the machine's own server)
            is_postgres = (Path(f"/proc/{pid}/comm").read_text().strip() == "postgres"
                           and os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(f"/proc/{self.anchor}/ns/net").st_ino)
        except OSError:
            return None
        return pid if is_postgres and _running(pid) else None  # a killed one may linger as a zombie

    def start(self) -> None:
        self.cmd(f"{BIN}/pg_ctl", "-D", DATA, "-l", f"/var/log/postgresql/hamn-{self.node}.log", "-w", "-t", "60", "start", timeout=90)

    def stop(self, mode: str = "fast") -> None:
        if self.postmaster_pid() is not None:
            self.cmd(f"{BIN}/pg_ctl", "-D", DATA, "-m", mode, "-w", "-t", "60", "stop", check=False, timeout=90)
        self.kill9()  # whatever is left (a crashed server's orphans)

    def kill9(self) -> list[int]:
        """SIGKILL the postmaster and all its processes at once: a crash, not a shutdown."""
        pid = self.postmaster_pid()
        if pid is None:
            return []
        victims = [pid, *_descendants(pid)]
        for p in victims:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # Wait until they are gone from the process table, not only dead: the postmaster's parent
        # is init, which reaps in its own time, and until then `pg_ctl status` still finds the
        # pid of postmaster.pid alive (kill -0 succeeds on a zombie) and reports a running server.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in victims):
            time.sleep(0.02)
        return victims

    def wipe(self) -> None:
        """Remove everything a run may have made under the node's PostgreSQL home (keeps ~/.ssh
        and the template), and its cron jobs."""
        home = self.lab / self.node / "pghome"
        for entry in home.iterdir():
            if entry.name not in (".ssh", Path(TEMPLATE).name):
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        for job in (self.lab / self.node / "cron.d").iterdir():
            job.unlink()
        self.cmd("mkdir", "-p", str(Path(DATA).parent))

    def from_template(self, template: Path) -> None:
        run(["cp", "-a", str(template), str(self.data)])


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def make_template(lab: Path, anchor: int) -> Path:
    """initdb once (inside mn1, as postgres) with the lab's settings; returns its path on the machine."""
    template = host_path(lab, "mn1", TEMPLATE)
    if (template / "PG_VERSION").exists():
        return template
    if template.exists():
        shutil.rmtree(template)
    run(in_node(anchor, [f"{BIN}/initdb", "-D", TEMPLATE, "-U", USER, "--auth=trust", "--data-checksums", "-E", "UTF8",
                         "--locale=C.UTF-8", "--no-sync"], user=USER), timeout=120)
    with open(template / "postgresql.conf", "a") as f:
        f.write(CONF)
    with open(template / "pg_hba.conf", "a") as f:
        f.write(HBA)
    return template


MODES = ("pair", "bare", "independent")


def reset(lab: Path, anchors: dict[str, int], mode: str) -> None:
    """Both nodes from scratch: mn1 primary with the xCAT database, and mn2 as `mode` says:
    pair = streaming standby (slot hamn_standby, role replicator); bare = no data directory;
    independent = its own read-write server (for the dump/restore method)."""
    if mode not in MODES:
        raise LabError(f"unknown lab mode {mode!r}: one of {', '.join(MODES)}")
    template = make_template(lab, anchors["mn1"])
    pgs = {n: NodePg(lab, n, anchors[n]) for n in MANAGEMENT_NODES}
    for pg in pgs.values():
        pg.stop("immediate")
        pg.wipe()
    primary, standby = pgs["mn1"], pgs["mn2"]
    primary.from_template(template)
    primary.start()
    primary.psql(f"CREATE DATABASE {DATABASE}")
    primary.psql(XCAT_TABLES, db=DATABASE)
    if mode == "pair":
        with open(primary.data / "pg_hba.conf", "a") as f:
            f.write(REPLICATION_RULE.format(user=REPLICATION_USER, address=MANAGEMENT_NODES["mn2"]))
        primary.psql("SELECT pg_reload_conf()")
        primary.psql(f"CREATE ROLE {REPLICATION_USER} WITH REPLICATION LOGIN")
        primary.psql(f"SELECT pg_create_physical_replication_slot('{SLOT}')")
        standby.cmd(f"{BIN}/pg_basebackup", "-h", MANAGEMENT_NODES["mn1"], "-U", REPLICATION_USER, "-w", "-D", DATA, "-R", "-X", "stream",
                    "-S", SLOT, "-c", "fast", timeout=120)
        standby.start()
        wait_streaming(primary)
    elif mode == "independent":
        standby.from_template(template)
        standby.start()


def wait_streaming(primary: NodePg, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while primary.psql("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") == "0":
        if time.monotonic() > deadline:
            raise LabError(f"the standby did not stream from {primary.node} within {timeout_s:g} s")
        time.sleep(0.05)


def role(pg: NodePg) -> str:
    """'primary', 'standby' or 'down' (no server answers on the node's socket)."""
    if pg.postmaster_pid() is None:
        return "down"
    r = pg.psql("SELECT pg_is_in_recovery()", check=False)
    return {"t": "standby", "f": "primary"}.get(r, "down")
