"""The run screen: the steps, the selected step's command and gates, live output, and the
decision the run is waiting for — a view of one `RunController` (app/controller.py), which
holds the run's state and decides what each key may do.

The runner is an App worker (popping this screen can never cancel a failover); it reaches this
screen only through `EngineEvent` / `QuestionPending` messages and hears back only `Answer`s.
Questions that approve an action open a modal whose default is No; questions after a failure
(failed, gate failed, outcome unknown, an approval that did not pass) wait in the decision bar
for a key — nothing is decided by a stray Enter. A wait the engine can end by itself (for a
witness's cosignature, for a second operator) has a dialog that closes at once when the engine
withdraws the question.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from ...app.controller import FAILURES, RunController
from ...record import events as ev
from ...record.fold import StepRow
from ...record.questions import Answer, Question
from ...textsafe import neutralise as safe, reflow
from ..bridge import EngineEvent, EventRelay, QuestionPending, RunEnded, TuiOperator
from ..commands import bindings
from ..modals import (ABORT, SKIP, ApprovalWaitModal, ChoiceModal, ConfirmModal, ReasonModal, TextModal, TypedConfirmModal,
                      UnwitnessedModal, approval_body)
from ..output_feed import OutputFeed
from ..widgets.fanout_progress import FanoutProgress
from ..widgets.output_pane import OutputPane, PaneKeys
from ..widgets.status_panel import StatusPanel
from ..widgets.step_detail import check_lines, describe
from ..widgets.step_detail import StepDetail
from ..widgets.step_list import StepList

if TYPE_CHECKING:
    from ..app import HamnApp

KEYS = {"retry": "t retry", "skip": "s skip", "rollback": "b roll back", "fail": "x stop as failed", "abort": "a abort",
        "done": "d it happened", "run": "r run", "attest": "r attest", "choose": "r choose", "continue": "r resume",
        "break_lock": "r break the lock", "proceed_unwitnessed": "r proceed unwitnessed"}
WHAT = {"failed": "FAILED", "gate_failed": "GATE FAILED", "unknown": "OUTCOME UNKNOWN", "lock_held": "LOCK HELD",
        "confirm": "CONFIRM", "typed": "TYPED CONFIRMATION", "manual": "DO THIS BY HAND", "choice": "CHOOSE",
        "resume": "RESUME?", "unwitnessed": "NO WITNESS HAS COSIGNED", "approval": "WAITING FOR A SECOND OPERATOR",
        "approval_refused": "APPROVAL REFUSED"}
"""The decision bar's name for each kind of question."""


def question_body(q: Question, roles: dict[str, str] | None = None) -> Text:
    """What the operator approves: the exact commands, where, as whom, and the gates right now.
    Every text neutralised: explanations and commands can hold values a command printed."""
    t = Text()
    node = (roles or {}).get(q.node, q.node)
    node = f"{node} ({q.node})" if node != q.node else node
    if q.explain:
        t.append(safe(reflow(q.explain)) + "\n\n", style="dim")
    if q.commands:
        where = f"on {node}" + (f" as {q.user}" if q.user else "")
        t.append(f"Will run {safe(where)}:\n", style="bold")
        for c in q.commands:
            t.append(f"  $ {safe(c)}\n", style="bold cyan")
    if q.checks:
        t.append("Gates, as read just now:\n", style="bold")
        t.append_text(check_lines(q.checks))
    if q.detail:
        t.append(f"\n{safe(q.detail)}\n", style="yellow")
    return t


class RunScreen(PaneKeys, Screen[None]):
    SCREEN_NAME = "run"
    BINDINGS = bindings("run")
    DEFAULT_CSS = """
    RunScreen #run-header { height: 1; background: $primary-background; text-style: bold; padding: 0 1; }
    RunScreen #run-header.-training { background: $secondary-background; }
    RunScreen #run-header.-degraded { background: $error; }
    RunScreen StatusPanel { height: auto; max-height: 4; border-bottom: solid $primary-darken-2; }
    RunScreen #run-body { height: 1fr; }
    RunScreen StepList { width: 32; max-width: 40%; border-right: solid $primary-darken-2; }
    RunScreen #run-right { width: 1fr; }
    RunScreen OutputPane { height: 1fr; }
    RunScreen #decision { height: auto; max-height: 4; padding: 0 1; background: $panel; }
    RunScreen #decision.-waiting { background: $warning-muted; text-style: bold; }
    RunScreen #decision.-failed { background: $error-muted; text-style: bold; }
    """

    def __init__(self, runbook_id: str, *, sets: dict[str, str] | None = None, roles: dict[str, str] | None = None,
                 dry_run: bool = False) -> None:
        super().__init__()
        self.runbook_id = runbook_id
        self.sets, self.roles, self.dry_run = sets, roles, dry_run
        self._ctl: RunController | None = None
        self._detail_due = False
        self._modals: list[tuple[Question, Screen[Any]]] = []
        """Dialogs open for a question: closed when the engine withdraws it."""

    @property
    def hamn(self) -> HamnApp:
        return cast("HamnApp", self.app)

    @property
    def ctl(self) -> RunController:
        assert self._ctl is not None, "the screen is not mounted"
        return self._ctl

    # --- layout ----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(id="run-header")
        yield StatusPanel(compact=True, id="run-status")
        with Horizontal(id="run-body"):
            yield StepList(id="steps")
            with Vertical(id="run-right"):
                yield StepDetail(id="detail")
                yield FanoutProgress(id="fanout")
                yield OutputPane(id="output")
        yield Static(id="decision")
        yield Footer()

    def on_mount(self) -> None:
        self._ctl = RunController(self.hamn.workspace, self.runbook_id, sets=self.sets, roles=self.roles, dry_run=self.dry_run)
        if self.hamn.is_training:
            self.query_one("#run-header").add_class("-training")
        self.ctl.load(self.hamn.live_roles())
        self.query_one(StepList).load(self.ctl.model)
        self.hamn.refresh_status_panels()
        self._show_selected()
        self._header()
        self._decision()
        self.set_interval(1.0, self._witness_tick)
        if not self.ctl.load_error:
            self._check_unfinished()

    def _witness_tick(self) -> None:
        """The seconds since the last cosignature go on while nothing else happens."""
        if self.ctl.witnessing():
            self._header()

    @work(thread=True, group="unfinished", exit_on_error=False, description="look for an unfinished run of this runbook")
    def _check_unfinished(self) -> None:
        found = self.ctl.find_unfinished()
        if found is not None:
            self.app.call_from_thread(self._found_unfinished, found)

    def _found_unfinished(self, found: Any) -> None:
        if self.ctl.offer_unfinished(found):
            self._decision()
            self._offer_resume()

    # --- header and decision bar ----------------------------------------------------------------
    def _roles_text(self) -> str:
        roles = self.ctl.roles_now
        if not roles:
            return ""
        source = self.ctl.roles_source(self.hamn.live_roles())
        return " · " + " ".join(f"{r}={n}" for r, n in sorted(roles.items()) if r in ("primary", "standby")) + f" ({source})"

    def _header(self) -> None:
        done, total = self.ctl.progress()
        rb = self.ctl.runbook
        title = f"{rb.runbook.id} v{rb.runbook.version} — {rb.runbook.title}" if rb else self.runbook_id
        mode = "TRAINING · " if self.hamn.is_training else ""
        if self.ctl.dry_run:
            mode += "DRY RUN · "
        witnessed = self.ctl.witnessing()
        witnessed = f" · {witnessed}" if witnessed else ""
        header = self.query_one("#run-header", Static)
        degraded = self.ctl.degraded
        header.set_class(bool(degraded), "-degraded")
        mode = "DEGRADED · " + mode if degraded else mode
        header.update(Text(safe(f"{mode}{title} · {done} of {total} steps{self._roles_text()}{witnessed}")))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys that cannot do anything now are shown dimmed in the footer (and do nothing)."""
        if self._ctl is None:
            return True
        return True if self.ctl.can(action) else None

    def _decision(self) -> None:
        self.refresh_bindings()
        bar = self.query_one("#decision", Static)
        bar.remove_class("-waiting", "-failed")
        c = self.ctl
        q = c.question
        if c.load_error:
            bar.add_class("-failed")
            bar.update(Text(safe(f"Cannot run: {c.load_error}")))
        elif c.start_error:
            bar.add_class("-failed")
            bar.update(Text(safe(f"Could not start: {c.start_error}\nr tries again · Esc: home")))
        elif c.starting:
            bar.update("Setting up the run: opening its audit log…")
        elif q is not None:
            bar.add_class("-failed" if q.kind in FAILURES else "-waiting")
            what = WHAT.get(q.kind, q.kind.upper())
            detail = f": {q.detail}" if q.detail else ""
            keys = ("r shows the code · " if q.kind == "approval" else "") + _keys(q)
            if q.kind == "approval_refused":  # the one line that says why, in full; the step is selected above
                keys = keys.replace("t retry", "t new request")
                what, detail = f"{what}:", q.detail
            bar.update(Text.assemble((f"WAITING FOR YOU — {what} ", "bold"),
                                     safe(f"{'' if q.kind == 'approval_refused' else q.title}{detail[:200]}") + "\n", keys))
        elif c.finished:
            outcome = c.model.outcome or "?"
            if outcome != "done":
                bar.add_class("-failed")
            reason = f" — {c.model.reason}" if c.model.reason else ""
            bar.update(Text(safe(f"Run {outcome}{reason}. {c.audit_line}\nEsc: home · v on home: review this run")))
        elif c.started:
            cur = c.model.steps.get(c.model.current or "")
            bar.update(Text(safe(f"Running: {cur.title if cur else '…'} — a interrupts/aborts · n adds a note")))
        elif c.unfinished is not None:
            bar.add_class("-waiting")
            bar.update("An unfinished run of this runbook exists: r resumes it · Esc: home")
        else:
            done, total = c.progress()
            bar.update(f"Nothing has run. r starts the run ({total} steps) · o: step docs · Esc: home")

    # --- selection -------------------------------------------------------------------------------
    @on(StepList.OptionHighlighted, "#steps")
    def _highlighted(self, event: StepList.OptionHighlighted) -> None:
        # moving off the running step stops following it; coming back resumes
        self.query_one(StepList).follow_running = event.option.id == self.ctl.model.current
        self._show_selected()

    def _show_selected(self) -> None:
        sid = self.query_one(StepList).selected_id
        row = self.ctl.model.steps.get(sid or "")
        self._show_row(row)
        if sid:
            self.query_one(OutputPane).show_step(sid)

    def _show_row(self, row: StepRow | None) -> None:
        self._detail_due = False
        self.query_one(StepDetail).show(row, str(self.ctl.model.started.get("operator", "")))
        self.query_one(FanoutProgress).show(row)

    def _detail_soon(self) -> None:
        """Redraw the selected step once the events already queued are folded: a group step over
        hundreds of nodes sends a burst of them, and one redraw per burst is enough."""
        if not self._detail_due:
            self._detail_due = True
            self.call_later(self._detail_now)

    def _detail_now(self) -> None:
        if self._detail_due:
            self._show_row(self.ctl.model.steps.get(self.query_one(StepList).selected_id or ""))

    # --- starting --------------------------------------------------------------------------------
    def _offer_resume(self) -> None:
        f = self.ctl.resume_facts()
        body = Text()
        body.append(safe(f"Run {f.run_id} by {f.operator} did not finish ({f.finished}).\n"))
        body.append(safe(f"{f.done} steps done. Log: {f.path}\n"))
        if f.in_flight:
            body.append(safe(f"Step {f.in_flight} was in progress"), style="bold")
            body.append("; its command was sent, so its outcome is UNKNOWN: you will be asked what happened.\n" if f.sent_in_flight
                        else "; nothing of it was sent.\n")
        body.append("Resuming continues that run in a new log segment; nothing already done runs again.")
        self.app.push_screen(ConfirmModal("Resume the unfinished run?", body, yes="Resume", no="Not now"),
                             lambda ok: self._start(resume=True) if ok else None)

    def action_run(self) -> None:
        c = self.ctl
        if c.load_error:
            self.notify(c.load_error, severity="error")
            return
        if not c.started:
            if c.unfinished is not None:
                self._offer_resume()
            else:
                self._start(resume=False)
            return
        if c.question is not None:
            self._ask_modal(c.question)
        elif c.finished:
            self.notify("this run has finished; open the runbook again from home for a new run")
        else:
            self.notify("the run is going on; it will ask when it needs you")

    def _start(self, resume: bool) -> None:
        if not self.ctl.begin():
            return
        self._decision()
        # the run's setup reads files, asks ssh-agent for a key, writes the log's first record:
        # off the event loop, so the screen answers keys meanwhile
        self.app.run_worker(self._start_and_drive(resume), group="run", exit_on_error=False, name=f"run {self.runbook_id}",
                            description="set up and drive the runbook's engine")

    async def _start_and_drive(self, resume: bool) -> None:
        feed = OutputFeed()
        operator = TuiOperator(self.post_message)
        if resume:
            operator.preset["resume"] = Answer("continue", reason="the operator chose Resume in the TUI")
        if not await self.ctl.start(operator, [EventRelay(self.post_message, feed)], resume=resume, live_roles=self.hamn.live_roles()):
            self._decision()
            self.notify(self.ctl.start_error, severity="error", timeout=15)
            return
        assert self.ctl.session is not None
        feed.secrets = self.ctl.session.secrets
        self.query_one(StepList).load(self.ctl.model)
        self.query_one(OutputPane).attach(feed)
        self.hamn.run_started(self)
        self._header()
        self._decision()
        outcome, error = await self.ctl.drive()
        self.post_message(RunEnded(outcome, error))

    # --- engine messages -------------------------------------------------------------------------
    @on(EngineEvent)
    def _event(self, message: EngineEvent) -> None:
        event = message.event
        held = self.ctl.question
        sid = self.ctl.apply(event)
        if isinstance(event, ev.QuestionWithdrawn) and held is not None and self.ctl.question is not held:
            self._close_modals(held)
            self.notify(safe(f"{event.reason or 'no longer needed'}: the question is withdrawn"), timeout=4, markup=False)
            self._decision()
        steps = self.query_one(StepList)
        model = self.ctl.model
        if sid is not None and sid in model.steps:
            steps.update_row(model.steps[sid])
            if isinstance(event, ev.StepStarted) and steps.follow_running:
                steps.select_step(sid)
            if steps.selected_id == sid:
                self._detail_soon()
        if isinstance(event, (ev.StepStarted, ev.StepFinished, ev.StepSkipped, ev.RunFinished, ev.WitnessGate)):
            self._header()
            self._decision()
        if isinstance(event, ev.LockEvent) and event.action == "held_by_other":
            h = event.holder
            self.notify(f"the cluster lock is held by {h.get('user')}@{h.get('host')} (run {h.get('run_id')}, since {h.get('since')})",
                        severity="warning", timeout=20)

    @on(QuestionPending)
    def _question(self, message: QuestionPending) -> None:
        if not self.ctl.ask(message.question, message.future):
            return  # withdrawn before it reached the screen
        if message.question.step_id in self.ctl.model.steps:
            self.query_one(StepList).select_step(message.question.step_id)
            self._show_selected()
        self._decision()
        self.app.bell()
        self._ask_modal(message.question)

    @on(RunEnded)
    def _ended(self, message: RunEnded) -> None:
        self.ctl.ended(message.outcome, message.error)
        self.hamn.run_finished(self)
        self.hamn.poll_status_now(quiet=True)  # the cluster after the run, not before it
        self._header()
        self._decision()
        self._verify_log()

    @work(thread=True, group="verify", exit_on_error=False, description="verify the run's audit log")
    def _verify_log(self) -> None:
        self.ctl.verify_log()
        self.app.call_from_thread(self._decision)

    # --- answering -------------------------------------------------------------------------------
    def _answer(self, answer: Answer) -> None:
        self.ctl.answer(answer)
        self._decision()

    def _answer_if(self, q: Question, answer: Answer | None) -> None:
        """A dialog's result: answers `q` only if it was given and `q` still waits."""
        if answer is not None and self.ctl.waiting_on(q):
            self._answer(answer)

    def _push(self, q: Question, modal: Screen[Any], callback: Any) -> None:
        """Open a dialog that answers `q`; it closes by itself if the engine withdraws `q`."""
        self._modals = [(mq, m) for mq, m in self._modals if m in self.app.screen_stack]
        self._modals.append((q, modal))
        self.app.push_screen(modal, callback)

    def _close_modals(self, q: Question) -> None:
        """The engine withdrew `q`: its dialogs (and a skip reason or abort confirmation for it) close at once."""
        mine = [m for mq, m in self._modals if mq is q]
        self._modals = [(mq, m) for mq, m in self._modals if mq is not q]
        while self.app.screen in mine:
            self.app.pop_screen()

    def _waiting_choice(self, q: Question, result: str | None, typed: Answer | None = None) -> None:
        """A waiting dialog's result: Skip and Abort go on to their reason / confirmation."""
        if not self.ctl.waiting_on(q):
            return
        if result == SKIP:
            self.action_skip()
        elif result == ABORT:
            self.action_abort()
        elif typed is not None:
            self._answer(typed)

    def _ask_modal(self, q: Question) -> None:
        body = question_body(q, self.ctl.session.ctx.roles if self.ctl.session is not None else None)
        if q.kind == "confirm":
            self._push(q, ConfirmModal(f"Run: {q.title}?", body, yes="Run", no="Not yet"),
                       lambda ok: self._answer_if(q, Answer("run") if ok else None))
        elif q.kind == "typed":
            self._push(q, TypedConfirmModal(f"DANGEROUS: {q.title}", body, q.expected_text),
                       lambda text: self._answer_if(q, Answer("run", text=text) if text is not None else None))
        elif q.kind == "unwitnessed":
            self._push(q, UnwitnessedModal(f"NO WITNESS YET: {q.title}", body, q.expected_text),
                       lambda text: self._waiting_choice(q, text, Answer("proceed_unwitnessed", text=text)
                                                         if text not in (None, SKIP, ABORT) else None))
        elif q.kind == "approval":
            req = self.ctl.requests.get(q.step_id)
            body = approval_body(q.expected_text, q.title, req.where if req else "", req.request_id if req else "")
            self._push(q, ApprovalWaitModal(f"Four eyes: {q.title}", body),
                       lambda result: self._waiting_choice(q, result))
        elif q.kind == "manual":
            body.append(f"\nYou attest: {safe(q.expected_text)}\n", style="bold")
            self._push(q, ConfirmModal(f"By hand: {q.title}", body, yes="I attest", no="Not yet"),
                       lambda ok: self._answer_if(q, Answer("attest") if ok else None))
        elif q.kind == "choice":
            self._push(q, ChoiceModal(q.title, Text(safe(reflow(q.explain)), style="dim"), q.options),
                       lambda choice: self._answer_if(q, Answer("choose", choice=choice) if choice else None))
        elif q.kind == "lock_held":
            self._push(q, TypedConfirmModal("Another run holds the cluster lock", body, q.expected_text, action="Break lock"),
                       lambda text: self._answer_if(q, Answer("break_lock", text=text) if text is not None else None))
        elif q.kind == "resume":
            self._push(q, ConfirmModal("Resume the unfinished run?", body, yes="Resume", no="Not now"),
                       lambda ok: self._answer_if(q, Answer("continue") if ok else None))

    def _allowed(self, action: str) -> Question | None:
        q, why = self.ctl.refusal(action, _keys)
        if q is None:
            self.notify(why, severity="warning" if self.ctl.question is not None else "information")
        return q

    def action_skip(self) -> None:
        q = self._allowed("skip")
        if q is not None:
            self._push(q, ReasonModal(f"Skip {q.title}: why?", "Skipping is recorded with your reason."),
                       lambda r: self._answer_if(q, Answer("skip", reason=r) if r else None))

    def action_retry(self) -> None:
        q = self._allowed("retry")
        if q is not None:
            self._answer(Answer("retry"))

    def action_rollback(self) -> None:
        q = self._allowed("rollback")
        if q is None:
            return
        body = Text("These done steps are undone, newest first, down to the last irreversible one:\n")
        for sid, cmd in self.ctl.rollback_plan():
            body.append(f"  {safe(sid)}: ", style="bold")
            body.append(f"{safe(cmd)}\n", style="cyan")
        self.app.push_screen(ConfirmModal("Roll back?", body, yes="Roll back", no="Not yet", danger=True),
                             lambda ok: self._answer_if(q, Answer("rollback") if ok else None))

    def action_decide_done(self) -> None:
        q = self._allowed("done")
        if q is not None:
            self.app.push_screen(ReasonModal(f"{q.title}: it happened — what did you check?", q.detail),
                                 lambda r: self._answer_if(q, Answer("done", reason=r) if r else None))

    def action_decide_fail(self) -> None:
        q = self._allowed("fail")
        if q is None:
            return
        if q.kind == "unknown":
            self.app.push_screen(ReasonModal(f"{q.title}: it did not happen — what did you check?", q.detail),
                                 lambda r: self._answer_if(q, Answer("fail", reason=r) if r else None))
        else:
            self.app.push_screen(ConfirmModal("Stop the run here as failed?", "The always section still runs.", yes="Stop as failed", no="Not yet"),
                                 lambda ok: self._answer_if(q, Answer("fail") if ok else None))

    def action_abort(self) -> None:
        c = self.ctl
        if not c.started or c.finished:
            self.action_back()
            return
        q = c.question
        if q is not None and "abort" in q.allowed:
            self._push(q, ConfirmModal("Abort the run?", "Nothing more of the runbook runs except its always section.\nThe audit log records who aborted.",
                                       yes="Abort", no="Keep going", danger=True),
                       lambda ok: self._answer_if(q, Answer("abort") if ok else None))
        elif q is None:
            self.app.push_screen(ConfirmModal("Interrupt the running step?",
                                              "The running command is stopped (its process tree killed). Its outcome is then UNKNOWN:\n"
                                              "the step's checks are read again and you decide what happened.",
                                              yes="Interrupt", no="Let it run", danger=True),
                                 lambda ok: c.interrupt() if ok else None)

    def action_note(self) -> None:
        c = self.ctl
        if c.session is None or c.finished:
            self.notify("notes go into a run's audit log: start the run first", severity="warning")
            return
        sid = self.query_one(StepList).selected_id

        def write(text: str | None) -> None:
            if text:
                c.note(text, sid)
                self.notify("note recorded in the audit log")

        self.app.push_screen(ReasonModal("Note for the audit log", f"on step {sid}" if sid else "", placeholder="what you saw or did",
                                         required="an empty note is not recorded"), write)

    def action_doc(self) -> None:
        sid = self.query_one(StepList).selected_id
        row = self.ctl.model.steps.get(sid or "")
        if row is None:
            return
        body = describe(row, str(self.ctl.model.started.get("operator", "")))
        if row.doc:
            body.append(f"\nDocumentation: {safe(row.doc)}\n", style="bold")
        self.app.push_screen(TextModal(row.title, body))

    def action_refresh(self) -> None:
        self.hamn.poll_status_now()

    def action_back(self) -> None:
        if self.ctl.started and not self.ctl.finished:
            self.notify("a run is going on: finish or abort it (a) before leaving", severity="warning")
            return
        self.app.pop_screen()


def _keys(q: Question) -> str:
    return " · ".join(KEYS[a] for a in q.allowed if a in KEYS)
