"""`hamn lab up | down | status` as an operator uses them: idempotent up, a clean down, the
status lines, and one-line refusals (not root, a missing program, a namespace in the way)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from hamn_tui.lab import LabNotUp, cluster_file
from hamn_tui.lab.postgres import NodePg

from .lab_support import REPO, hamn, leftovers

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason=f"the lab needs root (network namespaces); running as uid {os.geteuid()}")


def one_line_refusal(r: subprocess.CompletedProcess[str], *words: str) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert all(w in lines[0] for w in words), lines[0]
    return lines[0]


def test_status_of_a_lab_that_is_not_up(tmp_path):
    r = hamn("lab", "--dir", str(tmp_path / "lab"), "status")
    assert r.returncode == 3 and "lab down" in r.stdout
    with pytest.raises(LabNotUp, match="hamn lab up"):
        cluster_file(str(tmp_path / "lab"))


AS_NOBODY = """
import os, sys
import hamn_tui.cli, hamn_tui.cli.lab, hamn_tui.lab.lab, hamn_tui.lab.preflight  # loaded while still root:
import json, shutil, subprocess, pwd  # this Python may live under /root, which nobody cannot read
os.setgroups([]); os.setgid(65534); os.setuid(65534)
sys.argv = ["hamn", "lab", "--dir", sys.argv[1], "up"]
hamn_tui.cli.main()
"""


@needs_root
def test_up_refuses_without_root(tmp_path):
    """A process that really runs as nobody (uid 65534, no capabilities) gets one line, no traceback."""
    r = subprocess.run([sys.executable, "-c", AS_NOBODY, str(tmp_path / "lab")], capture_output=True, text=True, cwd=REPO)
    one_line_refusal(r, "needs root", "uid 65534")
    assert not (tmp_path / "lab").exists()


@needs_root
def test_up_refuses_without_iproute2(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    r = subprocess.run([sys.executable, "-m", "hamn_tui", "lab", "--dir", str(tmp_path / "lab"), "up"], capture_output=True, text=True,
                       cwd=REPO, env={**os.environ, "PATH": str(empty)})
    one_line_refusal(r, "ip is missing", "iproute2")


@needs_root
def test_up_refuses_when_a_namespace_is_in_the_way(tmp_path):
    if "mn1" in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split():
        pytest.skip("a namespace mn1 exists already (a lab is up?)")
    subprocess.run(["ip", "netns", "add", "mn1"], check=True)
    try:
        r = hamn("lab", "--dir", str(tmp_path / "lab"), "up")
        one_line_refusal(r, "mn1 already exists")
    finally:
        subprocess.run(["ip", "netns", "del", "mn1"], check=True)
    assert not leftovers(tmp_path / "lab"), leftovers(tmp_path / "lab")


@needs_root
def test_up_is_idempotent_status_tells_and_down_leaves_nothing(tmp_path):
    d = tmp_path / "lab"
    r = hamn("lab", "--dir", str(d), "up")
    if r.returncode != 0:
        pytest.skip(f"no lab here: {r.stderr.strip()}")
    try:
        assert r.stdout.strip() == f"lab up: {d / 'cluster.toml'}"
        assert cluster_file(str(d)) == d / "cluster.toml"
        v = hamn("validate", "--cluster", str(d / "cluster.toml"), *(str(p) for p in sorted((REPO / "runbooks").glob("pg-*.toml"))))
        assert v.returncode == 0, v.stdout + v.stderr

        s = hamn("lab", "--dir", str(d), "status")
        assert s.returncode == 0, s.stdout + s.stderr
        lines = s.stdout.splitlines()
        assert lines[0] == f"lab up: cluster file {d / 'cluster.toml'}"
        assert lines[1].split()[:2] == ["mn1", "10.99.0.1"] and "postgres primary" in lines[1] and lines[1].endswith("service IP")
        assert lines[2].split()[:2] == ["mn2", "10.99.0.2"] and "postgres standby" in lines[2] and "service IP" not in lines[2]
        before = json.loads(hamn("lab", "--dir", str(d), "status", "--json").stdout)
        postmaster = NodePg(d, "mn1", before["nodes"]["mn1"]["sshd_pid"]).postmaster_pid()

        again = hamn("lab", "--dir", str(d), "up")
        assert again.returncode == 0 and again.stdout.strip() == f"lab already up: {d / 'cluster.toml'}"
        after = json.loads(hamn("lab", "--dir", str(d), "status", "--json").stdout)
        assert after == before  # same sshd processes, same roles: nothing was redone
        assert NodePg(d, "mn1", after["nodes"]["mn1"]["sshd_pid"]).postmaster_pid() == postmaster
    finally:
        down = hamn("lab", "--dir", str(d), "down")
    assert down.returncode == 0 and down.stdout.strip() == "lab down: removed", down.stdout + down.stderr
    assert not leftovers(d), leftovers(d)
    assert not d.exists()
    assert hamn("lab", "--dir", str(d), "status").returncode == 3
    assert hamn("lab", "--dir", str(d), "down").stdout.strip() == "lab down: nothing to remove"
