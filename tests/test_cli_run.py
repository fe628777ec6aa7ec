"""`hamn run --headless` as a user types it, against the test sshd: exit codes, dry run, context."""
from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hamn_tui.engine.operator import ScriptedOperator
from hamn_tui.record.questions import Answer

from .sshd_fixture import lab_dir, sshd  # noqa: F401
from .test_engine_ssh import HEAD, book, runner_for

STEPS = """
[params.target]
type = "string"
description = "a value that must stay one word"
default = "a b; touch TMP/pwned"

[[steps]]
id = "prepare"
title = "prepare"
node = "primary"
run = "echo prepared >> TMP/log"
[steps.rollback]
run = "echo unprepared >> TMP/log"

[[steps]]
id = "look"
title = "read-only look"
node = "standby"
run = "echo looked >> TMP/log"
mutating = false

[[steps]]
id = "change"
title = "change as the instance owner"
node = "standby"
user = "hamntest"
run = "printf '%s\\n' {{ params.target }} >> TMP/log; FAIL"
confirm = "typed"
confirm_text = "{{ nodes.standby.hostname }}"
irreversible = false
[steps.rollback]
run = "echo undone-change >> TMP/log"
[[steps.require]]
node = "standby"
probe = "command"
args = { run = "echo PEER" }
field = "stdout"
matches = "PEER"
why = "only in PEER"
"""


@pytest.fixture
def shared(tmp_path):
    """A directory the run-as user can write to (pytest's own are private to root)."""
    d = lab_dir()
    yield d
    shutil.rmtree(d, ignore_errors=True)


def write(tmp: Path, fail: bool, shared: Path) -> Path:
    (shared / "log").touch()
    (shared / "log").chmod(0o666)
    text = HEAD.format(id="clirun") + textwrap.dedent(STEPS).replace("TMP", str(shared)).replace("FAIL", "false" if fail else "true")
    path = tmp / "clirun.toml"
    path.write_text(text)
    return path


def hamn(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hamn_tui", "run", *args], capture_output=True, text=True, timeout=60)


def test_exit_codes_and_headless_rollback(sshd, tmp_path, shared):  # noqa: F811
    rb = write(tmp_path, fail=True, shared=shared)
    cluster = sshd.cluster_toml(tmp_path / "cluster.toml")
    common = ["--headless", "--cluster", str(cluster), "--lock-dir", str(tmp_path)]

    waiting = hamn(str(rb), *common, "--yes", "--audit-dir", str(tmp_path / "a"))
    assert waiting.returncode == 4 and "--confirm change='mn2'" in waiting.stdout

    failed = hamn(str(rb), *common, "--yes", "--confirm", "change=mn2", "--audit-dir", str(tmp_path / "b"))
    assert failed.returncode == 1, failed.stdout
    assert "run failed: change: mn2: exit status 1 (expected 0)" in failed.stdout

    (shared / "log").write_text("")
    rolled = hamn(str(rb), *common, "--yes", "--confirm", "change=mn2", "--on-failure", "rollback", "--audit-dir", str(tmp_path / "c"))
    assert rolled.returncode == 1
    assert (shared / "log").read_text().split("\n") == ["prepared", "looked", "a b; touch " + str(shared) + "/pwned", "unprepared", ""]
    assert not (shared / "pwned").exists()


def test_dry_run_over_ssh_runs_only_read_only_steps(sshd, tmp_path, shared):  # noqa: F811
    rb = write(tmp_path, fail=False, shared=shared)
    cluster = sshd.cluster_toml(tmp_path / "cluster.toml")
    out = hamn(str(rb), "--headless", "--dry-run", "--cluster", str(cluster), "--audit-dir", str(tmp_path / "d"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert (shared / "log").read_text() == "looked\n"
    assert "dry run: would run on mn1: echo prepared >> " in out.stdout
    assert "DRY RUN" in out.stdout


def test_a_typed_confirmation_shows_command_node_user_and_gate_values(sshd, tmp_path, shared):  # noqa: F811
    from hamn_tui.cluster.loader import load_cluster

    write(tmp_path, fail=False, shared=shared)
    cluster = load_cluster(sshd.cluster_toml(tmp_path / "cluster.toml"))
    from hamn_tui.runbook.loader import load_runbook

    rb = load_runbook(tmp_path / "clirun.toml", cluster)
    events: list = []
    operator = ScriptedOperator(lambda q: Answer("run") if q.kind == "confirm" else Answer("abort"))
    runner, transport = runner_for(rb, cluster, operator, events)

    async def go():
        try:
            return await runner.run()
        finally:
            await transport.close()

    assert asyncio.run(go()) == "aborted"
    typed = [q for q in operator.asked if q.kind == "typed"][0]
    assert typed.expected_text == "mn2" and typed.node == "standby" and typed.user == "hamntest"
    assert typed.commands == (f"printf '%s\n' 'a b; touch {shared}/pwned' >> {shared}/log; true",)
    assert [(c.node, c.verdict, c.observed, c.why) for c in typed.checks] == [("mn2", "pass", "PEER\n", "only in PEER")]
