"""Witnesses on the lab (issue 15): `hamn run witness-setup` makes mn1, mn2 and the service node
sn1 witnesses for real (account, key, forced command, over the lab's sshd); a headless run whose
cluster file names mn2 and sn1 as witnesses ends fully witnessed and verifies against their
vkeys; undoing the setup (resume, choose undo, roll back) takes the access away again and
removes only what the setup made."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from hamn_tui.audit.witness.checkpoint import origin_for
from hamn_tui.audit.witness.client import SshTarget, holds
from hamn_tui.cluster.loader import load_cluster
from hamn_tui.lab import cluster_toml
from hamn_tui.lab.node import known_hosts_text
from hamn_tui.lab.proc import in_node
from hamn_tui.lab.topology import NODES, SERVICE_IP

from .lab_support import assert_audit_valid, hamn, lab  # noqa: F401

HAMN = Path(sys.executable).parent / "hamn"
"""The venv's hamn: the lab's nodes share this machine's files, so the witnesses run it too."""
ACCOUNT, DIR = "hamn-witness", "/var/lib/hamn-witness"
VKEY = re.compile(r"^(hamn-witness/(mn1|mn2|sn1)\+[0-9a-f]{8}\+[A-Za-z0-9+/=]+)$", re.M)

SMALL = """
[runbook]
id = "witnessed"
title = "A short run the lab's witnesses see"
version = "1"
databases = ["pg"]
summary = "Two read-only steps on the console."

[[steps]]
id = "look"
title = "look around"
run = "echo looked"
mutating = false

[[steps]]
id = "again"
title = "look again"
run = "echo looked again"
mutating = false
"""


def on_node(lab_, node: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(in_node(lab_.state.sshd_pids[node], argv), capture_output=True, text=True, timeout=30)


def setup_run(lab_, audit: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return hamn("run", "witness-setup", "--headless", "--cluster", str(lab_.cluster_path), "--audit-dir", str(audit), "--yes",
                *args, timeout=240)


def witness_cluster(lab_, tmp: Path, identity: Path, keys: Path) -> Path:
    cluster = tmp / "cluster.toml"
    cluster.write_text(lab_.cluster_path.read_text() + f'\n[witness]\nnodes = false\nhosts = ["mn2", "sn1"]\nidentity = "{identity}"\n'
                                                       f'keys = "{keys}"\ntimeout_s = 20\n')
    return cluster


def test_witness_setup_makes_the_lab_nodes_witnesses_and_its_undo_takes_the_access_away(lab, tmp_path):  # noqa: F811
    identity = tmp_path / "witness_client"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "hamn-witness-client", "-f", str(identity)], check=True)
    audit = tmp_path / "runs"

    r = setup_run(lab, audit, "--set", f"client_key={identity.with_suffix('.pub').read_text().strip()}", "--set", f"hamn={HAMN}")
    out = r.stdout + r.stderr
    assert r.returncode == 4, out  # waiting at the keep-or-undo choice: the setup itself is done
    assert "a choice: rerun with --choose keep=OPTION" in out, out
    vkeys = {m.group(2): m.group(1) for m in VKEY.finditer(r.stdout)}
    assert set(vkeys) == {"mn1", "mn2", "sn1"}, out
    assert len(set(vkeys.values())) == 3  # each node its own key: /var/lib is the node's own
    for node in NODES:
        line = on_node(lab, node, "cat", f"{DIR}/.ssh/authorized_keys").stdout
        assert line.startswith(f'restrict,command="{HAMN} witness serve --dir {DIR}" ssh-ed25519 '), (node, line)
    assert ACCOUNT not in Path("/etc/passwd").read_text() and not Path(DIR).exists()  # the machine's own files untouched

    keys = tmp_path / "witness_keys"
    keys.write_text(f"{vkeys['mn2']}\n{vkeys['sn1']}\n")
    cluster = witness_cluster(lab, tmp_path, identity, keys)
    book = tmp_path / "witnessed.toml"
    book.write_text(SMALL)
    w = hamn("run", str(book), "--headless", "--cluster", str(cluster), "--audit-dir", str(tmp_path / "witnessed"), timeout=120)
    assert w.returncode == 0, w.stdout + w.stderr
    assert "witnesses: fully witnessed" in w.stderr, w.stdout + w.stderr
    [seg] = (tmp_path / "witnessed").glob("witnessed-*/audit-000.jsonl")
    v = hamn("audit", "verify", str(seg.parent), "--witness-keys", str(keys), timeout=60)
    assert v.returncode == 0 and v.stdout.strip().endswith("fully witnessed"), v.stdout + v.stderr
    assert "hamn-witness/mn2" in v.stdout and "hamn-witness/sn1" in v.stdout, v.stdout
    origin = origin_for("hamn-lab", seg.parent.name, seg.name)
    target = SshTarget(NODES["mn2"], ACCOUNT, identity=identity, known_hosts=lab.dir / "known_hosts")
    before = holds(origin, target, timeout_s=20)
    assert before.ok and before.holds == len(seg.read_bytes().splitlines()), before.text  # it holds the whole run

    # root on the console rewrites one record of the run, then deletes the run: mn2's copy says so
    runs = tmp_path / "witnessed"
    ask = ("audit", "verify", str(runs), "--witness", "mn2", "--cluster", str(cluster), "--witness-keys", str(keys))
    v = hamn(*ask, timeout=60)
    assert v.returncode == 0 and v.stdout.strip().splitlines()[-1].startswith("VALID"), v.stdout + v.stderr
    original = seg.read_bytes()
    seg.write_bytes(original.replace(b"looked again", b"looked twice"))
    v = hamn(*ask, timeout=60)
    assert v.returncode == 1 and f"{seg.parent.name}/audit-000.jsonl: rewritten on the console: record" in v.stdout, v.stdout + v.stderr
    seg.write_bytes(original)
    kept = tmp_path / "kept"
    shutil.copytree(seg.parent, kept)
    shutil.rmtree(seg.parent)
    v = hamn(*ask, timeout=60)
    assert v.returncode == 1 and f"{seg.parent.name}/audit-000.jsonl: deleted on the console" in v.stdout, v.stdout + v.stderr
    shutil.copytree(kept, seg.parent)

    u = setup_run(lab, audit, "--resume", "--choose", "keep=undo")
    assert u.returncode == 0, u.stdout + u.stderr  # the operator chose undo: the run ends done, rolled back
    assert "rollback failed" not in u.stdout and "rolled back" in u.stdout, u.stdout
    after = holds(origin, target, timeout_s=20)
    assert not after.ok and "\n" not in after.text and "Permission denied" in after.text, after.text
    for node in NODES:
        assert on_node(lab, node, "getent", "passwd", ACCOUNT).returncode == 2, node  # the account is gone
        assert on_node(lab, node, "test", "-e", DIR).returncode == 1, node  # and its directory with the entry
    assert_audit_valid(next(audit.glob("witness-setup-*")))


def test_an_account_that_was_there_before_is_kept_by_the_undo(lab, tmp_path):  # noqa: F811
    """sn1 already has the account (home DIR, a file of its own); the setup adds the key and the
    entry there, and its undo removes those but keeps the account, its home and the file."""
    identity = tmp_path / "witness_client"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "hamn-witness-client", "-f", str(identity)], check=True)
    made = on_node(lab, "sn1", "sh", "-c", f"useradd --system --no-log-init --home-dir {DIR} --shell /bin/sh -p '*' {ACCOUNT} && "
                                          f"install -d -m 0700 -o {ACCOUNT} -g {ACCOUNT} {DIR} && echo mine > {DIR}/kept")
    assert made.returncode == 0, made.stderr
    audit = tmp_path / "runs"
    try:
        r = setup_run(lab, audit, "--set", f"client_key={identity.with_suffix('.pub').read_text().strip()}", "--set", f"hamn={HAMN}",
                      "--set", "on_primary=false", "--set", "on_standby=false")
        assert r.returncode == 4, r.stdout + r.stderr
        assert "account hamn-witness: existed, kept as it is" in r.stdout, r.stdout
        assert on_node(lab, "sn1", "test", "-s", f"{DIR}/.ssh/authorized_keys").returncode == 0
        assert on_node(lab, "mn2", "getent", "passwd", ACCOUNT).returncode == 2  # not chosen: untouched
        u = setup_run(lab, audit, "--resume", "--choose", "keep=undo")
        assert u.returncode == 0 and "rollback failed" not in u.stdout, u.stdout + u.stderr
        assert on_node(lab, "sn1", "getent", "passwd", ACCOUNT).returncode == 0  # kept
        assert on_node(lab, "sn1", "cat", f"{DIR}/kept").stdout == "mine\n"
        for gone in ("witness.key", ".ssh"):
            assert on_node(lab, "sn1", "test", "-e", f"{DIR}/{gone}").returncode == 1, gone
    finally:
        on_node(lab, "sn1", "sh", "-c", f"userdel {ACCOUNT}; rm -rf {DIR}")


def test_a_client_key_with_options_of_its_own_is_refused_before_anything_changes(lab, tmp_path):  # noqa: F811
    audit = tmp_path / "runs"
    r = setup_run(lab, audit, "--set", 'client_key=command="sh" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ5ZrjrsbydmHOLHJ+kpqIvBrKQ7EVSJkHHHrGMfffgz x',
                  "--set", f"hamn={HAMN}")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "client_key: starts with 'command=\"sh\"', not a key type" in r.stdout, r.stdout
    for node in NODES:
        assert on_node(lab, node, "getent", "passwd", ACCOUNT).returncode == 2, node
    shutil.rmtree(audit)


def test_the_lab_cluster_file_has_sn1_as_a_service_node_in_service_nodes(tmp_path):
    """Without root: the file `hamn lab up` writes loads, sn1 is its service node and the only
    member of service_nodes (what @service_nodes fans out to), and only mn1/mn2 answer for the
    service IP in the lab's known_hosts."""
    (tmp_path / "cluster.toml").write_text(cluster_toml.text(tmp_path))
    cluster = load_cluster(tmp_path / "cluster.toml")
    assert {n: (c.address, c.role) for n, c in cluster.nodes.items()} == {
        "mn1": ("10.99.0.1", "primary"), "mn2": ("10.99.0.2", "standby"), "sn1": ("10.99.0.3", "service")}
    assert cluster.groups == {"service_nodes": ["sn1"]}
    for node in NODES:
        (tmp_path / node).mkdir()
        (tmp_path / node / "host_ed25519.pub").write_text(f"ssh-ed25519 KEY-{node} hamn-lab-{node}\n")
    lines = known_hosts_text(tmp_path).splitlines()
    assert "10.99.0.3 ssh-ed25519 KEY-sn1" in lines and f"{SERVICE_IP} ssh-ed25519 KEY-sn1" not in lines
    assert f"{SERVICE_IP} ssh-ed25519 KEY-mn2" in lines
