"""`hamn doctor` against a real sshd on loopback (tests/sshd_fixture.py): ready, then each problem
on its own turns the verdict to not ready with its own reason and what to do.

The "nodes" are this machine behind the test sshd; the PostgreSQL commands are executable
stand-ins in a [pg].bin_dir of the test's own (the doctor only asks whether they are there).
"""
from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from hamn_tui.app.doctor import (CLOCK_SKEW_MAX_S, Plan, _Nodes, check_audit_dir, diagnose, judge_clock, plan_for)
from hamn_tui.app.targets import ClusterTarget
from hamn_tui.cli import main
from hamn_tui.cluster.loader import load_cluster
from hamn_tui.runbook.library import shipped_runbooks
from hamn_tui.transport.local import LocalTransport
from hamn_tui.transport.router import Router
from hamn_tui.transport.ssh import SshTransport

from .sshd_fixture import TEST_USER, free_port, lab_dir, sshd  # noqa: F401

REPO = Path(__file__).resolve().parent.parent
AFTER_LOGIN = ("run_as", "binaries", "lock_dir", "clock")
CHECKS = ["cluster", "host_keys", "ssh_login", "run_as", "binaries", "lock_dir", "clock", "signing", "audit_dir"]
PG_TOOLS = sorted({m for f in (REPO / "runbooks").glob("pg-*.toml")
                   for m in re.findall(r"\{\{ cluster\.pg\.bin_dir \}\}/([a-z_]+)", f.read_text())})
"""What the shipped pg runbooks call from [pg].bin_dir (read here independently of the doctor)."""


@pytest.fixture
def pg_bin():
    """A [pg].bin_dir the run-as user can look into, with the commands the pg runbooks call."""
    d = lab_dir()
    for tool in PG_TOOLS:
        (d / tool).write_text("#!/bin/sh\nexit 0\n")
        (d / tool).chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


class Setup:
    """A cluster file for the test sshd, and the flags `hamn doctor` gets; each test breaks one thing."""

    def __init__(self, sshd, tmp: Path, bin_dir: Path):  # noqa: F811
        self.sshd = sshd
        self.tmp = tmp
        self.ports = {"mn1": sshd.port, "mn2": sshd.port}
        self.os_user = TEST_USER
        self.bin_dir = str(bin_dir)
        self.identity = str(sshd.client_key)
        self.known_hosts = str(sshd.known_hosts)
        self.signing: str | None = str(sshd.client_key)
        self.timeout = 5
        self.lock_dir = tmp / "locks"
        self.lock_dir.mkdir()
        self.audit_dir = tmp / "runs"
        self.path = tmp / "cluster.toml"

    def write(self) -> Path:
        roles = {"mn1": "primary", "mn2": "standby"}
        text = '[cluster]\nname = "doc"\ndatabase = "pg"\n\n'
        for name, port in self.ports.items():
            text += (f'[nodes.{name}]\naddress = "127.0.0.1"\nhostname = "{name}"\nrole = "{roles[name]}"\nport = {port}\n'
                     'ssh_user = "root"\nrun_as = "runuser"\n\n')
        text += f'[pg]\nos_user = "{self.os_user}"\nbin_dir = "{self.bin_dir}"\n\n'
        text += f'[ssh]\nknown_hosts = "{self.known_hosts}"\nidentity = "{self.identity}"\nconnect_timeout_s = {self.timeout}\n\n'
        if self.signing:
            text += f'[signing]\nkey = "{self.signing}"\n'
        self.path.write_text(text)
        return self.path

    def flags(self) -> list[str]:
        return ["--cluster", str(self.write()), "--audit-dir", str(self.audit_dir), "--lock-dir", str(self.lock_dir)]

    def cli(self, *extra: str):
        result = CliRunner().invoke(main, ["doctor", *self.flags(), *extra])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        return result

    def json(self) -> dict:
        result = self.cli("--json")
        report = json.loads(result.stdout)
        assert result.exit_code == (0 if report["ready"] else 1)
        return report

    def report(self, **kw):
        self.write()
        return asyncio.run(diagnose(ClusterTarget(self.path), audit_dir=self.audit_dir, lock_dir=str(self.lock_dir), **kw))


def checks_of(report: dict) -> dict[str, dict]:
    return {c["id"]: c for c in report["checks"]}


def only_problem(report: dict, check_id: str, verdict: str = "failed") -> dict:
    """The report is not ready because of this one check, which says why and what to do."""
    checks = checks_of(report)
    assert not report["ready"]
    bad = {cid: c["verdict"] for cid, c in checks.items() if c["verdict"] != "ok"}
    assert bad == {check_id: verdict}, json.dumps(report, indent=1)
    assert checks[check_id]["detail"] and checks[check_id]["fix"]
    return checks[check_id]


@pytest.fixture
def setup(sshd, tmp_path, pg_bin):  # noqa: F811
    return Setup(sshd, tmp_path, pg_bin)


# --- ready ---------------------------------------------------------------------------------------
def test_all_ready_exits_0_with_one_line_per_check(setup):
    result = setup.cli()
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[-1] == "ready"
    assert [line.split()[0] for line in lines[:-1]] == ["ok"] * len(CHECKS)  # plain words: stdout is no tty
    assert {"psql", "pg_ctl", "pg_basebackup"} <= set(PG_TOOLS)
    assert "runbook users: mn1, mn2: hamntest" in result.stdout
    assert f"database commands: mn1, mn2: psql, pg_ctl, " in result.stdout and f"as {TEST_USER}" in result.stdout


def test_json_has_the_same_verdicts_as_the_text(setup):
    report = setup.json()
    assert report["ready"] is True and report["problems"] == 0
    assert [c["id"] for c in report["checks"]] == CHECKS
    assert all(c["verdict"] == "ok" and c["fix"] == "" for c in report["checks"])
    setup.lock_dir.rmdir()
    broken = setup.json()
    text = setup.cli().stdout.splitlines()
    words = {"ok": "ok", "failed": "FAILED", "unknown": "UNKNOWN"}
    assert [words[c["verdict"]] for c in broken["checks"]] == [l.split()[0] for l in text if not l.startswith(" ")][:-1]
    assert text[-1] == "not ready: 1 problems" and broken["problems"] == 1


# --- one problem at a time ---------------------------------------------------------------------------
def test_a_node_missing_from_known_hosts_is_a_host_key_failure_and_no_login_is_tried(setup):
    other = setup.tmp / "known_hosts"
    other.write_text(f"[127.0.0.1]:{setup.sshd.port + 1} " + " ".join(Path(f"{setup.sshd.host_key}.pub").read_text().split()[:2]) + "\n")
    setup.known_hosts = str(other)
    report = setup.json()
    checks = checks_of(report)
    assert checks["host_keys"]["verdict"] == "failed"
    assert f"has no key for [127.0.0.1]:{setup.sshd.port}" in checks["host_keys"]["detail"]
    assert "ssh-keygen -lf" in checks["host_keys"]["fix"] and str(other) in checks["host_keys"]["fix"]
    assert checks["ssh_login"]["verdict"] == "unknown" and "host key" in checks["ssh_login"]["detail"]


def test_a_host_key_that_does_not_match_names_what_the_node_presented(setup):
    setup.known_hosts = str(setup.sshd.wrong_known_hosts)
    checks = checks_of(setup.json())
    assert checks["host_keys"]["verdict"] == "failed"
    assert "does not match" in checks["host_keys"]["detail"] and "it presented ssh-ed25519 SHA256:" in checks["host_keys"]["detail"]
    assert "ssh-keygen -R" in checks["host_keys"]["fix"]


def test_a_refused_login_fails_the_login_and_not_the_host_key(setup):
    other = setup.tmp / "stranger_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    setup.identity = str(other)
    report = setup.json()
    checks = checks_of(report)
    assert {c["id"]: c["verdict"] for c in report["checks"] if c["verdict"] != "ok"} == {
        "ssh_login": "failed", **{cid: "unknown" for cid in AFTER_LOGIN}}  # host keys ok: key exchange comes before login
    assert "authentication refused" in checks["ssh_login"]["detail"]
    assert "authorized_keys" in checks["ssh_login"]["fix"]
    for cid in AFTER_LOGIN:  # what needs a login is not called failed: it was not checked
        assert checks[cid]["detail"] == "mn1, mn2: not checked: no SSH login", cid


def test_a_runbook_user_missing_on_the_nodes(setup):
    setup.os_user = "hamn-nosuchuser"
    report = setup.json()
    checks = checks_of(report)
    assert checks["run_as"]["verdict"] == "failed"
    assert "mn1, mn2: cannot switch from root to hamn-nosuchuser (cluster.pg.os_user) with runuser" in checks["run_as"]["detail"]
    assert "correct cluster.pg.os_user in the cluster file" in checks["run_as"]["fix"]
    # its commands cannot be looked for as that user: unknown, not "missing"
    assert checks["binaries"]["verdict"] == "unknown"
    assert {c["id"] for c in report["checks"] if c["verdict"] != "ok"} == {"run_as", "binaries"}


def test_a_missing_database_command(setup):
    (Path(setup.bin_dir) / "pg_ctl").unlink()
    check = only_problem(setup.json(), "binaries")
    assert check["detail"] == f"mn1, mn2: {setup.bin_dir}/pg_ctl not executable"
    assert "[pg].bin_dir" in check["fix"]


def test_a_missing_lock_directory(setup):
    setup.lock_dir.rmdir()
    check = only_problem(setup.json(), "lock_dir")
    assert check["detail"] == f"mn1, mn2: the lock directory {setup.lock_dir} does not exist"
    assert check["fix"].startswith(f"mkdir -p {setup.lock_dir} on the node")


def test_an_audit_directory_that_cannot_be_written(setup):
    # sysfs takes no new files, not even from root: an honest unwritable directory
    setup.audit_dir = Path("/sys/kernel")
    check = only_problem(setup.json(), "audit_dir")
    assert check["detail"].startswith("/sys/kernel is not writable")
    setup.audit_dir = Path("/sys/kernel/hamn-runs")
    assert only_problem(setup.json(), "audit_dir")["detail"].startswith("/sys/kernel/hamn-runs cannot be made in /sys/kernel")


def test_an_audit_directory_that_is_a_file(setup):
    setup.audit_dir = setup.tmp / "runs-file"
    setup.audit_dir.write_text("not a directory\n")
    check = only_problem(setup.json(), "audit_dir")
    assert check["detail"] == f"{setup.audit_dir} is not a directory"


def test_audit_directory_room_is_judged_against_the_threshold(tmp_path):
    assert check_audit_dir(tmp_path).verdict == "ok"
    low = check_audit_dir(tmp_path, min_free=2**62)
    assert low.verdict == "failed" and "MiB free, fewer than" in low.detail and "free space" in low.fix


def test_no_signing_key_and_no_agent(setup, monkeypatch):
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    setup.signing = None
    check = only_problem(setup.json(), "signing")
    assert "no signing key" in check["detail"] and "installation key" in check["detail"]
    assert "[signing].key" in check["fix"] and "ssh-add" in check["fix"]
    # --key is what a run would sign with: it satisfies the check
    assert checks_of(json.loads(setup.cli("--json", "--key", str(setup.sshd.client_key)).stdout))["signing"]["verdict"] == "ok"


def test_a_node_whose_port_is_closed_is_unknown_not_failed(setup):
    setup.ports["mn2"] = dead = free_port()
    kh = setup.tmp / "known_hosts"  # the dead node's key is known: only its answer is missing
    kh.write_text(Path(setup.known_hosts).read_text() + Path(setup.known_hosts).read_text().replace(f":{setup.sshd.port} ", f":{dead} "))
    setup.known_hosts = str(kh)
    result = setup.cli("--json")
    report = json.loads(result.stdout)
    assert result.exit_code == 1
    checks = checks_of(report)
    for cid in ("host_keys", "ssh_login", "run_as", "binaries", "lock_dir", "clock"):
        assert checks[cid]["verdict"] == "unknown", cid
        mn2 = [f for f in checks[cid]["findings"] if f["subject"] == "mn2"]
        mn1 = [f for f in checks[cid]["findings"] if f["subject"] == "mn1"]
        assert mn2[0]["verdict"] == "unknown" and mn1[0]["verdict"] == "ok", cid  # the live node is still checked
    assert "Connection refused" in checks["ssh_login"]["detail"]


def test_a_node_that_never_answers_costs_the_connect_timeout_not_more(setup):
    """A listener that accepts and says nothing: SSH's handshake never completes."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        silent.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(silent.accept()[0])
            except OSError:
                pass

    threading.Thread(target=accept, daemon=True).start()
    try:
        port = silent.getsockname()[1]
        setup.ports["mn2"] = port
        setup.timeout = 2
        kh = setup.tmp / "known_hosts"
        kh.write_text(Path(setup.known_hosts).read_text() + Path(setup.known_hosts).read_text().replace(f":{setup.sshd.port} ", f":{port} "))
        setup.known_hosts = str(kh)
        start = time.monotonic()
        report = setup.report()
        took = time.monotonic() - start
    finally:
        stop.set()
        for s in held:
            s.close()
        silent.close()
    login = next(c for c in report.checks if c.id == "ssh_login")
    assert login.verdict == "unknown" and "no SSH connection within 2 s" in login.detail
    assert not report.ready
    assert next(c for c in report.checks if c.id == "clock").findings[0].verdict == "ok"  # mn1 was checked all the same
    assert took < setup.timeout + 4, took  # the connect timeout, plus the checks of the live node


def test_clock_skew_beyond_the_limit_fails(setup):
    report = setup.report(clock=lambda: time.time() - 3600)  # this console an hour slow: every node is an hour ahead
    clock = next(c for c in report.checks if c.id == "clock")
    assert clock.verdict == "failed"
    assert re.fullmatch(r"(mn1: 3600\.\d s ahead of this console \(at most 5 s\); mn2: 3600\.\d s|mn1, mn2: 3600\.\d s) "
                        r"ahead of this console \(at most 5 s\)", clock.detail), clock.detail
    assert [c.id for c in report.problems] == ["clock"]


def test_judge_clock_with_readings():
    assert judge_clock("mn1", 0.4).verdict == "ok"
    assert judge_clock("mn1", -CLOCK_SKEW_MAX_S).verdict == "ok"
    behind = judge_clock("mn2", -(CLOCK_SKEW_MAX_S + 0.5))
    assert behind.verdict == "failed" and "5.5 s behind this console" in behind.detail and "chrony" in behind.fix
    unread = judge_clock("mn2", None, "mn2: cannot connect")
    assert unread.verdict == "unknown" and "cannot connect" in unread.detail


# --- bad input ------------------------------------------------------------------------------------------
def test_a_cluster_file_that_does_not_validate_exits_2_with_file_line_and_field(setup):
    path = setup.write()
    path.write_text(path.read_text().replace("connect_timeout_s = 5", 'connect_timeout_s = "soon"'))
    result = CliRunner().invoke(main, ["doctor", "--cluster", str(path)])
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "\n" not in line and "Traceback" not in result.output
    assert line.startswith(f"{path}:") and "ssh.connect_timeout_s" in line
    assert int(line.split(":")[1]) == path.read_text().splitlines().index('connect_timeout_s = "soon"') + 1


def test_no_cluster_file_says_so_in_one_line(monkeypatch, tmp_path):
    from hamn_tui.settings import settings

    monkeypatch.delenv("HAMN_CLUSTER", raising=False)
    if settings().cluster_path is not None:
        pytest.skip(f"this machine has a system cluster file ({settings().cluster_path})")
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "no cluster file" in result.stderr
    missing = CliRunner().invoke(main, ["doctor", "--cluster", str(tmp_path / "nope.toml")])
    assert missing.exit_code == 2 and "nope.toml" in missing.stderr and "Traceback" not in missing.output


def test_a_runbook_that_does_not_validate_with_the_cluster_names_its_line(setup, monkeypatch, tmp_path):
    extra = tmp_path / "books"
    extra.mkdir()
    (extra / "fan-out.toml").write_text(
        '[runbook]\nid = "fan-out"\ntitle = "t"\nversion = "1"\ndatabases = ["pg"]\nsummary = "s"\n\n'
        '[[steps]]\nid = "each"\ntitle = "each rack"\nnode = "@racks"\nrun = "true"\nmutating = false\n')
    monkeypatch.setenv("HAMN_RUNBOOKS", str(extra))
    check = only_problem(setup.json(), "cluster")
    assert check["detail"].startswith(f"{extra}/fan-out.toml:11:") and 'unknown group "@racks"' in check["detail"]
    assert "hamn validate --cluster" in check["fix"]


# --- what is checked comes from the runbooks and the cluster file -----------------------------------------
def test_users_and_nodes_come_from_the_runbooks_and_the_cluster_file(tmp_path):
    good, _ = shipped_runbooks()
    text = (REPO / "examples" / "cluster.toml").read_text()
    db2 = load_cluster(REPO / "examples" / "cluster.toml")
    plan = plan_for(db2, [rb for _, rb in good if "db2" in rb.runbook.databases])
    assert plan.pair == ["mn1", "mn2"] and set(plan.nodes) == {"mn1", "mn2", "sn1", "sn2"}  # @service_nodes reached
    assert plan.users["mn1"]["xcatdb"] == "cluster.db2.instance" and "root" in plan.users["mn2"]
    assert plan.tools == {"xcatdb": ["db2", "db2pd"]}
    renamed = tmp_path / "cluster.toml"
    renamed.write_text(text.replace('instance = "xcatdb"', 'instance = "db2inst9"'))
    plan = plan_for(load_cluster(renamed), [rb for _, rb in good if "db2" in rb.runbook.databases])
    assert "db2inst9" in plan.users["mn2"] and "xcatdb" not in plan.users["mn2"] and plan.tools == {"db2inst9": ["db2", "db2pd"]}


def test_db2_commands_are_looked_for_on_the_instance_owners_path(setup):
    cluster = load_cluster(setup.write())
    plan = Plan(["mn1"], ["mn1"], {"mn1": {}}, {TEST_USER: ["sh", "db2pd"]})  # sh is on every PATH; db2pd is not here

    async def go():
        transport = Router(LocalTransport(), SshTransport(cluster))
        try:
            return await _Nodes(cluster, transport, plan, str(setup.lock_dir), time.time)._binaries("mn1")
        finally:
            await transport.close()

    found = asyncio.run(go())
    assert found.verdict == "failed" and found.detail == f"mn1: db2pd not on {TEST_USER}'s PATH (login environment)"
    assert "db2profile" in found.fix


# --- the home screen's line ---------------------------------------------------------------------------------
def _home_doctor_line(setup) -> tuple[str, bool, bool]:
    """Open the TUI on the cluster; return the doctor line once it has a verdict, whether the first
    status reading was on screen before the doctor started, and whether it was visible."""
    from hamn_tui.app.workspace import Workspace
    from hamn_tui.tui.launch import make_app
    from hamn_tui.tui.widgets.doctor_line import DoctorLine

    from .tui_support import run, wait_for

    async def go():
        app = make_app(Workspace(ClusterTarget(setup.write()), audit_dir=setup.audit_dir, lock_dir=str(setup.lock_dir)), poll_s=3600)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: type(app.screen).__name__ == "HomeScreen", what="home")
            line = app.screen.query_one("#doctor", DoctorLine)
            await wait_for(pilot, lambda: app.screen.doctor_started, what="the doctor started")
            read_first = app.snapshot_taken is not None or bool(app.status_error)
            await wait_for(pilot, lambda: line.report is not None, timeout=60, what="the doctor's verdict")
            return line.text, read_first, line.display

    return run(go())


def test_home_shows_ready_after_the_first_reading(setup):
    text, read_first, shown = _home_doctor_line(setup)
    assert text == f"ready · {len(CHECKS)} checks" and read_first and shown


def test_home_shows_the_first_problem_and_sends_to_hamn_doctor(setup):
    setup.lock_dir.rmdir()
    text, _, shown = _home_doctor_line(setup)
    assert shown
    assert text == f"not ready: lock directory: mn1, mn2: the lock directory {setup.lock_dir} does not exist — run hamn doctor"


def test_home_in_training_shows_no_doctor_line(tmp_path):
    from hamn_tui.tui.widgets.doctor_line import DoctorLine

    from .tui_support import run, training_app, wait_for

    async def go():
        app = training_app(tmp_path / "runs")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.snapshot is not None, what="a status reading")
            await pilot.pause(0.1)
            line = app.screen.query_one("#doctor", DoctorLine)
            return line.display, app.screen.doctor_started, line.text

    assert run(go()) == (False, False, "")


def test_on_a_terminal_each_check_gets_its_mark(capsys):
    from hamn_tui.app.doctor import CheckResult, Report
    from hamn_tui.cli.doctor import print_report

    report = Report("c.toml", (CheckResult("cluster", "cluster file and runbooks", "ok", "fine"),
                               CheckResult("lock_dir", "lock directory", "failed", "mn1: /var/lock missing\x1b[2J", "mkdir it"),
                               CheckResult("clock", "clocks agree", "unknown", "mn2: clock not read", "make it answer")))
    print_report(report, tty=True)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("✓ cluster file and runbooks — fine")
    assert lines[1] == "✗ lock directory — mn1: /var/lock missing" and lines[2].strip() == "→ mkdir it"  # escapes neutralised
    assert lines[3].startswith("? clocks agree") and lines[-1] == "not ready: 2 problems"


def test_the_home_line_leads_with_a_failure_before_an_unknown():
    from hamn_tui.app.doctor import CheckResult, Report

    report = Report("c.toml", (CheckResult("hostkeys", "SSH host keys known", "unknown", "mn1: no answer"),
                               CheckResult("lockdir", "lock directory", "failed", "mn2: /var/lock missing", "mkdir it")))
    assert report.line() == "not ready: lock directory: mn2: /var/lock missing (+1 more) — run hamn doctor"
    only_unknown = Report("c.toml", report.checks[:1])
    assert only_unknown.line().startswith("not ready: SSH host keys known: mn1: no answer")
