"""The run screen's side of four eyes and the witness wait (issue 15): the dialog "waiting for a
second operator" with its code, withdrawn when the (simulated) second operator approves; the
unwitnessed dialog (typed PROCEED UNWITNESSED, the run then DEGRADED) and its withdrawal when a
witness cosigns meanwhile; and the review of the log showing both people and the degraded mark.
Training runs: the real engine, probes and audit writer over the simulator."""
from __future__ import annotations

import asyncio
from typing import Any, Collection

import pytest

from hamn_tui.app.approvals import TrainingDesk
from hamn_tui.app.targets import TrainingTarget
from hamn_tui.audit.verify import verify_path
from hamn_tui.engine.guards import UNWITNESSED_TEXT
from hamn_tui.tui.modals import ApprovalWaitModal, ChoiceModal, ConfirmModal, ReasonModal, TypedConfirmModal, UnwitnessedModal

from .tui_support import abort_run, log_dir, open_runbook, run, run_screen, screen_name, training_app, wait_for

MN2_PRIMARY = {"primary": "mn2", "standby": "mn1"}
FORCE = "db2 start hadr on database XCATDB as primary by force"


def _guards(monkeypatch: pytest.MonkeyPatch, *, witnesses: Any = None, desk_delay_s: float | None = None, desk: Any = None) -> None:
    """The training target's guards (what the Runner gets as `witnesses=` and `second_operator=`),
    replaced: a fake witness (None: the run is not witnessed) and a simulated colleague that
    answers after `desk_delay_s` real seconds (the shipped one takes TRAINING_APPROVAL_S)."""

    def guards(self: TrainingTarget, records: Any) -> dict[str, Any]:
        second = desk or (TrainingDesk(asyncio.sleep, delay_s=desk_delay_s) if desk_delay_s is not None else TrainingDesk(self.sim.sleep))
        return {"witnesses": witnesses, "second_operator": second}

    monkeypatch.setattr(TrainingTarget, "guards", guards)




async def _answer_until(pilot: Any, app: Any, stop: type | str | None = None, choices: dict[str, str] | None = None,
                        timeout: float = 60.0) -> Any:
    """Answer every dialog as an operator would (y, the typed text, the named choice; a
    second operator's wait closes by itself) until a `stop` dialog opens (returned), a question
    of kind `stop` waits in the decision bar, or — `stop` None — the run ends."""
    rs = run_screen(app)

    def bar_question() -> bool:
        return isinstance(stop, str) and rs.ctl.question is not None and rs.ctl.question.kind == stop

    for _ in range(200):
        await wait_for(pilot, lambda: screen_name(app).endswith("Modal") or rs.ctl.finished or bar_question(), timeout,
                       "a dialog or the end of the run")
        screen = app.screen
        if bar_question() or (isinstance(stop, type) and isinstance(screen, stop)):
            return screen
        if rs.ctl.finished:
            assert stop is None, f"the run ended ({rs.ctl.model.outcome}: {rs.ctl.model.reason}) before {stop}"
            return None
        if isinstance(screen, ChoiceModal):
            lst = screen.query_one("#choices")
            lst.highlighted = lst.get_option_index((choices or {})[rs.ctl.question.step_id])
            await pilot.press("enter")
        elif isinstance(screen, TypedConfirmModal):  # the unwitnessed dialog is one too
            await pilot.press(*screen.expected, "enter")
        elif isinstance(screen, ConfirmModal):
            await pilot.press("y")
        elif not isinstance(screen, ApprovalWaitModal):  # that one closes by itself
            raise AssertionError(f"unexpected dialog {screen_name(app)}")
        await wait_for(pilot, lambda: app.screen is not screen, timeout=30, what="the dialog closes")
    raise AssertionError(f"no {stop}")


async def _detail_of(pilot: Any, screen: Any, step_id: str) -> str:
    """Select a step in the list; the step detail as shown."""
    from hamn_tui.tui.widgets.step_list import StepList

    screen.query_one(StepList).select_step(step_id)
    await wait_for(pilot, lambda: screen.query_one(StepList).selected_id == step_id, what=f"{step_id} selected")
    await pilot.pause(0.05)
    return str(screen.query_one("#step-detail-text").render())






# --- (a) a second operator, simulated in training -------------------------------------------------------

def test_training_by_force_waits_for_a_second_operator_whose_approval_withdraws_the_dialog(tmp_path, monkeypatch):
    """event-primary-alone on primary-alone: after the typed BY FORCE the screen waits for a
    second operator with a code and what they run; the simulated colleague approves, the dialog
    closes by itself, the controller no longer holds the question and the start BY FORCE runs.
    The training target's own guards: the colleague takes real seconds, so the trainee sees the wait."""
    audit = tmp_path / "runs"

    async def go() -> None:
        app = training_app(audit, "primary-alone", open_runbook="event-primary-alone", roles=MN2_PRIMARY)
        async with app.run_test(size=(100, 32)) as pilot:
            await wait_for(pilot, lambda: screen_name(app) == "RunScreen", what="the run screen")
            await pilot.press("r")
            modal = await _answer_until(pilot, app, ApprovalWaitModal, {"how": "force"})
            rs = run_screen(app)
            q = rs.ctl.question
            assert q is not None and (q.kind, q.step_id) == ("approval", "start-by-force")
            body = str(modal.query_one("#approval-body").render())
            assert "WAITING FOR A SECOND OPERATOR" in body and q.expected_text in body and "hamn approve" in body
            assert "hamn approve --request FILE --out ANSWER" in body
            assert "WAITING FOR A SECOND OPERATOR" in str(rs.query_one("#decision").render())
            assert rs.ctl.model.steps["start-by-force"].commands == []  # nothing ran before the approval
            await wait_for(pilot, lambda: modal not in app.screen_stack, timeout=10, what="the dialog withdrawn by itself")
            assert not rs.ctl.waiting_on(q)  # the controller let go of it: a late answer is dropped
            assert rs.ctl.question is None or rs.ctl.question.kind != "approval"
            await wait_for(pilot, lambda: rs.ctl.model.steps["start-by-force"].commands, timeout=20, what="the start BY FORCE sent")
            assert rs.ctl.model.steps["start-by-force"].commands[0].command == FORCE
            await _answer_until(pilot, app)
            detail = await _detail_of(pilot, rs, "start-by-force")
            assert "approved by simulated second operator" in detail  # both people on the step
            assert f"requested by {rs.ctl.model.started['operator']} — code {q.expected_text}" in detail
            assert rs.ctl.model.outcome == "done", rs.ctl.model.reason

    run(go())
    recs = verify_path(log_dir(audit)).records
    types = [r["type"] for r in recs if r["data"].get("step_id") == "start-by-force"]
    assert "question_withdrawn" in types
    assert types.index("approval_requested") < types.index("question_withdrawn") < types.index("approval_decided") < types.index("command_sent")


def test_skip_from_the_waiting_dialog_asks_for_a_reason_and_withdraws_the_request(tmp_path, monkeypatch):
    """Nothing is typed on the waiting dialog; its Skip… asks why, and the request is recorded withdrawn."""
    _guards(monkeypatch, desk_delay_s=120.0)  # nobody answers in this test
    audit = tmp_path / "runs"

    async def go() -> None:
        app = training_app(audit, "primary-alone", open_runbook="event-primary-alone", roles=MN2_PRIMARY)
        async with app.run_test(size=(100, 32)) as pilot:
            await wait_for(pilot, lambda: screen_name(app) == "RunScreen", what="the run screen")
            await pilot.press("r")
            modal = await _answer_until(pilot, app, ApprovalWaitModal, {"how": "force"})
            assert not modal.query("Input")  # no text to type here
            await pilot.click("#skip")
            await wait_for(pilot, lambda: isinstance(app.screen, ReasonModal), what="the reason for skipping")
            await pilot.press(*"second operator unreachable", "enter")
            rs = run_screen(app)
            await wait_for(pilot, lambda: rs.ctl.model.steps["start-by-force"].status == "skipped", what="the step skipped")
            assert rs.ctl.model.steps["start-by-force"].commands == []
            await abort_run(pilot, app)

    run(go())
    recs = verify_path(log_dir(audit)).records
    decided = [(r["data"]["verdict"], r["data"]["reason"]) for r in recs if r["type"] == "approval_decided"]
    assert len(decided) == 1 and decided[0][0] == "withdrawn" and "second operator unreachable" in decided[0][1], decided
    assert not any(r["type"] == "command_sent" and r["data"]["step_id"] == "start-by-force" for r in recs)


class RefusingOnce(TrainingDesk):
    """A second operator whose first answer cannot count (their own request, say)."""

    def check(self, pending: Any, command: str, gates: list[dict[str, Any]]) -> Any:
        from hamn_tui.engine.guards import Decision

        if self.made == 1:
            return Decision("refused", "self-approval refused: the approver's key is the requester's own")
        return super().check(pending, command, gates)


def test_a_refused_approval_is_one_line_and_t_makes_a_new_request(tmp_path, monkeypatch):
    _guards(monkeypatch, desk=RefusingOnce(asyncio.sleep, delay_s=0.8))
    audit = tmp_path / "runs"

    async def go() -> None:
        app = training_app(audit, "primary-alone", open_runbook="event-primary-alone", roles=MN2_PRIMARY)
        async with app.run_test(size=(100, 32)) as pilot:
            await wait_for(pilot, lambda: screen_name(app) == "RunScreen", what="the run screen")
            await pilot.press("r")
            await _answer_until(pilot, app, "approval_refused", {"how": "force"})
            rs = run_screen(app)
            assert not screen_name(app).endswith("Modal")  # a failure: it waits in the decision bar for a key
            bar = str(rs.query_one("#decision").render())
            assert "APPROVAL REFUSED" in bar and "refused: self-approval refused: the approver's key is the requester's own" in bar
            assert "t new request" in bar and "s skip" in bar and "a abort" in bar
            assert rs.ctl.model.steps["start-by-force"].commands == []
            await pilot.press("t")
            await wait_for(pilot, lambda: rs.ctl.model.steps["start-by-force"].commands, timeout=20, what="approved on the new request")
            await _answer_until(pilot, app)

    run(go())
    recs = verify_path(log_dir(audit)).records
    assert [(r["data"]["request_id"], r["data"]["verdict"]) for r in recs if r["type"] == "approval_decided"] == [
        ("training-1", "refused"), ("training-2", "approved")]


# --- (b), (c) the witness wait ---------------------------------------------------------------------------

class FakeWitnesses:
    """The engine's `Witnesses` with no network: a witness that never cosigns (`after=None`) or
    cosigns `after` seconds into the wait."""

    grace_s = 1.0
    unattended_s = 0.0

    def __init__(self, after: float | None = None) -> None:
        self.after = after
        self.begun = 0

    def begin(self) -> int:
        self.begun += 1
        return 7

    async def cosigned(self, upto: int, exclude: Collection[str]) -> str:
        if self.after is None:
            await asyncio.Event().wait()  # never
        await asyncio.sleep(self.after or 0)
        return "witness.example"

    def status(self, upto: int, exclude: Collection[str]) -> str:
        return f"witness.example: asked, no cosignature of records 0–{upto - 1} yet"


def test_no_witness_typed_proceed_unwitnessed_runs_the_step_and_marks_the_run_degraded(tmp_path, monkeypatch):
    _guards(monkeypatch, witnesses=FakeWitnesses(after=None))
    audit = tmp_path / "runs"

    async def go() -> None:
        app = training_app(audit)
        async with app.run_test(size=(100, 32)) as pilot:
            await open_runbook(pilot, "failover-planned")
            await pilot.press("r")
            modal = await _answer_until(pilot, app, UnwitnessedModal)
            rs = run_screen(app)
            q = rs.ctl.question
            assert (q.kind, q.step_id, q.expected_text) == ("unwitnessed", "takeover", UNWITNESSED_TEXT)
            body = str(modal.query_one("VerticalScroll Static").render())
            assert "witness.example: asked, no cosignature of records 0–6 yet" in body  # q.detail
            assert "takeover hadr on database XCATDB" in body
            assert "NO WITNESS HAS COSIGNED" in str(rs.query_one("#decision").render())
            assert "DEGRADED" not in str(rs.query_one("#run-header").render())
            await pilot.press(*UNWITNESSED_TEXT.lower(), "enter")  # wrong case: refused
            await pilot.pause(0.05)
            assert app.screen is modal and "does not match" in str(modal.query_one("#error").render())
            assert modal.query_one("#go").disabled
            assert rs.ctl.waiting_on(q) and rs.ctl.model.steps["takeover"].commands == []
            for _ in UNWITNESSED_TEXT:
                await pilot.press("backspace")
            await pilot.press(*UNWITNESSED_TEXT, "enter")
            await wait_for(pilot, lambda: rs.ctl.model.steps["takeover"].commands, what="the takeover sent")
            header = rs.query_one("#run-header")
            await wait_for(pilot, lambda: "DEGRADED" in str(header.render()), what="DEGRADED in the header")
            assert header.has_class("-degraded") and rs.ctl.degraded
            await abort_run(pilot, app)
            detail = await _detail_of(pilot, rs, "takeover")
            assert "DEGRADED: ran without a witness's cosignature" in detail

    run(go())
    recs = verify_path(log_dir(audit)).records
    gate = [r["data"] for r in recs if r["type"] == "witness_gate"]
    assert [(g["step_id"], g["outcome"], g["records"]) for g in gate] == [("takeover", "unwitnessed", 7)]
    answers = [r["data"] for r in recs if r["type"] == "answered" and r["data"]["step_id"] == "takeover"]
    assert [(a["action"], a["text"]) for a in answers] == [("run", "XCATDB"), ("proceed_unwitnessed", UNWITNESSED_TEXT)]


def test_a_witness_cosigning_meanwhile_withdraws_the_unwitnessed_dialog(tmp_path, monkeypatch):
    _guards(monkeypatch, witnesses=FakeWitnesses(after=3.0))
    audit = tmp_path / "runs"

    async def go() -> None:
        app = training_app(audit)
        async with app.run_test(size=(100, 32)) as pilot:
            await open_runbook(pilot, "failover-planned")
            await pilot.press("r")
            modal = await _answer_until(pilot, app, UnwitnessedModal)
            rs = run_screen(app)
            q = rs.ctl.question
            assert q.kind == "unwitnessed" and rs.ctl.model.steps["takeover"].commands == []
            await pilot.press(*"PROCEED")  # half typed when the witness answers
            await wait_for(pilot, lambda: modal not in app.screen_stack, timeout=10, what="the dialog withdrawn by itself")
            assert not rs.ctl.waiting_on(q)
            await wait_for(pilot, lambda: rs.ctl.model.steps["takeover"].commands, what="the takeover sent")
            assert "DEGRADED" not in str(rs.query_one("#run-header").render()) and not rs.ctl.degraded
            await abort_run(pilot, app)
            detail = await _detail_of(pilot, rs, "takeover")
            assert "cosigned by witness.example (records 0–6) before it ran" in detail

    run(go())
    recs = verify_path(log_dir(audit)).records
    assert [(r["data"]["kind"], r["data"]["reason"]) for r in recs if r["type"] == "question_withdrawn"] == [("unwitnessed", "a witness cosigned")]
    assert [(r["data"]["outcome"], r["data"]["witness"]) for r in recs if r["type"] == "witness_gate"] == [("cosigned", "witness.example")]
    assert not any(r["type"] == "answered" and r["data"]["action"] == "proceed_unwitnessed" for r in recs)


# --- (d) review ------------------------------------------------------------------------------------------

def test_review_of_the_log_shows_both_people_and_the_degraded_mark(tmp_path, monkeypatch):
    """A BY FORCE run that went on unwitnessed (typed) and was approved by the simulated second
    operator; its review, from the log's records alone, shows who asked, who approved and DEGRADED."""
    _guards(monkeypatch, witnesses=FakeWitnesses(after=None), desk_delay_s=1.5)
    audit = tmp_path / "runs"
    operator = {}

    async def live() -> None:
        app = training_app(audit, "primary-alone", open_runbook="event-primary-alone", roles=MN2_PRIMARY)
        async with app.run_test(size=(100, 32)) as pilot:
            await wait_for(pilot, lambda: screen_name(app) == "RunScreen", what="the run screen")
            await pilot.press("r")
            await _answer_until(pilot, app, None, {"how": "force"})
            rs = run_screen(app)
            assert rs.ctl.model.outcome == "done", rs.ctl.model.reason
            operator["name"] = rs.ctl.model.started["operator"]

    async def review() -> None:
        app = training_app(audit, "primary-alone", review=log_dir(audit))
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: screen_name(app) == "ReviewScreen" and app.screen.status, what="the review verified")
            rv = app.screen
            assert rv.status == "VALID"
            facts = str(rv.query_one("#facts").render())
            assert "DEGRADED" in facts and "start-by-force ran unwitnessed" in facts
            detail = await _detail_of(pilot, rv, "start-by-force")
            assert f"requested by {operator['name']} — code " in detail
            assert "approved by simulated second operator" in detail
            assert "DEGRADED: ran without a witness's cosignature" in detail

    run(live())
    run(review())


# --- the controller's bookkeeping, without a screen ----------------------------------------------------

def test_the_controller_lets_go_of_a_withdrawn_question_and_of_one_withdrawn_before_it_was_seen(tmp_path):
    from hamn_tui.app.controller import RunController
    from hamn_tui.app.targets import TrainingTarget
    from hamn_tui.app.workspace import Workspace
    from hamn_tui.record.events import QuestionWithdrawn
    from hamn_tui.record.questions import Answer, Question

    async def go() -> None:
        ctl = RunController(Workspace(TrainingTarget.scenario("healthy"), audit_dir=tmp_path), "failover-planned")
        loop = asyncio.get_running_loop()
        q = Question("approval", "takeover", "Take over", expected_text="123 456")
        future: asyncio.Future[Answer] = loop.create_future()
        assert ctl.ask(q, future) and ctl.waiting_on(q)
        ctl.apply(QuestionWithdrawn("takeover", "unwitnessed", "a witness cosigned"))  # another kind: not this one
        assert ctl.waiting_on(q)
        ctl.apply(QuestionWithdrawn("takeover", "approval", "the second operator answered"))
        assert not ctl.waiting_on(q) and ctl.question is None and ctl.future is None
        late: asyncio.Future[Answer] = loop.create_future()
        late.cancel()  # the engine withdrew it before the screen saw the question
        assert not ctl.ask(Question("unwitnessed", "takeover", "Take over"), late) and ctl.question is None

    asyncio.run(go())


def test_the_nodes_status_goes_on_being_read_while_waiting_for_a_second_operator(tmp_path, monkeypatch):
    """The wait may last ten minutes: unlike a dialog where the operator decides, it does not
    freeze the status (is the old primary back?)."""
    _guards(monkeypatch, desk_delay_s=120.0)  # nobody answers in this test
    audit = tmp_path / "runs"

    async def go() -> None:
        app = training_app(audit, "primary-alone", open_runbook="event-primary-alone", roles=MN2_PRIMARY)
        async with app.run_test(size=(100, 32)) as pilot:
            await wait_for(pilot, lambda: screen_name(app) == "RunScreen", what="the run screen")
            await pilot.press("r")
            modal = await _answer_until(pilot, app, ApprovalWaitModal, {"how": "force"})
            await wait_for(pilot, lambda: app.snapshot_taken, what="a first reading")
            first = app.snapshot_taken
            await wait_for(pilot, lambda: app.snapshot_taken > first and app.screen is modal, timeout=3 * app.poll_s + 10,
                           what="a new reading while the dialog is open")
            await abort_run(pilot, app)

    run(go())
