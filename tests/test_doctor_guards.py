"""`hamn doctor` checks, before the outage, what a dangerous step will wait for (issue 15): the
approvers a four-eyes step needs, and every witness of a witnessed run (over a real sshd whose
forced command is `hamn witness serve`)."""
from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from hamn_tui.app.doctor_guards import check_approvers, check_witnesses, needs_approval
from hamn_tui.cluster.loader import load_cluster
from hamn_tui.runbook.library import shipped_runbooks
from hamn_tui.runbook.loader import load_runbook

from .approval_support import keygen, pub_line
from .conftest import REPO
from .test_witness_ssh import witness_host  # noqa: F401

EXAMPLE = (REPO / "examples" / "cluster.toml").read_text()


def _db2_books(cluster):
    good, _ = shipped_runbooks()
    return [load_runbook(p, cluster) for p, rb in good if "db2" in rb.runbook.databases]


def _cluster(tmp: Path, extra: str = ""):
    f = tmp / "c.toml"
    f.write_text(EXAMPLE + extra)
    return load_cluster(f)


def test_the_shipped_db2_runbooks_need_approvers_and_the_doctor_says_so(tmp_path):
    c = _cluster(tmp_path)
    books = _db2_books(c)
    assert {"failover-unplanned.takeover-force", "failover-unplanned.accept-loss", "event-primary-alone.start-by-force"} <= set(needs_approval(books))
    r = check_approvers(c, books)
    assert r is not None and r.verdict == "failed" and "names no approvers" in r.detail and "[approval] approvers" in r.fix


def test_one_approver_is_not_enough_and_two_are(tmp_path):
    keys = tmp_path / "keys"
    a, b = keygen(keys, "a"), keygen(keys, "b")
    approvers = tmp_path / "approvers"
    approvers.write_text(f'alice namespaces="hamn-approval@v1" {pub_line(a)}\nbob namespaces="hamn-audit-v1" {pub_line(b)}\n')
    c = _cluster(tmp_path, f'\n[approval]\napprovers = "{approvers}"\nspool = "{tmp_path / "spool"}"\n')
    (tmp_path / "spool").mkdir(mode=0o700)
    books = _db2_books(c)
    r = check_approvers(c, books)
    assert r.verdict == "failed" and "lets 1 key(s) approve" in r.detail  # bob's line is for the audit log's namespace only
    approvers.write_text(f'alice namespaces="hamn-approval@v1" {pub_line(a)}\nbob namespaces="hamn-approval@v1" {pub_line(b)}\n')
    r = check_approvers(c, books)
    assert r.verdict == "ok" and "2 approvers may sign" in r.detail
    (tmp_path / "spool").chmod(0o777)
    r = check_approvers(c, books)
    assert r.verdict == "failed" and "others may enter the spool" in r.detail


def test_no_runbook_needs_approval_no_check(tmp_path):
    c = _cluster(tmp_path)
    assert check_approvers(c, []) is None


def test_each_witness_is_asked_and_a_dead_or_wrong_one_is_named(tmp_path, witness_host):  # noqa: F811
    lab, wdir, target, vkey = witness_host
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = s.getsockname()[1]
    s.close()
    text = lab.cluster_toml(tmp_path / "c.toml").read_text()
    base = (f'\n[witness]\nnodes = false\nidentity = "{target.identity}"\nknown_hosts = "{lab.known_hosts}"\ntimeout_s = 5\n')
    good = load_cluster(_write(tmp_path / "good.toml", text + base + f'hosts = ["root@127.0.0.1:{lab.port}"]\n'))
    before = sorted((p.name, p.stat().st_size) for p in wdir.rglob("*") if p.is_file() and p.name != "lock")
    r = asyncio.run(check_witnesses(good))
    assert r is not None and r.verdict == "ok", r
    assert sorted((p.name, p.stat().st_size) for p in wdir.rglob("*") if p.is_file() and p.name != "lock") == before  # asking stores nothing
    bad = load_cluster(_write(tmp_path / "bad.toml", text + base + f'hosts = ["root@127.0.0.1:{lab.port}", "root@127.0.0.1:{dead}"]\n'))
    r = asyncio.run(check_witnesses(bad))
    assert r.verdict == "failed" and f"root@127.0.0.1:{dead}" in r.detail and "refused" in r.detail and "witness-setup" in r.fix
    wrong = load_cluster(_write(tmp_path / "wrong.toml", text + base.replace(str(lab.known_hosts), str(lab.wrong_known_hosts))
                                + f'hosts = ["root@127.0.0.1:{lab.port}"]\n'))
    r = asyncio.run(check_witnesses(wrong))
    assert r.verdict == "failed" and "Host key verification failed" in r.detail
    assert asyncio.run(check_witnesses(load_cluster(_write(tmp_path / "none.toml", text)))) is None


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
