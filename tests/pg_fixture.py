"""A real PostgreSQL 15 primary and streaming standby on loopback, for the pg probe tests.

Recipe and traps: docs/lab-recipes.md §1 (initdb refuses root, so every server command runs as
`runuser -u postgres --`; the directories must belong to postgres; `pg_basebackup -R -C -S`
writes the standby's primary_conninfo, slot and standby.signal).

The two "nodes" are two loopback addresses, 127.0.0.1 (mn1, primary) and 127.0.0.2 (mn2,
standby), listening on the SAME port, as two real management nodes would. So the cluster file
is shaped like a production one (one `[pg].port`, a different address per node) and neither
the inventory model nor the probes need a per-node port just for the tests. Linux answers on
all of 127.0.0.0/8 without configuration.

Tests import the fixtures explicitly: `from .pg_fixture import pg_pair, fresh_pg_pair  # noqa: F401`.
"""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_USER = "postgres"
PRIMARY_HOST = "127.0.0.1"
STANDBY_HOST = "127.0.0.2"
SLOT = "mn2_slot"

COMMON_CONF = """
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
hot_standby = on
wal_keep_size = '64MB'
fsync = off                 # test speed only
shared_buffers = 16MB
max_connections = 30
log_min_messages = warning
"""


class PgUnavailable(Exception):
    """The PostgreSQL lab cannot run here; the message names what is missing."""


def check_can_run() -> None:
    """Raise PgUnavailable naming the first missing thing."""
    if os.geteuid() != 0:
        raise PgUnavailable(f"the PostgreSQL lab needs root to switch to user {PG_USER} (running as uid {os.geteuid()})")
    for tool in ("initdb", "pg_ctl", "pg_basebackup", "postgres"):
        if not os.access(PG_BIN / tool, os.X_OK):
            raise PgUnavailable(f"PostgreSQL 15 binaries missing: {PG_BIN / tool} (apt-get install postgresql-15)")
    if shutil.which("runuser") is None:
        raise PgUnavailable("runuser is missing (package util-linux)")
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        raise PgUnavailable(f"no OS user {PG_USER!r} (it comes with postgresql-common)") from None
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        raise PgUnavailable("psycopg2 is not installed in this Python (pip install psycopg2-binary)") from None


def as_postgres(*argv: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL binary as the postgres user; raise with its output when it fails."""
    cmd = ["runuser", "-u", PG_USER, "--", *map(str, argv)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd="/")
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {r.stdout}{r.stderr}")
    return r


def free_port_on_both() -> int:
    """A TCP port free on both loopback addresses (the two nodes share it)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind((PRIMARY_HOST, 0))
            port = s.getsockname()[1]
            try:
                with socket.socket() as t:
                    t.bind((STANDBY_HOST, port))
            except OSError:
                continue
            return port
    raise PgUnavailable("no TCP port free on both 127.0.0.1 and 127.0.0.2")


def chown_postgres(path: Path) -> None:
    pw = pwd.getpwnam(PG_USER)
    os.chown(path, pw.pw_uid, pw.pw_gid)


@dataclass
class PgNode:
    name: str
    host: str
    data: Path
    sock: Path
    log: Path

    def pid(self) -> int | None:
        """The postmaster's pid from postmaster.pid, when the file is there."""
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None


@dataclass
class PgPair:
    """mn1 (primary, 127.0.0.1) streaming to mn2 (standby, 127.0.0.2), both on `port`."""

    base: Path
    template: Path
    port: int = 0
    nodes: dict[str, PgNode] = field(default_factory=dict)

    @property
    def primary(self) -> PgNode:
        return self.nodes["mn1"]

    @property
    def standby(self) -> PgNode:
        return self.nodes["mn2"]

    def start(self) -> "PgPair":
        self.port = free_port_on_both()
        for name, host in (("mn1", PRIMARY_HOST), ("mn2", STANDBY_HOST)):
            sock = self.base / f"{name}.sock"
            sock.mkdir()
            chown_postgres(sock)
            self.nodes[name] = PgNode(name, host, self.base / name, sock, self.base / f"{name}.log")
        p, s = self.primary, self.standby
        as_postgres("cp", "-a", self.template, p.data)  # cheaper than a second initdb (lab-recipes §1b)
        self._append(p.data / "postgresql.conf", self._node_conf(p))
        self.pg_ctl(p, "-l", p.log, "-w", "-t", "60", "start")
        as_postgres(PG_BIN / "pg_basebackup", "-h", p.host, "-p", self.port, "-U", PG_USER, "-D", s.data,
                    "-R", "-X", "stream", "-c", "fast", "-C", "-S", SLOT)
        # -R wrote primary_conninfo, primary_slot_name and standby.signal; the copied
        # postgresql.conf still says the primary's address and socket: override them later in order.
        self._append(s.data / "postgresql.auto.conf", self._node_conf(s))
        self.pg_ctl(s, "-l", s.log, "-w", "-t", "60", "start")
        self.wait_streaming()
        return self

    def _node_conf(self, node: PgNode) -> str:
        return f"listen_addresses = '{node.host}'\nport = {self.port}\nunix_socket_directories = '{node.sock}'\n"

    @staticmethod
    def _append(path: Path, text: str) -> None:
        with open(path, "a") as f:
            f.write(text)

    def pg_ctl(self, node: PgNode, *args: str | Path | int) -> subprocess.CompletedProcess[str]:
        return as_postgres(PG_BIN / "pg_ctl", "-D", node.data, *map(str, args))

    def stop_node(self, node: PgNode, mode: str = "fast") -> None:
        self.pg_ctl(node, "-m", mode, "-w", "-t", "60", "stop")

    def start_node(self, node: PgNode) -> None:
        self.pg_ctl(node, "-l", node.log, "-w", "-t", "60", "start")

    def promote(self, node: PgNode) -> None:
        self.pg_ctl(node, "-w", "-t", "60", "promote")

    def connect(self, node: PgNode):
        """A superuser autocommit session on `node` (trust auth, as initdb --auth=trust set it up)."""
        import psycopg2

        conn = psycopg2.connect(host=node.host, port=self.port, user=PG_USER, dbname="postgres",
                                connect_timeout=5, application_name="hamn-test")
        conn.autocommit = True
        return conn

    def sql(self, node: PgNode, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = self.connect(node)
        try:
            with conn.cursor() as cur:
                cur.execute(query, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def write_rows(self, n: int = 1000, table: str = "t") -> None:
        """Write n rows on the primary (the table is created on first use)."""
        self.sql(self.primary, f"CREATE TABLE IF NOT EXISTS {table} (id serial PRIMARY KEY, v text)")
        self.sql(self.primary, f"INSERT INTO {table}(v) SELECT repeat('x', 100) FROM generate_series(1, %s)", (n,))

    def wait_streaming(self, timeout_s: float = 30) -> None:
        """Until the primary shows the standby streaming and its first replay report (replay_lsn is
        NULL until the standby's first feedback message; the lab measured 0.05-0.1 s in all)."""
        q = "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND replay_lsn IS NOT NULL"
        self.wait_until(lambda: self.sql(self.primary, q)[0][0] == 1,
                        timeout_s, "the standby to stream")

    def wait_caught_up(self, timeout_s: float = 30) -> None:
        """Until the standby has replayed everything the primary wrote."""
        def caught_up() -> bool:
            rows = self.sql(self.primary, "SELECT bool_and(replay_lsn >= pg_current_wal_lsn()) FROM pg_stat_replication")
            return bool(rows and rows[0][0])
        self.wait_until(caught_up, timeout_s, "the standby to catch up")

    @staticmethod
    def wait_until(cond, timeout_s: float, what: str, interval_s: float = 0.05) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if cond():
                    return
            except Exception:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout_s} s for {what}")
            time.sleep(interval_s)

    def cluster_toml(self, path: Path, *, port: int | None = None, max_lag_bytes: int | None = None) -> Path:
        """A cluster file for the pair: mn1 primary at 127.0.0.1, mn2 standby at 127.0.0.2, one [pg].port."""
        lines = ['[cluster]\nname = "pglab"\ndatabase = "pg"\n']
        for node, role in ((self.primary, "primary"), (self.standby, "standby")):
            lines.append(f'[nodes.{node.name}]\naddress = "{node.host}"\nhostname = "{node.name}"\nrole = "{role}"\n')
        lines.append(f'[pg]\nos_user = "{PG_USER}"\nport = {port or self.port}\ndata_dir = "{self.primary.data}"\n'
                     f'slot = "{SLOT}"\n' + (f"max_lag_bytes = {max_lag_bytes}\n" if max_lag_bytes is not None else ""))
        path.write_text("\n".join(lines))
        return path

    def cluster(self, path: Path, **kw: Any):
        from hamn_tui.cluster.loader import load_cluster

        return load_cluster(self.cluster_toml(path, **kw))

    def stop(self) -> None:
        """Stop every server of this pair that still runs (-m immediate: nothing here is worth a checkpoint)."""
        for node in self.nodes.values():
            pid = node.pid()
            if pid is None:
                continue
            try:
                self.pg_ctl(node, "-m", "immediate", "-w", "-t", "30", "stop")
            except (RuntimeError, subprocess.TimeoutExpired):
                _kill_postmaster(pid)


def _kill_postmaster(pid: int) -> None:
    """Last resort for a postmaster pg_ctl could not stop: SIGQUIT (immediate shutdown), then SIGKILL."""
    for sig in (signal.SIGQUIT, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


class PgLab:
    """One temp directory (owned by postgres) with an initdb'd template; pairs are copied from it."""

    def __init__(self) -> None:
        check_can_run()
        self.base = Path(tempfile.mkdtemp(prefix="hamn-pg-"))
        self.base.chmod(0o755)
        chown_postgres(self.base)
        self.pairs: list[PgPair] = []
        self.template = self.base / "template"
        try:
            as_postgres(PG_BIN / "initdb", "-D", self.template, "-U", PG_USER, "--auth=trust", "-E", "UTF8",
                        "--locale=C.UTF-8", "--no-sync")
        except Exception:
            self.close()
            raise
        PgPair._append(self.template / "postgresql.conf", COMMON_CONF)
        # initdb --auth=trust allows 127.0.0.1/32 only; the standby's address is 127.0.0.2.
        PgPair._append(self.template / "pg_hba.conf",
                       "host all all 127.0.0.0/8 trust\nhost replication all 127.0.0.0/8 trust\n")

    def pair(self) -> PgPair:
        d = Path(tempfile.mkdtemp(prefix="pair-", dir=self.base))
        d.chmod(0o755)
        chown_postgres(d)
        pair = PgPair(d, self.template)
        self.pairs.append(pair)
        try:
            return pair.start()
        except Exception:
            pair.stop()
            raise

    def release(self, pair: PgPair) -> None:
        pair.stop()
        shutil.rmtree(pair.base, ignore_errors=True)
        self.pairs.remove(pair)

    def close(self) -> None:
        for pair in list(self.pairs):
            self.release(pair)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_lab() -> Iterator[PgLab]:
    try:
        lab = PgLab()
    except PgUnavailable as exc:
        pytest.skip(f"no PostgreSQL lab: {exc}")
    try:
        yield lab
    finally:
        lab.close()


@pytest.fixture(scope="module")
def pg_pair(pg_lab: PgLab) -> Iterator[PgPair]:
    """A pair shared by a module's read-only tests: leave it as you found it."""
    pair = pg_lab.pair()
    try:
        yield pair
    finally:
        pg_lab.release(pair)


@pytest.fixture
def fresh_pg_pair(pg_lab: PgLab) -> Iterator[PgPair]:
    """A pair of its own, for a test that stops, pauses, crashes or promotes a server."""
    pair = pg_lab.pair()
    try:
        yield pair
    finally:
        pg_lab.release(pair)
