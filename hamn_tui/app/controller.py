"""One run as a front end drives it: its plan before it starts, an unfinished run to resume, the
run's life, the question it waits on and which answers fit, the rollback plan, notes, and the
log's verdict at the end. No Textual: the TUI's run screen is a view of this object.

The run is set up in a thread (`start`: files, ssh-agent, the log's first record) and driven as
a coroutine the front end keeps alive (`drive`); every event goes through `apply`, the one fold.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Callable, Iterable

from ..audit.errors import AuditError
from ..audit.verify import verify_path  # module level: never import inside a thread worker (see workspace.py)
from ..engine.operator import Operator
from ..inputs.problems import InputError
from ..record import events as ev
from ..record.events import Event, Subscriber
from ..record.fold import RunFold
from ..record.questions import Answer, Question
from ..runbook.context import RunContext, bind_roles, resolve_params
from ..runbook.library import Procedure, open_procedure
from ..runbook.model import Runbook
from .plan import plan
from .runs import RunContents
from .errors import SetupError
from .session import RunSession
from .workspace import Workspace

ANSWER_OF = {"skip": "skip", "retry": "retry", "rollback": "rollback", "decide_done": "done", "decide_fail": "fail"}
"""Front-end actions that answer a waiting question, and the answer each gives."""
APPROVALS = ("confirm", "typed", "manual", "choice", "lock_held", "resume", "unwitnessed", "approval")
"""Questions with a dialog: `run` (re)opens it."""
FAILURES = ("failed", "gate_failed", "unknown", "lock_held", "approval_refused")


@dataclass(frozen=True)
class ResumeFacts:
    """What the operator is told before resuming an unfinished run."""

    run_id: str
    operator: str
    finished: str
    done: int
    path: str
    in_flight: str | None
    sent_in_flight: bool


class RunController:
    def __init__(self, workspace: Workspace, runbook_id: str, *, sets: dict[str, str] | None = None,
                 roles: dict[str, str] | None = None, dry_run: bool = False):
        self.workspace = workspace
        self.runbook_id = runbook_id
        self.sets, self.roles, self.dry_run = dict(sets or {}), dict(roles or {}), dry_run
        self.model = RunFold()
        self.runbook: Runbook | None = None
        self.procedure: Procedure | None = None
        """The runbook as loaded for the plan; the run uses the same (loaded once)."""
        self.session: RunSession | None = None
        self.question: Question | None = None
        self.future: asyncio.Future[Answer] | None = None
        self.unfinished: RunContents | None = None
        self.started = False
        self.starting = False
        self.finished = False
        self.load_error = ""
        """The runbook cannot be loaded: nothing can start."""
        self.start_error = ""
        """The last attempt to start failed (shown; run tries again)."""
        self.audit_line = ""
        self.requests: dict[str, ev.ApprovalRequested] = {}
        """Each step's latest four-eyes request (its code and spool file, for the waiting dialog)."""

    # --- before the run ------------------------------------------------------------------------------
    def load(self, live_roles: dict[str, str] | None = None) -> None:
        """The runbook and its plan, with the nodes the run will use (after a failover: the live roles)."""
        cluster = self.workspace.cluster
        try:
            self.procedure = open_procedure(self.runbook_id, cluster)
            if self.procedure is None:
                raise ValueError(f"no runbook {self.runbook_id!r}")
            self.runbook = self.procedure.runbook
            ctx = None
            if cluster is not None:
                try:
                    roles = bind_roles(cluster, self.roles or live_roles or None)
                    ctx = RunContext(resolve_params(self.runbook, dict(self.sets), cluster, roles), cluster, roles)
                except Exception:  # the plan is shown with its placeholders; the run says what is wrong
                    ctx = None
            self.model = plan(self.runbook, ctx)
        except Exception as exc:  # InputError, ValueError: shown, never a traceback
            problems = getattr(exc, "problems", None)
            self.load_error = "; ".join(str(p) for p in problems) if problems else str(exc)

    def find_unfinished(self) -> RunContents | None:
        """Blocking (reads and verifies logs): call from a thread."""
        return self.workspace.unfinished(self.runbook_id)

    def offer_unfinished(self, found: RunContents) -> bool:
        """Keep an unfinished run to offer; False when it came too late (the run has started)."""
        if self.started or self.starting:
            return False
        self.unfinished = found
        return True

    def resume_facts(self) -> ResumeFacts:
        u = self.unfinished
        assert u is not None
        st = u.state
        return ResumeFacts(str(u.started.get("run_id")), str(u.started.get("operator")), u.finished or "stopped",
                           sum(1 for o in st.outcomes.values() if o == "done"), str(u.path), st.in_flight, st.sent_in_flight)

    @property
    def roles_now(self) -> dict[str, str]:
        return dict(self.session.ctx.roles) if self.session is not None else dict(self.model.roles)

    def roles_source(self, live_roles: dict[str, str]) -> str:
        return "--role" if self.roles else "live status" if live_roles == self.roles_now else "cluster file"

    # --- the run's life --------------------------------------------------------------------------------
    def begin(self) -> bool:
        """Mark the run as being set up (False if it already is)."""
        if self.starting:
            return False
        self.starting, self.start_error = True, ""
        return True

    async def start(self, operator: Operator, subscribers: Iterable[Subscriber], *, resume: bool,
                    live_roles: dict[str, str] | None = None) -> bool:
        """Set the run up off the event loop; False (and `start_error`) when it cannot start."""
        try:
            self.session = await asyncio.to_thread(self.workspace.open_run, self.runbook_id, operator, list(subscribers), resume=resume,
                                                   sets=self.sets, roles=self.roles or live_roles, dry_run=self.dry_run,
                                                   procedure=self.procedure)
        except InputError as exc:
            self.start_error = "; ".join(str(p) for p in exc.problems)
        except (SetupError, AuditError, ValueError, OSError) as exc:
            self.start_error = str(exc)
        self.starting = False
        if self.session is None:
            return False
        # the run's own context resolves commands with the roles it was given
        self.model = plan(self.session.runbook, self.session.ctx)
        if resume and self.unfinished is not None:
            for sid, outcome in self.unfinished.state.outcomes.items():
                if sid in self.model.steps:
                    self.model.steps[sid].status = outcome
        self.started = True
        self.unfinished = None
        return True

    async def drive(self) -> tuple[str, str]:
        """Run to the end: (outcome, error). The session closes its transport and audit log whatever happens."""
        assert self.session is not None
        try:
            return await self.session.run(), ""
        except Exception as exc:  # the audit log failed (disk full…): the run stopped before the next command
            return "failed", str(exc)

    def ended(self, outcome: str, error: str) -> None:
        self.finished = True
        self.question, self.future = None, None
        if error:
            self.model.outcome, self.model.reason = "failed", error

    def verify_log(self) -> str:
        """The finished run's log, verified (blocking: call from a thread)."""
        assert self.session is not None
        directory = self.session.log_dir
        report = verify_path(directory)
        self.audit_line = f"Audit log {report.status} ({directory}) — hamn audit review {directory}"
        return self.audit_line

    def apply(self, event: Event) -> str | None:
        """Fold one engine event in; the id of the step it changed. A withdrawn question stops
        waiting here too: a late answer to it is then dropped (`waiting_on`)."""
        if isinstance(event, ev.QuestionWithdrawn) and self.withdrawn(event):
            self.question, self.future = None, None
        elif isinstance(event, ev.ApprovalRequested):
            self.requests[event.step_id] = event
        return self.model.apply(event)

    def withdrawn(self, event: ev.QuestionWithdrawn) -> bool:
        """Whether `event` withdraws the question held now."""
        q = self.question
        return q is not None and q.step_id == event.step_id and q.kind == event.kind

    @property
    def degraded(self) -> list[str]:
        """Why the run is degraded (a dangerous step ran without a witness's cosignature); [] if it is not."""
        return self.model.state.degraded

    # --- questions and answers ------------------------------------------------------------------------
    def ask(self, question: Question, future: asyncio.Future[Answer]) -> bool:
        """Hold the question the engine waits on; False if it stopped waiting before the screen
        saw it (the engine withdrew it: its future was cancelled)."""
        if future.done():
            return False
        self.question, self.future = question, future
        return True

    def answer(self, answer: Answer) -> None:
        if self.future is not None and not self.future.done():
            self.future.set_result(answer)
        self.question, self.future = None, None

    def waiting_on(self, question: Question) -> bool:
        """Whether this question still waits (a dialog's answer may come after it was withdrawn)."""
        return self.question is question

    def can(self, action: str) -> bool:
        """Whether an action can do anything now (the footer dims the others)."""
        q = self.question
        if action in ANSWER_OF:
            return q is not None and ANSWER_OF[action] in q.allowed
        if action == "run":
            if self.load_error or self.starting or self.finished:
                return False
            return not self.started or (q is not None and q.kind in APPROVALS)
        if action == "note":
            return self.started and not self.finished
        return True

    def refusal(self, answer: str, keys: Callable[[Question], str]) -> tuple[Question | None, str]:
        """The question `answer` may answer now, or why not (for the operator)."""
        q = self.question
        if q is not None and answer in q.allowed:
            return q, ""
        if not self.started:
            return None, "the run has not started: r starts it"
        if q is None:
            return None, f"nothing is waiting for '{answer}' now"
        return None, f"'{answer}' is not an answer here; " + keys(q)

    def rollback_plan(self) -> list[tuple[str, str]]:
        return self.session.rollback_plan() if self.session is not None else []

    def note(self, text: str, step_id: str | None) -> None:
        """An operator's note, into the audit log."""
        assert self.session is not None
        self.session.runner.emit(ev.Note(f"operator note: {text}", step_id))

    def interrupt(self) -> None:
        if self.session is not None:
            self.session.runner.interrupt()

    def witnessing(self) -> str:
        """How far the run is witnessed ("unwitnessed: N records, T s"), "" without witnesses."""
        return self.session.witnessing() if self.session is not None else ""

    def progress(self) -> tuple[int, int]:
        return self.model.progress()

