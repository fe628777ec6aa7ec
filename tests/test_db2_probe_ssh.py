"""The DB2 probes over real SSH, as the instance owner, at DB2's boundary.

DB2 cannot run here, so `db2pd` and `db2` are the one stand-in: scripts in the instance
owner's ~/sqllib/bin (where a DB2 instance has them, put on PATH by ~/sqllib/db2profile from
the login profile) that print documented samples, one per call, in the order the test
queues them. Everything else — SSH, run-as, parsing, the gates — is the real code.
"""
from __future__ import annotations

import asyncio
import pwd
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from hamn_tui.cluster.loader import load_cluster
from hamn_tui.probes.db2.probe import db2_probes
from hamn_tui.runbook.context import RunContext, bind_roles
from hamn_tui.transport.local import LocalTransport
from hamn_tui.transport.router import Router
from hamn_tui.transport.ssh import SshTransport

from .sshd_fixture import TEST_USER, lab_dir, sshd  # noqa: F401

OURS = Path(__file__).resolve().parent / "fixtures_db2"
FAKE = """#!/bin/sh
# stand-in for DB2's {tool}: prints the next queued sample
next=$(ls "{queue}" | head -n 1)
[ -n "$next" ] || {{ echo "{tool}: no sample queued" >&2; exit 9; }}
cat "{queue}/$next"; rm -f "{queue}/$next"
"""


@pytest.fixture
def db2_instance(sshd):  # noqa: F811
    home = Path(pwd.getpwnam(TEST_USER).pw_dir)
    queue = lab_dir()
    sqllib = home / "sqllib"
    profile = home / ".profile"
    saved = profile.read_text() if profile.exists() else None
    (sqllib / "bin").mkdir(parents=True, exist_ok=True)
    for tool in ("db2pd", "db2"):
        script = sqllib / "bin" / tool
        script.write_text(FAKE.format(tool=tool, queue=queue))
        script.chmod(0o755)
    (sqllib / "db2profile").write_text(f'export PATH="$HOME/sqllib/bin:$PATH"\nexport DB2INSTANCE={TEST_USER}\n')
    profile.write_text((saved or "") + "\n. \"$HOME/sqllib/db2profile\"\n")
    shutil.chown(sqllib, TEST_USER)
    n = [0]

    def enqueue(*texts: str) -> None:
        for t in texts:
            n[0] += 1
            (queue / f"{n[0]:04d}").write_text(t)
            (queue / f"{n[0]:04d}").chmod(0o666)

    queue.chmod(0o777)
    try:
        yield enqueue, queue
    finally:
        if saved is None:
            profile.unlink(missing_ok=True)
        else:
            profile.write_text(saved)
        shutil.rmtree(sqllib, ignore_errors=True)
        shutil.rmtree(queue, ignore_errors=True)


def cluster_for(sshd, tmp: Path):  # noqa: F811
    path = sshd.cluster_toml(tmp / "cluster.toml")
    text = path.read_text().replace('database = "pg"', 'database = "db2"').replace("[pg]\n", f'[db2]\ninstance = "{TEST_USER}"\ndatabase = "XCATDB"\npeer_window_s = 120\n')
    path.write_text(text)
    return load_cluster(path)


def window_open(sample: str, seconds: int) -> str:
    """The sample with its PEER_WINDOW_END moved to `seconds` from now (samples are from 2024), its printed
    date with it (the samples' clock is UTC): a date that disagrees with its epoch is no evidence."""
    end = int(time.time()) + seconds
    when = datetime.fromtimestamp(end, timezone.utc)
    return sample.replace("05/14/2024 03:10:30.000000 (1715656230)", f"{when:%m/%d/%Y %H:%M:%S}.000000 ({end})")


def read(cluster, probe: str, node: str, args=None, outcomes=None):
    async def go():
        transport = Router(LocalTransport(), SshTransport(cluster))
        ctx = RunContext({}, cluster, bind_roles(cluster), outcomes=dict(outcomes or {}))
        try:
            return await db2_probes(transport, cluster, ctx, reread_s=0.1).read(node, probe, args or {})
        finally:
            await transport.close()

    return asyncio.run(go())


def test_db2_hadr_reads_db2pd_as_the_instance_owner(sshd, db2_instance, tmp_path):  # noqa: F811
    enqueue, queue = db2_instance
    cluster = cluster_for(sshd, tmp_path)
    enqueue((OURS / "v115_standby_peer.txt").read_text())
    r = read(cluster, "db2.hadr", "mn2")
    assert r.error is None, r.error
    assert (r.fields["role"], r.fields["state"], r.fields["connect_status"], r.fields["syncmode"]) == ("STANDBY", "PEER", "CONNECTED", "NEARSYNC")
    assert list(queue.iterdir()) == []  # exactly one db2pd call


def test_not_activated_reads_as_unknown_role_never_standard(sshd, db2_instance, tmp_path):  # noqa: F811
    enqueue, _ = db2_instance
    enqueue((OURS / "08_db2pd_database_not_activated.txt").read_text())
    r = read(cluster_for(sshd, tmp_path), "db2.hadr", "mn2")
    assert r.fields == {"activated": False}


def test_takeover_reads_twice_then_the_partner_and_applies_the_gates(sshd, db2_instance, tmp_path):  # noqa: F811
    enqueue, queue = db2_instance
    cluster = cluster_for(sshd, tmp_path)
    standby = window_open((OURS / "v115_standby_disconnected_peer.txt").read_text(), 100)
    # this node twice, then the partner — which answers, so it is not "down": no forced takeover
    enqueue(standby, standby, (OURS / "03_db2pd_v105_primary_peer_single_standby.txt").read_text())
    r = read(cluster, "db2.takeover", "mn2")
    assert list(queue.iterdir()) == []
    assert (r.fields["graceful"], r.fields["peer_window_only"], r.fields["force"]) == ("refused", "refused", "refused")
    assert "the old primary is not confirmed down" in r.detail


def test_takeover_with_the_partner_gone_and_fencing_attested(sshd, db2_instance, tmp_path):  # noqa: F811
    from .sshd_fixture import free_port

    enqueue, _ = db2_instance
    cluster = cluster_for(sshd, tmp_path)
    path = tmp_path / "cluster.toml"
    path.write_text(path.read_text().replace(f"port = {sshd.port}", f"port = {free_port()}", 1))  # mn1 (primary) is gone
    cluster = load_cluster(path)
    standby = window_open((OURS / "v115_standby_disconnected_peer.txt").read_text(), 100)
    enqueue(standby, standby)
    r = read(cluster, "db2.takeover", "mn2", {"fenced_step": "attest-fenced"}, {"attest-fenced": "done"})
    assert (r.fields["graceful"], r.fields["peer_window_only"], r.fields["force"]) == ("refused", "allowed", "allowed")
    assert "s left in the peer window to take over" in r.detail
    enqueue(standby, standby)
    unattested = read(cluster, "db2.takeover", "mn2", {"fenced_step": "attest-fenced"}, {})
    assert unattested.fields["force"] == "refused" and "needs proof that the old primary is fenced" in unattested.detail
