"""`hamn run --headless` can neither loop nor lie: a bad flag is refused before anything runs,
retries are capped, a dry run says which gates would stop the real run, and two runs started
at the same moment on one audit directory never both run."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hamn_tui.app.runs import read_run
from hamn_tui.engine.operator import AutoOperator, ScriptedOperator
from hamn_tui.engine.runner import Runner
from hamn_tui.inputs.toml_file import parse_toml_text
from hamn_tui.probes.host import host_probes
from hamn_tui.record.events import CommandSent, Event
from hamn_tui.record.questions import Answer
from hamn_tui.runbook.context import RunContext, resolve_params
from hamn_tui.runbook.loader import runbook_from_document
from hamn_tui.transport.local import LocalTransport

PLANNED = ["failover-planned", "--headless"]
DONE = ["--yes", "--confirm", "takeover=XCATDB"]


def hamn(*args: str, timeout: float = 90, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hamn_tui", "run", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def one_line(out: subprocess.CompletedProcess) -> str:
    """A refusal is exactly one line on stderr, never a traceback."""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    return lines[0]


def runs_in(audit: Path) -> list[Path]:
    return sorted(d for d in audit.iterdir() if d.is_dir()) if audit.is_dir() else []


# --- 1. --training "" ---------------------------------------------------------------------------------
@pytest.mark.parametrize("scenario", ["", "healty"])
def test_an_empty_or_unknown_training_scenario_is_refused_not_run_live(tmp_path: Path, scenario: str):
    # a cluster file in the environment: `--training ""` used to fall through to it and run live
    out = hamn(*PLANNED, "--training", scenario, "--audit-dir", str(tmp_path / "a"), env={"HAMN_CLUSTER": str(tmp_path / "real.toml")})
    assert out.returncode == 2
    line = one_line(out)
    assert line.startswith(f"hamn run: no training scenario {scenario!r}; hamn train --list shows them: ")
    assert "healthy" in line and "split-brain" in line
    assert runs_in(tmp_path / "a") == [] and out.stdout == ""


# --- 2. retries are capped ------------------------------------------------------------------------------
RETRY_BOOK = """
[runbook]
id = "retry-me"
title = "an irreversible command that always fails"
version = "1"
databases = ["db2"]
summary = "s"

[[steps]]
id = "boom"
title = "boom"
run = "echo tried >> {d}/count; exit 1"
irreversible = true
confirm = "none"
"""


def test_answer_retry_is_used_for_at_most_three_retries_then_the_run_waits(tmp_path: Path):
    book = tmp_path / "retry-me.toml"
    book.write_text(RETRY_BOOK.format(d=tmp_path))
    try:
        out = hamn(str(book), "--headless", "--answer", "boom=retry", "--audit-dir", str(tmp_path / "a"), timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("--answer boom=retry re-ran the failing command without limit")
    assert out.returncode == 4, out.stdout + out.stderr
    assert (tmp_path / "count").read_text().split() == ["tried"] * 4  # the first try and three retries
    assert "--answer boom=retry was used for 3 retries" in " ".join(out.stdout.split())
    help_text = " ".join(hamn("--help").stdout.split())
    assert "at most 3 retries" in help_text


def test_the_runner_stops_any_operator_that_answers_retry_without_limit(tmp_path: Path):
    """A backstop under every operator: a scripted (or buggy) one answering retry forever makes the run wait."""
    from hamn_tui.engine import runner as engine_runner

    cap = getattr(engine_runner, "MAX_RETRIES", 50)  # without the cap the run below never ends: the timeout says so
    text = textwrap.dedent(RETRY_BOOK).format(d=tmp_path)
    rb = runbook_from_document(parse_toml_text(text, "retry-me.toml"), None, "retry-me")
    transport = LocalTransport()
    events: list[Event] = []

    def go(operator) -> str:
        runner = Runner(rb, RunContext(resolve_params(rb, {}, None)), transport, host_probes(transport, None), operator,
                        run_id="r", subscribers=[events.append])
        try:
            return asyncio.run(asyncio.wait_for(runner.run(), 30))
        except asyncio.TimeoutError:
            pytest.fail("the runner retried without limit")

    assert go(ScriptedOperator(lambda q: Answer("retry"))) == "waiting"
    assert sum(isinstance(e, CommandSent) for e in events) == 1 + cap
    # a person retrying by hand a few times is not stopped
    events.clear()
    script = [Answer("retry")] * 3 + [Answer("skip", reason="done by hand")]
    assert go(ScriptedOperator(script)) == "done"
    assert sum(isinstance(e, CommandSent) for e in events) == 4


def test_the_auto_operator_counts_retries_per_step():
    from hamn_tui.engine.operator import NoAnswer
    from hamn_tui.record.questions import Question

    op = AutoOperator(answers={"a": ("retry", ""), "b": ("retry", "")})
    q = Question("failed", "a", "a")

    async def ask(q: Question) -> Answer:
        return await op.ask(q)

    assert [asyncio.run(ask(q)).action for _ in range(3)] == ["retry"] * 3
    assert asyncio.run(ask(Question("failed", "b", "b"))).action == "retry"  # another step has its own three
    with pytest.raises(NoAnswer, match="--answer a=retry was used for 3 retries"):
        asyncio.run(ask(q))


# --- 3. a dry run says which gates would stop the real run -----------------------------------------------
def test_a_dry_run_whose_gates_fail_says_so_and_exits_5(tmp_path: Path):
    out = hamn(*PLANNED, "--training", "split-brain", "--dry-run", "--audit-dir", str(tmp_path / "a"))
    assert out.returncode == 5, out.stdout + out.stderr
    flat = " ".join(out.stdout.split())
    assert "run done" not in flat
    assert "dry run: the real run would stop at" in flat
    assert "gate-peer: a check did not pass" in flat
    help_text = " ".join(hamn("--help").stdout.split())
    assert "5 dry run: a gate or check would stop the real run" in help_text
    readme = " ".join((Path(__file__).resolve().parent.parent / "README.md").read_text().split())
    assert "5 dry run: a gate or check would stop the real run" in readme


def test_a_dry_run_whose_gates_pass_still_exits_0(tmp_path: Path):
    out = hamn(*PLANNED, "--training", "healthy", "--dry-run", "--audit-dir", str(tmp_path / "a"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "would stop" not in out.stdout and "run done" in out.stdout


# --- 4. flags that cannot be right are refused before anything runs ----------------------------------------
BIG = "9" * 5000
REFUSED = [
    (["--confirm", "takover=XCATDB"], "--confirm takover: failover-planned has no step 'takover' (did you mean 'takeover'?)"),
    (["--choose", "nope=x"], "--choose nope: failover-planned has no step 'nope'"),
    (["--attest", "nope"], "--attest nope: failover-planned has no step 'nope'"),
    (["--answer", "nope=skip:why"], "--answer nope: failover-planned has no step 'nope'"),
    (["--answer", "takeover=retri"], "--answer takeover=retri: no action 'retri'"),
    (["--answer", "takeover=skip"], "--answer takeover=skip: skipping a step needs a reason"),
    (["--role", "primari=mn2"], "--role primari: no role 'primari'; roles: primary, standby"),
    (["--role", "primary=sn1"], "--role primary=sn1: sn1 is not a management node of cluster training; management nodes: mn1, mn2"),
    (["--confirm", "takeover=XCATDB", "--confirm", "takeover=xcatdb"], "--confirm takeover: given twice with different values"),
    (["--key", "/nonexistent/key"], "--key is not used with --training"),
]


@pytest.mark.parametrize("flags,message", REFUSED, ids=[" ".join(f)[:40] for f, _ in REFUSED])
def test_a_flag_that_cannot_be_right_is_refused_before_anything_runs(tmp_path: Path, flags: list[str], message: str):
    out = hamn(*PLANNED, "--training", "healthy", *DONE, "--audit-dir", str(tmp_path / "a"), *flags)
    assert out.returncode == 2, out.stdout + out.stderr
    assert message in one_line(out)
    assert runs_in(tmp_path / "a") == [] and out.stdout == ""


def test_an_empty_audit_dir_is_refused(tmp_path: Path):
    out = hamn(*PLANNED, "--training", "healthy", *DONE, "--audit-dir", "", env={"XDG_STATE_HOME": str(tmp_path / "state")})
    assert out.returncode == 2, out.stdout + out.stderr
    assert "--audit-dir ''" in one_line(out)
    assert not (tmp_path / "state").exists()  # not silently the default directory


def test_a_huge_integer_is_a_clear_usage_error(tmp_path: Path):
    out = hamn("failover-unplanned", "--headless", "--training", "healthy", "--set", f"old_primary_prefix={BIG}", "--audit-dir", str(tmp_path / "a"))
    assert out.returncode == 2, out.stdout + out.stderr
    line = one_line(out)
    assert "parameter 'old_primary_prefix'" in line and "5000 digits" in line and "sys." not in line and BIG not in line
    assert runs_in(tmp_path / "a") == []


def test_resume_needs_the_scenario_the_run_rehearsed(tmp_path: Path):
    audit = tmp_path / "a"
    first = hamn(*PLANNED, "--training", "healthy", "--audit-dir", str(audit))
    assert first.returncode == 4, first.stdout + first.stderr  # waits for --yes: resumable
    [run] = runs_in(audit)
    notes = [r["data"]["text"] for r in read_run(run).records if r["type"] == "note"]
    assert "training scenario: healthy" in notes  # the log says which scenario was rehearsed

    other = hamn(*PLANNED, "--training", "split-brain", "--resume", *DONE, "--audit-dir", str(audit))
    assert other.returncode == 2, other.stdout + other.stderr
    assert "rehearsed scenario 'healthy'" in one_line(other) and "--training healthy" in one_line(other)
    assert [p.name for p in sorted(run.glob("audit-*.jsonl"))] == ["audit-000.jsonl"]  # nothing was added

    same = hamn(*PLANNED, "--training", "healthy", "--resume", *DONE, "--audit-dir", str(audit))
    assert same.returncode == 0, same.stdout + same.stderr


# --- 5. two runs started at the same moment ---------------------------------------------------------------
LAUNCH = """
import os, runpy, sys, time
import hamn_tui.app.session, hamn_tui.audit.writer, hamn_tui.cli.headless, hamn_tui.cli.main, hamn_tui.cli.run, hamn_tui.sim.training
ready, go = sys.argv[1], sys.argv[2]
open(ready, "w").close()
deadline = time.monotonic() + 60
while not os.path.exists(go) and time.monotonic() < deadline:
    time.sleep(0.002)
sys.argv = ["hamn", *sys.argv[3:]]
runpy.run_module("hamn_tui", run_name="__main__", alter_sys=True)
"""


def test_two_runs_started_together_exactly_one_runs(tmp_path: Path):
    """Two real hamn processes (`python -m hamn_tui`'s own entry point), imports done, let go at
    one instant — so their starts truly coincide, however loaded the machine is."""
    args = ["run", *PLANNED, "--training", "healthy", *DONE]
    for round_ in range(3):
        audit, go = tmp_path / f"a{round_}", tmp_path / f"go{round_}"
        ready = [tmp_path / f"ready{round_}-{i}" for i in range(2)]
        procs = [subprocess.Popen([sys.executable, "-c", LAUNCH, str(r), str(go), *args, "--audit-dir", str(audit)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in ready]
        try:
            deadline = time.monotonic() + 60
            while not all(r.exists() for r in ready):
                assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "a launcher did not get ready"
                time.sleep(0.01)
            go.touch()
            results = [(p.wait(timeout=90), *p.communicate()) for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
        assert sorted(r[0] for r in results) == [0, 2], results  # 2: cannot start, as a resume of a live run (test_audit_crash)
        loser = next(r for r in results if r[0] == 2)
        lines = loser[2].strip().splitlines()
        assert len(lines) == 1 and "nothing was started" in lines[0] and " by " in lines[0] and " since " in lines[0], loser
        assert "still going on in another hamn process" in lines[0] or "started at the same moment" in lines[0], loser
        assert loser[1] == ""  # it printed no run: nothing ran
        assert len(runs_in(audit)) == 1 and len(list(audit.iterdir())) == 1  # one run, and no start lock left behind


def test_a_fifo_in_place_of_an_old_runs_segment_does_not_stall_a_new_run(tmp_path):
    """Looking for an unfinished run reads every run's last segment: a FIFO there (nobody writes
    it) used to block `hamn run` forever before anything started."""
    import os
    import subprocess
    import sys

    from .conftest import REPO

    audit = tmp_path / "runs"
    stale = audit / "failover-planned-20260101T000000Z-abcdef"
    stale.mkdir(parents=True)
    os.mkfifo(stale / "audit-000.jsonl")
    out = subprocess.run([sys.executable, "-m", "hamn_tui", "run", "failover-planned", "--training", "healthy", "--headless", "--yes",
                          "--confirm", "takeover=XCATDB", "--quiet-output", "--audit-dir", str(audit)],
                         capture_output=True, text=True, timeout=120, cwd=REPO, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr
    assert len([d for d in audit.iterdir() if d.is_dir()]) == 2  # the new run beside the untouched stale one
