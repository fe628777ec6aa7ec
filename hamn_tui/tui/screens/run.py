"""The run screen: the steps, the selected step's command and gates, live output, and the
decision the run is waiting for.

The runner is an App worker (popping this screen can never cancel a failover); it reaches this
screen only through `EngineEvent` / `QuestionPending` messages and hears back only `Answer`s.
Questions that approve an action open a modal whose default is No; questions after a failure
(failed, gate failed, outcome unknown) wait in the decision bar for a key — nothing is decided
by a stray Enter.
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from ...audit.verify import verify_path  # module level: never import inside a thread worker (see backend.py)
from ...engine import events as ev
from ...engine.operator import Answer, Question
from ...runbook.model import Runbook
from ..bridge import EngineEvent, EventRelay, QuestionPending, RunEnded, TuiOperator
from ..commands import bindings
from ..modals import ChoiceModal, ConfirmModal, ReasonModal, TextModal, TypedConfirmModal
from ..output_feed import OutputFeed
from ..run_model import RunModel, reflow
from ..widgets.output_pane import OutputPane, PaneKeys
from ..widgets.status_panel import StatusPanel
from ..widgets.step_detail import check_lines, describe
from ..widgets.step_detail import StepDetail
from ..widgets.step_list import StepList

KEYS = {"retry": "t retry", "skip": "s skip", "rollback": "b roll back", "fail": "x stop as failed", "abort": "a abort",
        "done": "d it happened", "run": "r run", "attest": "r attest", "choose": "r choose", "continue": "r resume",
        "break_lock": "r break the lock"}


def question_body(q: Question, roles: dict[str, str] | None = None) -> Text:
    """What the operator approves: the exact commands, where, as whom, and the gates right now."""
    t = Text()
    node = (roles or {}).get(q.node, q.node)
    node = f"{node} ({q.node})" if node != q.node else node
    if q.explain:
        t.append(reflow(q.explain) + "\n\n", style="dim")
    if q.commands:
        where = f"on {node}" + (f" as {q.user}" if q.user else "")
        t.append(f"Will run {where}:\n", style="bold")
        for c in q.commands:
            t.append(f"  $ {c}\n", style="bold cyan")
    if q.checks:
        t.append("Gates, as read just now:\n", style="bold")
        t.append_text(check_lines(q.checks))
    if q.detail:
        t.append(f"\n{q.detail}\n", style="yellow")
    return t


class RunScreen(PaneKeys, Screen[None]):
    SCREEN_NAME = "run"
    BINDINGS = bindings("run")
    DEFAULT_CSS = """
    RunScreen #run-header { height: 1; background: $primary-background; text-style: bold; padding: 0 1; }
    RunScreen #run-header.-training { background: $secondary-background; }
    RunScreen StatusPanel { height: auto; max-height: 4; border-bottom: solid $primary-darken-2; }
    RunScreen #run-body { height: 1fr; }
    RunScreen StepList { width: 32; max-width: 40%; border-right: solid $primary-darken-2; }
    RunScreen #run-right { width: 1fr; }
    RunScreen OutputPane { height: 1fr; }
    RunScreen #decision { height: auto; max-height: 3; padding: 0 1; background: $panel; }
    RunScreen #decision.-waiting { background: $warning-muted; text-style: bold; }
    RunScreen #decision.-failed { background: $error-muted; text-style: bold; }
    """

    def __init__(self, runbook_id: str, *, sets: dict[str, str] | None = None, roles: dict[str, str] | None = None,
                 dry_run: bool = False) -> None:
        super().__init__()
        self.runbook_id = runbook_id
        self.sets, self.roles, self.dry_run = dict(sets or {}), dict(roles or {}), dry_run
        self.model = RunModel()
        self.runbook: Runbook | None = None
        self.prepared: Any = None
        self.question: Question | None = None
        self.future: asyncio.Future[Answer] | None = None
        self.started = False
        self.finished = False
        self.unfinished: Any = None
        self.audit_line = ""
        self.load_error = ""
        """The runbook cannot be loaded: nothing can start."""
        self.start_error = ""
        """The last attempt to start failed (shown; r tries again)."""
        self.starting = False

    # --- layout ----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(id="run-header")
        yield StatusPanel(compact=True, id="run-status")
        with Horizontal(id="run-body"):
            yield StepList(id="steps")
            with Vertical(id="run-right"):
                yield StepDetail(id="detail")
                yield OutputPane(id="output")
        yield Static(id="decision")
        yield Footer()

    def on_mount(self) -> None:
        from ...runbook.context import RunContext, bind_roles, resolve_params

        backend = self.app.backend  # type: ignore[attr-defined]
        if self.app.is_training:  # type: ignore[attr-defined]
            self.query_one("#run-header").add_class("-training")
        try:
            from ...catalog import find_runbook
            from ...runbook.loader import load_runbook

            path = find_runbook(self.runbook_id)
            if path is None:
                raise ValueError(f"no runbook {self.runbook_id!r}")
            self.runbook = load_runbook(path, backend.cluster)
            ctx = None
            if backend.cluster is not None:
                try:
                    # the plan shows the nodes the run will use: after a failover the live roles
                    roles = bind_roles(backend.cluster, self.roles or self.app.live_roles() or None)  # type: ignore[attr-defined]
                    ctx = RunContext(resolve_params(self.runbook, dict(self.sets), backend.cluster, roles), backend.cluster, roles)
                except Exception:
                    ctx = None
            self.model = RunModel(self.runbook, ctx)
        except Exception as exc:  # InputError, ValueError: shown, never a traceback
            problems = getattr(exc, "problems", None)
            self.load_error = "; ".join(str(p) for p in problems) if problems else str(exc)
        self.query_one(StepList).load(self.model)
        self.app.refresh_status_panels()  # type: ignore[attr-defined]
        self._show_selected()
        self._header()
        self._decision()
        if not self.load_error:
            self._check_unfinished()

    @work(thread=True, group="unfinished", exit_on_error=False, description="look for an unfinished run of this runbook")
    def _check_unfinished(self) -> None:
        found = self.app.backend.unfinished(self.runbook_id)  # type: ignore[attr-defined]
        if found is not None:
            self.app.call_from_thread(self._found_unfinished, found)

    def _found_unfinished(self, found: Any) -> None:
        if self.started or self.starting:
            return
        self.unfinished = found
        self._decision()
        self._offer_resume()

    # --- header and decision bar ----------------------------------------------------------------
    def _roles_text(self) -> str:
        roles = self.prepared.runner.ctx.roles if self.prepared is not None else self.model.roles
        if not roles:
            return ""
        source = "--role" if self.roles else "live status" if self.app.live_roles() == roles else "cluster file"  # type: ignore[attr-defined]
        return " · " + " ".join(f"{r}={n}" for r, n in sorted(roles.items()) if r in ("primary", "standby")) + f" ({source})"

    def _header(self) -> None:
        done, total = self.model.progress()
        rb = self.runbook
        title = f"{rb.runbook.id} v{rb.runbook.version} — {rb.runbook.title}" if rb else self.runbook_id
        mode = "TRAINING · " if self.app.is_training else ""  # type: ignore[attr-defined]
        if self.dry_run:
            mode += "DRY RUN · "
        self.query_one("#run-header", Static).update(f"{mode}{title} · {done} of {total} steps{self._roles_text()}")

    ANSWERS = {"skip": "skip", "retry": "retry", "rollback": "rollback", "decide_done": "done", "decide_fail": "fail"}
    APPROVALS = ("confirm", "typed", "manual", "choice", "lock_held", "resume")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys that cannot do anything now are shown dimmed in the footer (and do nothing)."""
        q = self.question
        if action in self.ANSWERS:
            return True if q is not None and self.ANSWERS[action] in q.allowed else None
        if action == "run":
            if self.load_error or self.starting or self.finished:
                return None
            return True if not self.started or (q is not None and q.kind in self.APPROVALS) else None
        if action == "note":
            return True if self.started and not self.finished else None
        return True

    def _decision(self) -> None:
        self.refresh_bindings()
        bar = self.query_one("#decision", Static)
        bar.remove_class("-waiting", "-failed")
        q = self.question
        if self.load_error:
            bar.add_class("-failed")
            bar.update(f"Cannot run: {self.load_error}")
        elif self.start_error:
            bar.add_class("-failed")
            bar.update(f"Could not start: {self.start_error}\nr tries again · Esc: home")
        elif self.starting:
            bar.update("Setting up the run: opening its audit log…")
        elif q is not None:
            bar.add_class("-failed" if q.kind in ("failed", "gate_failed", "unknown", "lock_held") else "-waiting")
            what = {"failed": "FAILED", "gate_failed": "GATE FAILED", "unknown": "OUTCOME UNKNOWN", "lock_held": "LOCK HELD",
                    "confirm": "CONFIRM", "typed": "TYPED CONFIRMATION", "manual": "DO THIS BY HAND", "choice": "CHOOSE",
                    "resume": "RESUME?"}[q.kind]
            keys = " · ".join(KEYS[a] for a in q.allowed if a in KEYS)
            detail = f": {q.detail}" if q.detail else ""
            bar.update(Text.assemble((f"WAITING FOR YOU — {what} ", "bold"), f"{q.title}{detail[:200]}\n", keys))
        elif self.finished:
            outcome = self.model.outcome or "?"
            if outcome != "done":
                bar.add_class("-failed")
            reason = f" — {self.model.reason}" if self.model.reason else ""
            bar.update(f"Run {outcome}{reason}. {self.audit_line}\nEsc: home · v on home: review this run")
        elif self.started:
            cur = self.model.steps.get(self.model.current or "")
            bar.update(f"Running: {cur.title if cur else '…'} — a interrupts/aborts · n adds a note")
        elif self.unfinished is not None:
            bar.add_class("-waiting")
            bar.update("An unfinished run of this runbook exists: r resumes it · Esc: home")
        else:
            done, total = self.model.progress()
            bar.update(f"Nothing has run. r starts the run ({total} steps) · o: step docs · Esc: home")

    # --- selection -------------------------------------------------------------------------------
    @on(StepList.OptionHighlighted, "#steps")
    def _highlighted(self, event: StepList.OptionHighlighted) -> None:
        # moving off the running step stops following it; coming back resumes
        self.query_one(StepList).follow_running = event.option.id == self.model.current
        self._show_selected()

    def _show_selected(self) -> None:
        sid = self.query_one(StepList).selected_id
        row = self.model.steps.get(sid or "")
        self.query_one(StepDetail).show(row)
        if sid:
            self.query_one(OutputPane).show_step(sid)

    # --- starting --------------------------------------------------------------------------------
    def _offer_resume(self) -> None:
        u = self.unfinished
        st = u.state
        done = sum(1 for o in st.outcomes.values() if o == "done")
        body = Text()
        body.append(f"Run {u.started.get('run_id')} by {u.started.get('operator')} did not finish ({u.finished or 'stopped'}).\n")
        body.append(f"{done} steps done. Log: {u.path}\n")
        if st.in_flight:
            body.append(f"Step {st.in_flight} was in progress", style="bold")
            body.append("; its command was sent, so its outcome is UNKNOWN: you will be asked what happened.\n" if st.sent_in_flight
                        else "; nothing of it was sent.\n")
        body.append("Resuming continues that run in a new log segment; nothing already done runs again.")
        self.app.push_screen(ConfirmModal("Resume the unfinished run?", body, yes="Resume", no="Not now"),
                             lambda ok: self._start(resume=True) if ok else None)

    def action_run(self) -> None:
        if self.load_error:
            self.notify(self.load_error, severity="error")
            return
        if not self.started:
            if self.unfinished is not None:
                self._offer_resume()
            else:
                self._start(resume=False)
            return
        if self.question is not None:
            self._ask_modal(self.question)
        elif self.finished:
            self.notify("this run has finished; open the runbook again from home for a new run")
        else:
            self.notify("the run is going on; it will ask when it needs you")

    def _start(self, resume: bool) -> None:
        if self.starting:
            return
        self.starting = True
        self.start_error = ""
        self._decision()
        # the run's setup reads files, asks ssh-agent for a key, writes the log's first record:
        # off the event loop, so the screen answers keys meanwhile
        self.app.run_worker(self._prepare_and_drive(resume), group="run", exit_on_error=False, name=f"run {self.runbook_id}",
                            description="set up and drive the runbook's engine")

    async def _prepare_and_drive(self, resume: bool) -> None:
        from ...engine.journal import JournalError, secret_values
        from ...engine.session import SetupError
        from ...source.problems import InputError

        backend = self.app.backend  # type: ignore[attr-defined]
        feed = OutputFeed()
        operator = TuiOperator(self.post_message)
        if resume:
            operator.preset["resume"] = Answer("continue", reason="the operator chose Resume in the TUI")
        roles = self.roles or self.app.live_roles()  # type: ignore[attr-defined]
        try:
            self.prepared = await asyncio.to_thread(backend.prepare, self.runbook_id, operator, [EventRelay(self.post_message, feed)],
                                                    resume=resume, sets=self.sets, roles=roles, dry_run=self.dry_run)
        except InputError as exc:
            self.start_error = "; ".join(str(p) for p in exc.problems)
        except (SetupError, JournalError, ValueError, OSError) as exc:
            self.start_error = str(exc)
        self.starting = False
        if self.start_error:
            self._decision()
            self.notify(self.start_error, severity="error", timeout=15)
            return
        feed.secrets = [v for v in secret_values(self.prepared.runner.ctx.params.values()) if v]
        # the run's own context resolves commands with the roles it was given
        self.model = RunModel(self.prepared.runbook, self.prepared.runner.ctx)
        if resume and self.unfinished is not None:
            for sid, outcome in self.unfinished.state.outcomes.items():
                if sid in self.model.steps:
                    self.model.steps[sid].status = outcome
        self.query_one(StepList).load(self.model)
        self.query_one(OutputPane).attach(feed)
        self.started = True
        self.unfinished = None
        self.app.run_started(self)  # type: ignore[attr-defined]
        self._header()
        self._decision()
        await self._drive(self.prepared)

    async def _drive(self, prepared: Any) -> None:
        outcome, error = "failed", ""
        try:
            outcome = await prepared.runner.run()
        except Exception as exc:  # the journal failed (disk full…): the run stopped before the next command
            error = str(exc)
        finally:
            close = getattr(prepared.transport, "close", None)
            if close is not None:
                try:
                    await close()
                except Exception:
                    pass
            prepared.journal.close()
        self.post_message(RunEnded(outcome, error))

    # --- engine messages -------------------------------------------------------------------------
    @on(EngineEvent)
    def _event(self, message: EngineEvent) -> None:
        event = message.event
        sid = self.model.apply(event)
        steps = self.query_one(StepList)
        if sid is not None and sid in self.model.steps:
            steps.update_row(self.model.steps[sid])
            if isinstance(event, ev.StepStarted) and steps.follow_running:
                steps.select_step(sid)
            if steps.selected_id == sid:
                self.query_one(StepDetail).show(self.model.steps[sid])
        if isinstance(event, (ev.StepStarted, ev.StepFinished, ev.StepSkipped, ev.RunFinished)):
            self._header()
            self._decision()
        if isinstance(event, ev.LockEvent) and event.action == "held_by_other":
            h = event.holder
            self.notify(f"the cluster lock is held by {h.get('user')}@{h.get('host')} (run {h.get('run_id')}, since {h.get('since')})",
                        severity="warning", timeout=20)

    @on(QuestionPending)
    def _question(self, message: QuestionPending) -> None:
        self.question, self.future = message.question, message.future
        if message.question.step_id in self.model.steps:
            self.query_one(StepList).select_step(message.question.step_id)
            self._show_selected()
        self._decision()
        self.app.bell()
        self._ask_modal(message.question)

    @on(RunEnded)
    def _ended(self, message: RunEnded) -> None:
        self.finished = True
        self.question = None
        if message.error:
            self.model.outcome, self.model.reason = "failed", message.error
        self.app.run_finished(self)  # type: ignore[attr-defined]
        self.app.poll_status_now(quiet=True)  # type: ignore[attr-defined]  # the cluster after the run, not before it
        self._header()
        self._decision()
        self._verify_log()

    @work(thread=True, group="verify", exit_on_error=False, description="verify the run's audit log")
    def _verify_log(self) -> None:
        journal = self.prepared.journal
        directory = Path(journal.path).parent
        report = verify_path(directory)
        self.app.call_from_thread(self._set_audit_line, f"Audit log {report.status} ({directory}) — hamn audit review {directory}")

    def _set_audit_line(self, line: str) -> None:
        self.audit_line = line
        self._decision()

    # --- answering -------------------------------------------------------------------------------
    def _answer(self, answer: Answer) -> None:
        if self.future is not None and not self.future.done():
            self.future.set_result(answer)
        self.question, self.future = None, None
        self._decision()

    def _ask_modal(self, q: Question) -> None:
        body = question_body(q, self.prepared.runner.ctx.roles if self.prepared is not None else None)
        if q.kind == "confirm":
            self.app.push_screen(ConfirmModal(f"Run: {q.title}?", body, yes="Run", no="Not yet"),
                                 lambda ok: self._answer(Answer("run")) if ok and self.question is q else None)
        elif q.kind == "typed":
            self.app.push_screen(TypedConfirmModal(f"DANGEROUS: {q.title}", body, q.expected_text),
                                 lambda text: self._answer(Answer("run", text=text)) if text is not None and self.question is q else None)
        elif q.kind == "manual":
            body.append(f"\nYou attest: {q.expected_text}\n", style="bold")
            self.app.push_screen(ConfirmModal(f"By hand: {q.title}", body, yes="I attest", no="Not yet"),
                                 lambda ok: self._answer(Answer("attest")) if ok and self.question is q else None)
        elif q.kind == "choice":
            self.app.push_screen(ChoiceModal(q.title, Text(reflow(q.explain), style="dim"), q.options),
                                 lambda c: self._answer(Answer("choose", choice=c)) if c and self.question is q else None)
        elif q.kind == "lock_held":
            self.app.push_screen(TypedConfirmModal("Another run holds the cluster lock", body, q.expected_text, action="Break lock"),
                                 lambda text: self._answer(Answer("break_lock", text=text)) if text is not None and self.question is q else None)
        elif q.kind == "resume":
            self.app.push_screen(ConfirmModal("Resume the unfinished run?", body, yes="Resume", no="Not now"),
                                 lambda ok: self._answer(Answer("continue")) if ok and self.question is q else None)

    def _allowed(self, action: str) -> Question | None:
        q = self.question
        if q is None or action not in q.allowed:
            if not self.started:
                self.notify("the run has not started: r starts it")
            elif q is None:
                self.notify(f"nothing is waiting for '{action}' now")
            else:
                self.notify(f"'{action}' is not an answer here; " + " · ".join(KEYS[a] for a in q.allowed if a in KEYS), severity="warning")
            return None
        return q

    def action_skip(self) -> None:
        q = self._allowed("skip")
        if q is not None:
            self.app.push_screen(ReasonModal(f"Skip {q.title}: why?", "Skipping is recorded with your reason."),
                                 lambda r: self._answer(Answer("skip", reason=r)) if r and self.question is q else None)

    def action_retry(self) -> None:
        q = self._allowed("retry")
        if q is not None:
            self._answer(Answer("retry"))

    def action_rollback(self) -> None:
        q = self._allowed("rollback")
        if q is None:
            return
        body = Text("These done steps are undone, newest first, down to the last irreversible one:\n")
        for sid, cmd in self._rollback_plan():
            body.append(f"  {sid}: ", style="bold")
            body.append(f"{cmd}\n", style="cyan")
        self.app.push_screen(ConfirmModal("Roll back?", body, yes="Roll back", no="Not yet", danger=True),
                             lambda ok: self._answer(Answer("rollback")) if ok and self.question is q else None)

    def _rollback_plan(self) -> list[tuple[str, str]]:
        if self.prepared is None:
            return []
        runner = self.prepared.runner
        by_id = {s.id: s for s in self.prepared.runbook.steps}
        plan = []
        for sid in reversed([s for s, o in runner.state.outcomes.items() if o == "done" and s in by_id]):
            step = by_id[sid]
            if step.irreversible:
                plan.append((sid, "(irreversible: rollback stops here)"))
                break
            if step.rollback is not None:
                runs = [step.rollback.run] if isinstance(step.rollback.run, str) else step.rollback.run
                plan.extend((sid, runner.ctx.shown(r, runner.ctx.roles.get(step.rollback.node or step.node, step.node))) for r in runs)
        return plan or [("", "(nothing to undo)")]

    def action_decide_done(self) -> None:
        q = self._allowed("done")
        if q is not None:
            self.app.push_screen(ReasonModal(f"{q.title}: it happened — what did you check?", q.detail),
                                 lambda r: self._answer(Answer("done", reason=r)) if r and self.question is q else None)

    def action_decide_fail(self) -> None:
        q = self._allowed("fail")
        if q is None:
            return
        if q.kind == "unknown":
            self.app.push_screen(ReasonModal(f"{q.title}: it did not happen — what did you check?", q.detail),
                                 lambda r: self._answer(Answer("fail", reason=r)) if r and self.question is q else None)
        else:
            self.app.push_screen(ConfirmModal("Stop the run here as failed?", "The always section still runs.", yes="Stop as failed", no="Not yet"),
                                 lambda ok: self._answer(Answer("fail")) if ok and self.question is q else None)

    def action_abort(self) -> None:
        if not self.started or self.finished:
            self.action_back()
            return
        q = self.question
        if q is not None and "abort" in q.allowed:
            self.app.push_screen(ConfirmModal("Abort the run?", "Nothing more of the runbook runs except its always section.\nThe audit log records who aborted.",
                                              yes="Abort", no="Keep going", danger=True),
                                 lambda ok: self._answer(Answer("abort")) if ok and self.question is q else None)
        elif q is None:
            self.app.push_screen(ConfirmModal("Interrupt the running step?",
                                              "The running command is stopped (its process tree killed). Its outcome is then UNKNOWN:\n"
                                              "the step's checks are read again and you decide what happened.",
                                              yes="Interrupt", no="Let it run", danger=True),
                                 lambda ok: self.prepared.runner.interrupt() if ok and self.prepared is not None else None)

    def action_note(self) -> None:
        if self.prepared is None or self.finished:
            self.notify("notes go into a run's audit log: start the run first", severity="warning")
            return
        sid = self.query_one(StepList).selected_id

        def write(text: str | None) -> None:
            if text:
                self.prepared.runner.emit(ev.Note(f"operator note: {text}", sid))
                self.notify("note recorded in the audit log")

        self.app.push_screen(ReasonModal("Note for the audit log", f"on step {sid}" if sid else "", placeholder="what you saw or did",
                                         required="an empty note is not recorded"), write)

    def action_doc(self) -> None:
        sid = self.query_one(StepList).selected_id
        row = self.model.steps.get(sid or "")
        if row is None:
            return
        body = describe(row)
        if row.doc:
            body.append(f"\nDocumentation: {row.doc}\n", style="bold")
        self.app.push_screen(TextModal(row.title, body))

    def action_refresh(self) -> None:
        self.app.poll_status_now()  # type: ignore[attr-defined]

    def action_back(self) -> None:
        if self.started and not self.finished:
            self.notify("a run is going on: finish or abort it (a) before leaving", severity="warning")
            return
        self.app.pop_screen()
