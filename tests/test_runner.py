"""The runner's rules, with real commands through the local transport and a scripted operator."""
from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path
from typing import Callable

import pytest

from hamn_tui.record.events import ChecksEvaluated, CommandSent, Event, Note, QuestionAsked, StepFinished
from hamn_tui.app.runs import read_run
from hamn_tui.audit.writer import AuditWriter
from hamn_tui.engine.operator import AutoOperator, ScriptedOperator
from hamn_tui.record.questions import Answer, Question
from hamn_tui.engine.runner import Runner
from hamn_tui.probes.host import host_probes
from hamn_tui.runbook.context import RunContext, resolve_params
from hamn_tui.runbook.loader import runbook_from_document
from hamn_tui.inputs.toml_file import parse_toml_text
from hamn_tui.transport.local import LocalTransport

HEAD = """
[runbook]
id = "t"
title = "t"
version = "1"
databases = ["db2"]
summary = "s"
"""


def make(body: str, tmp: Path):
    text = HEAD + textwrap.dedent(body).replace("TMP", str(tmp))
    return runbook_from_document(parse_toml_text(text, "t.toml"), None, "t")


def run(rb, operator, tmp: Path, *, dry_run=False, sets=None, journal: AuditWriter | None = None):
    events: list[Event] = []
    transport = LocalTransport()
    ctx = RunContext(resolve_params(rb, sets or {}, None))
    subs: list[Callable[[Event], None]] = [events.append] + ([journal] if journal else [])
    runner = Runner(rb, ctx, transport, host_probes(transport, None), operator, run_id="r1", dry_run=dry_run, subscribers=subs)
    outcome = asyncio.run(runner.run())
    return outcome, events, runner


def finished(events) -> dict[str, str]:
    return {e.step_id: e.outcome for e in events if isinstance(e, StepFinished)}


def answer_all(**by_kind: Answer):
    return ScriptedOperator(lambda q: by_kind.get(q.kind) or by_kind["default"])


RUN = Answer("run")


ROLLBACK_BOOK = """
[[steps]]
id = "a"
title = "a"
run = "echo a >> TMP/did"
confirm = "none"
[steps.rollback]
run = "echo undo-a >> TMP/undo"

[[steps]]
id = "b"
title = "b (point of no return)"
run = "echo b >> TMP/did"
confirm = "none"
irreversible = true

[[steps]]
id = "c"
title = "c"
run = "echo c >> TMP/did"
confirm = "none"
[steps.rollback]
run = "echo undo-c >> TMP/undo && ROLLBACK_C"

[[steps]]
id = "d"
title = "d"
run = "echo d >> TMP/did"
confirm = "none"
[steps.rollback]
run = "echo undo-d >> TMP/undo"

[[steps]]
id = "e"
title = "e fails"
run = "exit 7"
confirm = "none"
[steps.rollback]
run = "echo undo-e >> TMP/undo"

[[always]]
id = "cleanup"
title = "always"
run = "echo always >> TMP/did"
irreversible = true
"""


def test_rollback_runs_in_reverse_down_to_the_last_irreversible_step(tmp_path):
    rb = make(ROLLBACK_BOOK.replace("ROLLBACK_C", "true"), tmp_path)
    outcome, events, _ = run(rb, answer_all(failed=Answer("rollback"), default=RUN), tmp_path)
    assert outcome == "failed"
    assert (tmp_path / "did").read_text().split() == ["a", "b", "c", "d", "always"]
    # e failed (never rolled back: it did not complete), d and c undone, b irreversible stops it
    assert (tmp_path / "undo").read_text().split() == ["undo-d", "undo-c"]
    assert any(isinstance(e, Note) and "rollback stops at b" in e.text for e in events)


def test_a_failing_rollback_is_reported_and_the_next_one_still_runs(tmp_path):
    rb = make(ROLLBACK_BOOK.replace("ROLLBACK_C", "false"), tmp_path)
    outcome, events, runner = run(rb, answer_all(failed=Answer("rollback"), default=RUN), tmp_path)
    report = [(e.step_id, e.ok) for e in events if type(e).__name__ == "RollbackFinished"]
    assert report == [("d", True), ("c", False)]
    assert runner.state.outcomes["d"] == "rolled_back" and runner.state.outcomes["c"] == "done"


def test_dry_run_runs_gates_and_read_only_steps_but_no_mutating_command(tmp_path):
    rb = make(f"""
    [[steps]]
    id = "look"
    title = "read-only"
    run = "echo looked > TMP/looked"
    mutating = false
    [[steps.require]]
    node = "local"
    probe = "command"
    args = {{ run = "touch TMP/gate-ran" }}
    field = "exit_status"
    equals = 0

    [[steps]]
    id = "change"
    title = "mutating"
    run = "touch TMP/changed"
    irreversible = true
    confirm = "typed"
    confirm_text = "X"
    """, tmp_path)
    operator = ScriptedOperator([])
    outcome, events, _ = run(rb, operator, tmp_path, dry_run=True)
    assert outcome == "done"
    assert (tmp_path / "looked").exists() and (tmp_path / "gate-ran").exists()
    assert not (tmp_path / "changed").exists()
    assert operator.asked == []  # a dry run asks no confirmation
    assert any(isinstance(e, Note) and f"would run on local: touch {tmp_path}/changed" in e.text for e in events)
    assert not any(isinstance(e, CommandSent) and "changed" in e.command for e in events)


def test_unknown_outcome_is_reprobed_and_left_to_the_operator(tmp_path):
    rb = make("""
    [[steps]]
    id = "slow"
    title = "times out"
    run = "touch TMP/started; sleep 30"
    timeout_s = 1
    confirm = "none"
    irreversible = true
    [[steps.verify]]
    node = "local"
    probe = "command"
    args = { run = "test -e TMP/started" }
    field = "exit_status"
    equals = 0
    """, tmp_path)
    operator = ScriptedOperator(lambda q: Answer("done", reason="started marker is there"))
    outcome, events, runner = run(rb, operator, tmp_path)
    [q] = operator.asked
    assert q.kind == "unknown" and "timeout" in q.detail
    assert [c.verdict for c in q.checks] == ["pass"]  # the re-probe's findings are shown
    assert any(isinstance(e, ChecksEvaluated) and e.phase == "reprobe" for e in events)
    assert runner.state.outcomes["slow"] == "done"
    assert finished(events)["slow"] == "done"
    assert "decided done by the operator: started marker is there" in [e.reason for e in events if isinstance(e, StepFinished)][0]


def test_unknown_outcome_headless_waits_for_an_answer(tmp_path):
    rb = make("""
    [[steps]]
    id = "slow"
    title = "times out"
    run = "sleep 30"
    timeout_s = 1
    confirm = "none"
    irreversible = true
    """, tmp_path)
    outcome, events, runner = run(rb, AutoOperator(yes=True), tmp_path)
    assert outcome == "waiting"
    assert "slow" not in runner.state.outcomes  # neither success nor failure was recorded


def test_skip_needs_a_reason_and_typed_confirmation_must_match(tmp_path):
    rb = make("""
    [[steps]]
    id = "one"
    title = "typed"
    run = "touch TMP/one"
    irreversible = true
    confirm = "typed"
    confirm_text = "XCATDB"

    [[steps]]
    id = "two"
    title = "skippable"
    run = "touch TMP/two"
    irreversible = true
    """, tmp_path)
    answers = [Answer("run", text="xcatdb"), Answer("run", text="XCATDB"), Answer("skip"), Answer("skip", reason="done by hand earlier")]
    operator = ScriptedOperator(answers)
    outcome, events, _ = run(rb, operator, tmp_path)
    refused = [e.text for e in events if isinstance(e, Note) and e.text.startswith("answer refused")]
    assert refused == ["answer refused: typed text does not match; type exactly: XCATDB", "answer refused: skipping a step needs a reason"]
    assert (tmp_path / "one").exists() and not (tmp_path / "two").exists()
    assert finished(events) == {"one": "done", "two": "skipped"}


def test_headless_typed_confirmation_needs_the_matching_flag(tmp_path):
    rb = make("""
    [[steps]]
    id = "force"
    title = "dangerous"
    run = "touch TMP/forced"
    irreversible = true
    confirm = "typed"
    confirm_text = "XCATDB DATA LOSS"
    """, tmp_path)
    assert run(rb, AutoOperator(yes=True), tmp_path)[0] == "waiting"
    assert run(rb, AutoOperator(yes=True, confirms={"force": "XCATDB"}), tmp_path)[0] == "waiting"  # wrong text is asked again → no answer
    assert not (tmp_path / "forced").exists()
    assert run(rb, AutoOperator(confirms={"force": "XCATDB DATA LOSS"}), tmp_path)[0] == "done"
    assert (tmp_path / "forced").exists()


def test_choices_failures_and_when_branches(tmp_path):
    rb = make("""
    [[steps]]
    id = "how"
    title = "how"
    kind = "choice"
    options = [ { id = "planned", label = "P" }, { id = "unplanned", label = "U" } ]

    [[steps]]
    id = "try"
    title = "may fail"
    run = "exit 3"
    mutating = false
    allow_failure = true

    [[steps]]
    id = "after-fail"
    title = "runs because try failed, and we are unplanned"
    when = [ { step = "try", equals = "failed" }, { choice = "how", equals = "unplanned" } ]
    run = "touch TMP/branch"
    mutating = false

    [[steps]]
    id = "planned-only"
    title = "planned only"
    when = { choice = "how", equals = "planned" }
    run = "touch TMP/planned"
    mutating = false
    """, tmp_path)
    operator = ScriptedOperator(lambda q: Answer("choose", choice="unplanned"))
    outcome, events, _ = run(rb, operator, tmp_path)
    assert outcome == "done"
    assert finished(events) == {"how": "done", "try": "failed", "after-fail": "done"}
    assert (tmp_path / "branch").exists() and not (tmp_path / "planned").exists()


def test_capture_expect_and_gate_refusal(tmp_path):
    rb = make("""
    [[steps]]
    id = "backup"
    title = "backup"
    run = "echo 'The timestamp for this backup image is : 20241124081500'"
    mutating = false
    capture = [ { name = "ts", regex = "image is : (\\\\d+)" } ]
    expect = { output = "timestamp", not_output = "SQL\\\\d{4}N" }

    [[steps]]
    id = "use"
    title = "use"
    run = "echo {{ captured.ts }} > TMP/ts"
    mutating = false

    [[steps]]
    id = "sqlerr"
    title = "DB2 reports an error with exit 0"
    run = "echo SQL1770N Takeover HADR cannot complete"
    mutating = false
    expect = { not_output = "SQL1770N" }
    """, tmp_path)
    operator = ScriptedOperator(lambda q: Answer("fail", reason="x"))
    outcome, events, _ = run(rb, operator, tmp_path)
    assert (tmp_path / "ts").read_text() == "20241124081500\n"
    assert outcome == "failed"
    assert [e.reason for e in events if isinstance(e, StepFinished) and e.step_id == "sqlerr"] == ["local: output matches /SQL1770N/"]


def test_a_failing_gate_stops_the_step_before_it_runs(tmp_path):
    rb = make("""
    [[steps]]
    id = "takeover"
    title = "guarded"
    run = "touch TMP/ran"
    irreversible = true
    confirm = "none"
    [[steps.require]]
    node = "local"
    probe = "command"
    args = { run = "echo DISCONNECTED_PEER" }
    field = "stdout"
    matches = "^PEER$"
    why = "graceful takeover needs PEER"
    """, tmp_path)
    operator = ScriptedOperator(lambda q: Answer("abort"))
    outcome, events, _ = run(rb, operator, tmp_path)
    assert outcome == "aborted"
    assert not (tmp_path / "ran").exists()
    [q] = operator.asked
    assert q.kind == "gate_failed"
    assert q.checks[0].verdict == "fail" and q.checks[0].observed == "DISCONNECTED_PEER\n" and q.checks[0].why == "graceful takeover needs PEER"


def test_always_section_runs_after_an_abort(tmp_path):
    rb = make(ROLLBACK_BOOK.replace("ROLLBACK_C", "true"), tmp_path)
    outcome, _, _ = run(rb, answer_all(failed=Answer("abort"), default=RUN), tmp_path)
    assert outcome == "aborted"
    assert (tmp_path / "did").read_text().split()[-1] == "always"


def test_command_sent_is_on_disk_before_the_command_runs(tmp_path):
    journal_file = tmp_path / "j.jsonl"
    rb = make(f"""
    [[steps]]
    id = "look"
    title = "the command reads the journal that announced it"
    run = "grep -c '\\"type\\":\\"command_sent\\"' {journal_file} > TMP/seen"
    mutating = false
    """, tmp_path)
    journal = AuditWriter(journal_file)
    run(rb, ScriptedOperator([]), tmp_path, journal=journal)
    journal.close()
    assert (tmp_path / "seen").read_text().strip() == "1"
    contents = read_run(journal_file)
    assert contents.finished == "done" and contents.state.outcomes == {"look": "done"}
    assert [r["seq"] for r in contents.records] == list(range(len(contents.records)))
    assert all(json.loads(line) for line in journal_file.read_text().splitlines())


def test_interrupt_cancels_the_running_command_and_stops_a_wait(tmp_path):
    """Runner.interrupt() (the TUI's abort while something runs): a running command is killed
    and its outcome is unknown (re-probed, the operator asked); a wait step stops polling and asks."""
    rb = make("""
    [[steps]]
    id = "slow"
    title = "long command"
    run = "touch TMP/started; sleep 30; touch TMP/finished"
    confirm = "none"
    irreversible = true
    [[steps]]
    id = "wait"
    title = "wait for a file that never comes"
    kind = "wait"
    interval_s = 1
    limit_s = 600
    [[steps.until]]
    node = "local"
    probe = "command"
    args = { run = "test -e TMP/never" }
    field = "exit_status"
    equals = 0
    """, tmp_path)
    transport = LocalTransport()
    asked: list[Question] = []

    async def answer(q: Question) -> Answer:
        asked.append(q)
        return Answer("done", reason="checked by hand") if q.kind == "unknown" else Answer("abort")

    class Op:
        async def ask(self, q: Question) -> Answer:
            return await answer(q)

    runner = Runner(rb, RunContext(resolve_params(rb, {}, None)), transport, host_probes(transport, None), Op(), run_id="r1")

    async def go():
        task = asyncio.create_task(runner.run())
        while not (tmp_path / "started").exists():
            await asyncio.sleep(0.02)
        assert runner.interrupt() is True
        while len(asked) < 1:
            await asyncio.sleep(0.02)
        await asyncio.sleep(1.5)  # the wait step polls
        runner.interrupt()
        return await asyncio.wait_for(task, 20)

    outcome = asyncio.run(asyncio.wait_for(go(), 30))
    assert outcome == "aborted"
    assert not (tmp_path / "finished").exists()  # the sleep was killed, not waited out
    assert [q.kind for q in asked] == ["unknown", "failed"]
    assert "cancelled" in asked[0].detail
    assert "interrupted by the operator" in asked[1].detail
