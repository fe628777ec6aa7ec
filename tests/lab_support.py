"""The real two-node lab for tests (hamn_tui/lab, docs/lab.md): bring it up once per module,
run shipped runbooks headless against it, verify their audit logs, and prove it left nothing.

Tests import the fixture explicitly: `from .lab_support import lab  # noqa: F401`.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from hamn_tui.lab.errors import LabError
from hamn_tui.lab.lab import Lab
from hamn_tui.lab.topology import CONSOLE_LINK, NAMESPACES, SERVICE_IP

REPO = Path(__file__).resolve().parent.parent


def leftovers(lab_dir: Path) -> list[str]:
    """Everything of a lab still on the machine: namespaces, the console link, the safety route,
    processes started from the lab's directory (sshd configs, postgres data dirs)."""
    found = []
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    found += [f"namespace {n}" for n in NAMESPACES if n in ns]
    if Path(f"/sys/class/net/{CONSOLE_LINK}").exists():
        found.append(f"interface {CONSOLE_LINK}")
    if "10.99.0.0/16" in subprocess.run(["ip", "route", "show", "table", "all"], capture_output=True, text=True).stdout:
        found.append("route 10.99.0.0/16")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            netns = os.readlink(entry / "ns" / "net")
        except OSError:
            continue
        if str(lab_dir) in cmd or "/var/lib/postgresql/15/main" in cmd and netns != os.readlink("/proc/self/ns/net"):
            found.append(f"process {entry.name}: {cmd.strip()[:100]}")
    return found


@pytest.fixture(scope="module")
def lab():
    """A lab in its own directory for this module; down (and checked clean) at the end."""
    if os.geteuid() != 0:
        pytest.skip(f"the lab needs root (network namespaces); running as uid {os.geteuid()}")
    directory = Path(tempfile.mkdtemp(prefix="hamn-lab-test-"))
    lab_ = Lab(directory)
    try:
        lab_.up()
    except LabError as exc:
        pytest.skip(f"no lab here: {exc}")
    try:
        yield lab_
    finally:
        problems = lab_.down()
        assert not problems, problems
        left = leftovers(directory)
        assert not left, left


def hamn(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hamn_tui", *args], capture_output=True, text=True, timeout=timeout, cwd=REPO)


def run_runbook(lab_: Lab, audit_dir: Path, runbook: str, *answers: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """`hamn run RUNBOOK --headless` against the lab; returns the result and the run's audit directory."""
    r = hamn("run", runbook, "--headless", "--cluster", str(lab_.cluster_path), "--audit-dir", str(audit_dir), *answers)
    runs = sorted(audit_dir.glob(f"{runbook}-*"))
    assert runs, f"no audit log written: {r.stdout[-3000:]}{r.stderr[-2000:]}"
    return r, runs[-1]


def assert_audit_valid(run_dir: Path) -> str:
    v = hamn("audit", "verify", str(run_dir), timeout=60)
    last = v.stdout.strip().splitlines()[-1] if v.stdout.strip() else v.stderr
    assert v.returncode == 0 and last.startswith("VALID"), f"{run_dir}: {v.stdout}{v.stderr}"
    return last


def vip_connect(dbname: str = "postgres"):
    """A client of the service IP, as xcatd is: from the console, through the lab's switch."""
    import psycopg2

    return psycopg2.connect(host=SERVICE_IP, port=5432, user="postgres", dbname=dbname, connect_timeout=5)
