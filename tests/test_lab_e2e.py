"""The shipped PostgreSQL runbooks, end to end, on the real lab: two namespaces with sshd and
PostgreSQL 15, the engine headless over real SSH, every run's audit log verified afterwards.

Each test first resets PostgreSQL to the shape its runbook starts from (Lab.reset), so the
tests do not depend on each other's order.
"""
from __future__ import annotations

import re

from hamn_tui.lab import netns
from hamn_tui.lab.topology import NODES, SERVICE_IP

from .lab_support import assert_audit_valid, lab, run_runbook, vip_connect  # noqa: F401

MN1, MN2 = NODES["mn1"], NODES["mn2"]
HOST = "trim(E'\\n' FROM pg_read_file('/proc/sys/kernel/hostname'))"
"""The name of the node whose server answered (each node has its own UTS namespace)."""


def sql(lab_, node: str, query: str, db: str = "postgres") -> str:  # noqa: F811
    return lab_.pg(node).psql(query, db=db)


def test_streaming_setup_from_two_bare_nodes(lab, tmp_path):  # noqa: F811
    lab.reset("bare")
    assert not (lab.pg("mn2").data / "PG_VERSION").exists()
    assert sql(lab, "mn1", "SELECT count(*) FROM pg_replication_slots") == "0"
    r, run = run_runbook(lab, tmp_path, "pg-streaming-setup", "--yes", "--confirm", "move-aside-standby-datadir=mn2", "--quiet-output")
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr
    assert "run done" in r.stdout
    assert_audit_valid(run)
    # mn1 streams to mn2 through the runbook's slot, and a new row reaches the standby.
    assert sql(lab, "mn1", "SELECT client_addr, state FROM pg_stat_replication") == f"{MN2}|streaming"
    assert sql(lab, "mn1", "SELECT slot_name, active FROM pg_replication_slots") == "hamn_standby|t"
    assert sql(lab, "mn2", "SELECT pg_is_in_recovery()") == "t"
    sql(lab, "mn1", "CREATE TABLE after_setup AS SELECT 42 AS v")
    lsn = sql(lab, "mn1", "SELECT pg_current_wal_lsn()")
    _wait(lambda: sql(lab, "mn2", f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'") == "t")
    assert sql(lab, "mn2", "SELECT v FROM after_setup") == "42"


def test_planned_switchover_loses_no_committed_row(lab, tmp_path):  # noqa: F811
    lab.reset("pair")
    n = 2000
    with vip_connect() as conn, conn.cursor() as cur:  # committed on leaving the block
        cur.execute("CREATE TABLE orders (id int PRIMARY KEY, note text)")
        cur.execute("INSERT INTO orders SELECT g, 'row ' || g FROM generate_series(1, %s) g", (n,))
        cur.execute(f"SELECT {HOST}")
        assert cur.fetchone()[0] == "mn1"
    r, run = run_runbook(lab, tmp_path, "pg-failover", "--choose", "mode=planned", "--yes", "--confirm", "promote=mn2", "--quiet-output")
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr
    assert_audit_valid(run)
    assert netns.holds_service_ip("mn2") and not netns.holds_service_ip("mn1")
    conn = vip_connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute(f"SELECT {HOST}, pg_is_in_recovery(), count(*), sum(id) FROM orders")
            assert cur.fetchone() == ("mn2", False, n, n * (n + 1) // 2)
            cur.execute("INSERT INTO orders VALUES (%s, 'after the switchover')", (n + 1,))
    finally:
        conn.close()
    assert lab.pg("mn1").postmaster_pid() is None  # the old primary stays down (clean shutdown)


def test_unplanned_failover_moves_the_service_ip_with_a_gratuitous_arp(lab, tmp_path):  # noqa: F811
    lab.reset("pair")
    with vip_connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE before_crash AS SELECT 1 AS v")
    conn.close()
    mac1, mac2 = netns.mac_of("mn1"), netns.mac_of("mn2")
    assert netns.console_neighbour(SERVICE_IP) == mac1  # the console reached the service IP at mn1
    killed = lab.crash("mn1")
    assert killed and lab.pg("mn1").postmaster_pid() is None and not netns.cable_up("mn1")
    r, run = run_runbook(lab, tmp_path, "pg-failover", "--choose", "mode=unplanned", "--attest", "attest-primary-fenced",
                         "--yes", "--confirm", "promote=mn2", "--quiet-output")
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr
    assert_audit_valid(run)
    assert netns.holds_service_ip("mn2")
    # Nothing on the console has talked to the service IP since the crash: only mn2's
    # gratuitous ARP can have moved the console's entry to mn2's MAC address (without it the
    # entry keeps mn1's address and clients black-hole for ~13 s).
    assert netns.console_neighbour(SERVICE_IP) == mac2, f"console still maps {SERVICE_IP} to {netns.console_neighbour(SERVICE_IP)} (mn1 is {mac1})"
    conn = vip_connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute("INSERT INTO before_crash VALUES (2)")
            cur.execute(f"SELECT {HOST}, pg_is_in_recovery(), count(*) FROM before_crash")
            assert cur.fetchone() == ("mn2", False, 2)
    finally:
        conn.close()


def test_failback_rewinds_the_crashed_primary_into_a_streaming_standby(lab, tmp_path):  # noqa: F811
    """A real divergence: mn1 commits a row mn2 never receives, crashes, mn2 is promoted by hand;
    pg-failback must throw that row away (pg_rewind) and bring mn1 back streaming from mn2."""
    lab.reset("pair")
    mn1, mn2 = lab.pg("mn1"), lab.pg("mn2")
    mn1.psql("CREATE TABLE t (v text)")
    lsn = mn1.psql("SELECT pg_current_wal_lsn()")
    _wait(lambda: mn2.psql(f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'") == "t")
    mn2.stop("fast")
    mn1.psql("INSERT INTO t VALUES ('lost-only-on-mn1')")
    lab.crash("mn1")
    mn2.start()
    mn2.cmd("/usr/lib/postgresql/15/bin/pg_ctl", "-D", "/var/lib/postgresql/15/main", "-w", "promote")
    mn2.psql("INSERT INTO t VALUES ('written-on-mn2')")
    netns.drop_service_ip("mn1")
    netns.add_service_ip("mn2")
    lab.reboot_fenced("mn1")
    r, run = run_runbook(lab, tmp_path, "pg-failback", "--role", "primary=mn2", "--role", "standby=mn1", "--choose", "switch-back=stay",
                         "--yes", "--confirm", "rewind=mn1")
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr
    assert re.search(r"servers diverged at WAL location \S+ on timeline 1", r.stdout), r.stdout[-4000:]
    assert_audit_valid(run)
    assert mn2.psql("SELECT client_addr, state FROM pg_stat_replication") == f"{MN1}|streaming"
    assert mn1.psql("SELECT pg_is_in_recovery()") == "t"
    mn2.psql("INSERT INTO t VALUES ('after-failback')")
    lsn = mn2.psql("SELECT pg_current_wal_lsn()")
    _wait(lambda: mn1.psql(f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'") == "t")
    assert mn1.psql("SELECT string_agg(v, ',' ORDER BY v) FROM t") == "after-failback,written-on-mn2"


def test_dump_restore_method_copies_the_xcat_database(lab, tmp_path):  # noqa: F811
    lab.reset("independent")
    assert sql(lab, "mn2", "SELECT count(*) FROM pg_database WHERE datname = 'xcatdb'") == "0"
    r, run = run_runbook(lab, tmp_path, "pg-dump-restore-setup", "--yes", "--confirm", "restore=mn2", "--quiet-output")
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr
    assert_audit_valid(run)
    for table, rows in (("site", "2"), ("nodelist", "20")):
        assert sql(lab, "mn2", f"SELECT count(*) FROM {table}", db="xcatdb") == rows
    assert sql(lab, "mn2", "SELECT pg_is_in_recovery()") == "f"
    # The cron jobs went to each node's own /etc/cron.d, not to this machine's.
    assert "pg_dump" in (lab.dir / "mn1" / "cron.d" / "hamn-pg-dump").read_text()
    assert "hamn-pg-restore-job" in (lab.dir / "mn2" / "cron.d" / "hamn-pg-restore").read_text()
    assert not (lab.dir / "mn1" / "cron.d" / "hamn-pg-restore").exists()
    from pathlib import Path

    assert not Path("/etc/cron.d/hamn-pg-dump").exists() and not Path("/etc/cron.d/hamn-pg-restore").exists()


def _wait(cond, timeout_s: float = 15) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
