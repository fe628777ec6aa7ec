"""Failover of a pg_dump-method pair, and xCAT's clients after any PostgreSQL failover, on the
real lab (two namespaces with sshd and PostgreSQL 15; docs/lab.md).

- The standby's restore job refuses on a node that is in service (service IP held, an xcatd
  process, a listener on xcatd's port) and says why in its log: after pg-dump-failover, the
  job run by hand on the new primary changes nothing, even with an older dump waiting.
- pg-dump-failover (planned: a last dump after xcatd stops, nothing lost; unplanned: the last
  copy restored if newer), then pg-dump-restore-setup with the roles swapped takes the old jobs
  off and installs them the other way.
- pg-failover and pg-dump-failover make the new primary accept xCAT's database user through the
  service IP (listen_addresses, pg_hba.conf), as xcatd and the service nodes connect.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from hamn_tui.lab import netns
from hamn_tui.lab.postgres import USER, host_path
from hamn_tui.lab.proc import in_node
from hamn_tui.lab.topology import SERVICE_IP

from .lab_support import assert_audit_valid, lab, run_runbook, vip_connect  # noqa: F401

DUMPS = "/var/lib/postgresql/dumps"
JOB = f"{DUMPS}/hamn-pg-restore-job"
XCAT_USER, XCAT_PASSWORD = "xcatadm", "lab-only-xcat-password"
HOST = "trim(E'\\n' FROM pg_read_file('/proc/sys/kernel/hostname'))"


def xcat_connect():
    """xcatd's connection (cfgloc): the xCAT database, xCAT's user and password, the service IP."""
    import psycopg2

    return psycopg2.connect(host=SERVICE_IP, port=5432, user=XCAT_USER, password=XCAT_PASSWORD, dbname="xcatdb", connect_timeout=5)


def xcat_query(sql: str, *params):
    conn = xcat_connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def admit_xcat_on(lab_, node: str) -> None:  # noqa: F811
    """What xCAT's PostgreSQL setup did on the primary: a login role and a pg_hba.conf line (md5)."""
    pg = lab_.pg(node)
    pg.psql(f"CREATE ROLE {XCAT_USER} LOGIN PASSWORD '{XCAT_PASSWORD}'")
    pg.psql(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {XCAT_USER}", db="xcatdb")
    with open(pg.data / "pg_hba.conf", "a") as f:
        f.write(f"host xcatdb {XCAT_USER} 10.99.0.0/24 md5\n")
    pg.psql("SELECT pg_reload_conf()")


def listen_only_on_own_address(lab_, node: str, address: str) -> None:  # noqa: F811
    """As xCAT's pgsqlsetup leaves a node: listen_addresses names localhost and the node's address."""
    pg = lab_.pg(node)
    with open(pg.data / "postgresql.conf", "a") as f:
        f.write(f"listen_addresses = 'localhost,{address}'\n")
    pg.stop("fast")
    pg.start()


def in_mn(lab_, node: str, *argv: str, user: str | None = USER, timeout: float = 120) -> subprocess.CompletedProcess[str]:  # noqa: F811
    return subprocess.run(in_node(lab_.state.sshd_pids[node], argv, user=user), capture_output=True, text=True, timeout=timeout)


def job_log(lab_, node: str) -> list[str]:  # noqa: F811
    path = host_path(lab_.dir, node, f"{DUMPS}/hamn-pg-restore.log")
    return path.read_text().splitlines() if path.exists() else []


def cron(lab_, node: str, name: str) -> Path:  # noqa: F811
    return lab_.dir / node / "cron.d" / name


def setup_dump_pair(lab_, tmp_path: Path, primary: str = "mn1", standby: str = "mn2") -> None:  # noqa: F811
    r, run = run_runbook(lab_, tmp_path, "pg-dump-restore-setup", "--role", f"primary={primary}", "--role", f"standby={standby}",
                         "--yes", "--confirm", f"restore={standby}")
    sshd_log = (lab_.dir / standby / "sshd.log").read_text()[-1500:]
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr + f"\n--- sshd of {standby}:\n" + sshd_log
    assert_audit_valid(run)
    assert "restored hamn-dump.tar" in job_log(lab_, standby)[-1]


def test_restore_job_refuses_while_xcatd_runs_or_listens(lab, tmp_path):  # noqa: F811
    """On the standby (no service IP) the job restores; with a process named as xcatd names its
    processes, or a listener on xcatd's port 3001, it refuses and logs why."""
    lab.reset("independent")
    setup_dump_pair(lab, tmp_path)
    mn1 = lab.pg("mn1")
    mn1.psql("INSERT INTO site VALUES ('written-after-setup', 'x')", db="xcatdb")
    dump = in_mn(lab, "mn1", "sh", "-c", "grep -o ' cd .*' /etc/cron.d/hamn-pg-dump | sh")
    assert dump.returncode == 0, dump.stderr
    anchor = lab.state.sshd_pids["mn2"]
    fakes = {
        "xcatd runs on this node": ["bash", "-c", "exec -a 'xcatd: SSL listener' sleep 60"],
        "listens on xcatd's port 3001": ["/usr/bin/python3", "-c",
                                          "import socket, time; s = socket.socket(); s.bind(('0.0.0.0', 3001)); s.listen(); time.sleep(60)"],
    }
    for reason, argv in fakes.items():
        fake = subprocess.Popen(in_node(anchor, argv, user=USER), start_new_session=True)
        try:
            deadline = time.monotonic() + 10
            while reason.endswith("3001") and ":3001 " not in in_mn(lab, "mn2", "sh", "-c", "PATH=/usr/sbin:/usr/bin:/sbin:/bin ss -ltn").stdout:
                assert time.monotonic() < deadline, "the fake xcatd listener did not start"
                time.sleep(0.05)
            time.sleep(0.3)
            r = in_mn(lab, "mn2", JOB)
        finally:
            os.killpg(fake.pid, signal.SIGKILL)  # runuser forks: the fake is its child
            fake.wait()
        assert r.returncode == 3, r.stdout + r.stderr
        assert "refused: " in r.stderr and reason in r.stderr
        assert "REFUSED" in job_log(lab, "mn2")[-1] and reason in job_log(lab, "mn2")[-1]
        assert mn1.psql("SELECT count(*) FROM site WHERE key = 'written-after-setup'", db="xcatdb") == "1"
        assert lab.pg("mn2").psql("SELECT count(*) FROM site WHERE key = 'written-after-setup'", db="xcatdb") == "0"
    # Nothing in service any more: the same job restores the newer copy.
    r = in_mn(lab, "mn2", JOB)
    assert r.returncode == 0, r.stderr
    assert "restored hamn-dump.tar" in job_log(lab, "mn2")[-1]
    assert lab.pg("mn2").psql("SELECT count(*) FROM site WHERE key = 'written-after-setup'", db="xcatdb") == "1"


def test_unplanned_dump_failover_then_the_restore_job_changes_nothing_on_the_new_primary(lab, tmp_path):  # noqa: F811
    lab.reset("independent")
    admit_xcat_on(lab, "mn1")
    # Roles are not in a dump: xCAT's role was made on the standby too (by hand, with its password);
    # its pg_hba.conf was never told about xCAT, and it listens on its own address only.
    lab.pg("mn2").psql(f"CREATE ROLE {XCAT_USER} LOGIN PASSWORD '{XCAT_PASSWORD}'")
    listen_only_on_own_address(lab, "mn2", "10.99.0.2")
    setup_dump_pair(lab, tmp_path / "setup")
    standby_dump = host_path(lab.dir, "mn2", f"{DUMPS}/hamn-dump.tar")
    older_dump = tmp_path / "older-dump.tar"
    older_dump.write_bytes(standby_dump.read_bytes())
    # A write that the next dump and copy carry (never restored by the schedule), and one after it.
    xcat_query("INSERT INTO site VALUES ('in-last-dump', 'x')")
    dump = in_mn(lab, "mn1", "sh", "-c", "grep -o ' cd .*' /etc/cron.d/hamn-pg-dump | sh")
    assert dump.returncode == 0, dump.stderr
    xcat_query("INSERT INTO site VALUES ('after-last-dump', 'lost')")
    lab.crash("mn1")

    r, run = run_runbook(lab, tmp_path / "failover", "pg-dump-failover", "--choose", "mode=unplanned", "--attest", "attest-primary-fenced",
                         "--yes", "--confirm", "take-service-ip=mn2")
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr
    assert_audit_valid(run)
    assert netns.holds_service_ip("mn2")
    assert not cron(lab, "mn2", "hamn-pg-restore").exists()
    assert any("restored hamn-dump.tar" in line for line in job_log(lab, "mn2")[-3:])
    # xcatd's connection works through the service IP (listen_addresses and pg_hba.conf were fixed).
    assert xcat_query("SELECT pg_is_in_recovery()") == [(False,)]
    assert sorted(k for (k,) in xcat_query("SELECT key FROM site")) == ["domain", "in-last-dump", "master"]
    xcat_query("INSERT INTO site VALUES ('after-failover', 'live')")

    # The old primary's straggling copy lands (or any older dump is there): the job run by hand
    # on the new primary must not restore it.
    standby_dump.write_bytes(older_dump.read_bytes())
    before = lab.pg("mn2").psql("SELECT string_agg(key, ',' ORDER BY key) FROM site", db="xcatdb")
    job = in_mn(lab, "mn2", JOB)
    assert job.returncode == 3, job.stdout + job.stderr
    assert f"refused: this node holds the service IP {SERVICE_IP}" in job.stderr
    assert "REFUSED" in job_log(lab, "mn2")[-1] and "service IP" in job_log(lab, "mn2")[-1]
    assert lab.pg("mn2").psql("SELECT string_agg(key, ',' ORDER BY key) FROM site", db="xcatdb") == before
    assert "after-failover" in before

    # The old primary comes back fenced; the jobs are swapped: its dump job goes off, the new
    # primary dumps, the old primary restores (and gets the data written after the failover).
    lab.reboot_fenced("mn1")
    assert cron(lab, "mn1", "hamn-pg-dump").exists()
    lab.pg("mn1").start()
    setup_dump_pair(lab, tmp_path / "swap", primary="mn2", standby="mn1")
    assert not cron(lab, "mn1", "hamn-pg-dump").exists() and cron(lab, "mn1", "hamn-pg-restore").exists()
    assert cron(lab, "mn2", "hamn-pg-dump").exists() and not cron(lab, "mn2", "hamn-pg-restore").exists()
    assert lab.pg("mn1").psql("SELECT count(*) FROM site WHERE key = 'after-failover'", db="xcatdb") == "1"


def test_planned_dump_failover_loses_nothing_and_takes_both_jobs_off(lab, tmp_path):  # noqa: F811
    lab.reset("independent")
    setup_dump_pair(lab, tmp_path / "setup")
    lab.pg("mn1").psql("INSERT INTO site VALUES ('written-just-before', 'x')", db="xcatdb")
    r, run = run_runbook(lab, tmp_path / "failover", "pg-dump-failover", "--choose", "mode=planned", "--yes",
                         "--confirm", "take-service-ip=mn2", "--quiet-output")
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr
    assert_audit_valid(run)
    assert netns.holds_service_ip("mn2") and not netns.holds_service_ip("mn1")
    assert not cron(lab, "mn1", "hamn-pg-dump").exists() and not cron(lab, "mn2", "hamn-pg-restore").exists()
    with vip_connect("xcatdb") as conn, conn.cursor() as cur:
        cur.execute(f"SELECT {HOST}, count(*) FROM site WHERE key = 'written-just-before'")
        assert cur.fetchone() == ("mn2", 1)
    conn.close()


def test_pg_failover_lets_xcat_in_through_the_service_ip(lab, tmp_path):  # noqa: F811
    """A streaming pair whose standby has neither the service IP in listen_addresses nor a
    pg_hba.conf line for xCAT (the primary got it after the base backup): after pg-failover,
    xCAT's user connects through the service IP, and the changes are reversible."""
    lab.reset("pair")
    admit_xcat_on(lab, "mn1")
    listen_only_on_own_address(lab, "mn2", "10.99.0.2")
    assert xcat_query("SELECT count(*) FROM nodelist") == [(20,)]
    r, run = run_runbook(lab, tmp_path, "pg-failover", "--choose", "mode=planned", "--yes", "--confirm", "promote=mn2", "--quiet-output")
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr
    assert_audit_valid(run)
    assert netns.holds_service_ip("mn2")
    assert xcat_query("SELECT pg_is_in_recovery(), count(*) FROM nodelist") == [(False, 20)]
    data = lab.pg("mn2").data
    assert (data / "postgresql.auto.conf.hamn-listen-bak").exists()
    assert lab.pg("mn2").psql("SHOW listen_addresses") == f"localhost,10.99.0.2,{SERVICE_IP}"
    assert (data / "pg_hba.conf").read_text().splitlines()[0] == f"host xcatdb {XCAT_USER} 10.99.0.0/24 md5"
    assert (data / "pg_hba.conf.hamn-xcat-bak").read_text() == (data / "pg_hba.conf").read_text().split("\n", 1)[1]



def test_pg_failback_refuses_a_dump_pair_before_changing_anything(lab, tmp_path):  # noqa: F811
    """pg_rewind cannot join two independent servers, and the jobs would go on copying: on a
    pg_dump pair pg-failback stops at its gate, with the standby's server and jobs untouched."""
    lab.reset("independent")
    setup_dump_pair(lab, tmp_path / "setup")
    r, run = run_runbook(lab, tmp_path / "failback", "pg-failback", "--choose", "switch-back=stay", "--yes", "--confirm", "rewind=mn2")
    assert r.returncode == 1, r.stdout[-4000:] + r.stderr
    assert "run failed: gate-not-dump-pair" in r.stdout
    assert_audit_valid(run)
    assert lab.pg("mn2").postmaster_pid() is not None
    assert cron(lab, "mn2", "hamn-pg-restore").exists() and cron(lab, "mn1", "hamn-pg-dump").exists()
