"""The one fold of a run's events into its state: each step's status, commands, checks and
answers, and what a resumed run needs.

A live run feeds it events as they happen (the TUI's run screen); the audit log's records are
decoded into the same events and folded by the same code for resume and review, so the auditor
sees exactly what the operator saw, and resume reads back exactly what happened.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from . import events as ev
from .codec import decode
from .events import CheckOutcome, Event, StepOutcome
from .questions import Question

FINAL = {"done", "failed", "skipped", "unknown", "rolled_back"}
MARKS = {"pending": " ", "running": "▶", "asking": "?", "done": "✓", "failed": "✗", "skipped": "–", "unknown": "?",
         "rolled_back": "↶", "rolling_back": "↶"}
"""One glyph per status: the step list stays readable without colour (16-colour consoles, screen readers)."""


@dataclass
class RunState:
    """What a run has decided so far; the journal rebuilds it on resume."""

    outcomes: dict[str, StepOutcome] = field(default_factory=dict)
    choices: dict[str, str] = field(default_factory=dict)
    captured: dict[str, str] = field(default_factory=dict)
    in_flight: str | None = None
    """A step that started and did not finish before the last run stopped."""
    sent_in_flight: bool = False
    """Whether a command of that step was sent (its outcome is then unknown)."""
    approvals: dict[str, str] = field(default_factory=dict)
    """Four-eyes requests made and not yet decided, per step: the request's canonical line (a
    resumed run waits for the answer to the same request while it has not expired)."""
    degraded: list[str] = field(default_factory=list)
    """Why the run is degraded: each dangerous step that ran without a witness's cosignature."""


NODE_STATES = ("running", "done", "failed", "unknown")


def node_outcome(ending: str, exit_status: int | None) -> str:
    """A node's outcome in a group step, as its transport reported it: exit 0 is done, a lost
    sight of the command (timeout, lost, cancelled) is unknown, anything else failed. Read from
    the events alone, so a live run and its review count the same."""
    if ending == "exited":
        return "done" if exit_status == 0 else "failed"
    if ending in ("timeout", "lost", "cancelled"):
        return "unknown"
    return "failed"


@dataclass(frozen=True)
class NodeTally:
    """A group step's nodes at a glance: how many in each state, and which need a look."""

    total: int
    running: int
    done: int
    failed: int
    unknown: int
    waiting: int
    """Nodes of the group not reached yet (known only while the run's plan is at hand, 0 in a review)."""
    failed_nodes: tuple[str, ...]
    unknown_nodes: tuple[str, ...]
    running_nodes: tuple[str, ...]


@dataclass
class CommandRow:
    node: str
    user: str | None
    command: str
    mutating: bool
    rollback: bool
    ending: str = "running"
    exit_status: int | None = None
    error: str | None = None
    duration_s: float = 0.0
    stdout_sha256: str = ""
    stdout_size: int = 0
    stderr_sha256: str = ""
    stderr_size: int = 0

    def result(self) -> str:
        if self.ending == "running":
            return "running…"
        if self.ending == "exited":
            return f"exit {self.exit_status}"
        return self.ending + (f": {self.error}" if self.error else "")


@dataclass
class StepRow:
    id: str
    title: str
    kind: str = "command"
    node: str = ""
    section: str = "steps"
    role: str = ""
    """The role the runbook named (`standby`) when `node` is the node it is bound to."""
    status: str = "pending"
    reason: str = ""
    explain: str = ""
    doc: str = ""
    user: str | None = None
    planned: tuple[str, ...] = ()
    """The step's commands resolved for display (secrets as ******) before it runs."""
    commands: list[CommandRow] = field(default_factory=list)
    checks: dict[str, tuple[CheckOutcome, ...]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    choice: str | None = None
    nodes: list[str] = field(default_factory=list)
    targets: tuple[str, ...] = ()
    """A group step's nodes as planned (the group's members), so nodes not reached yet count as waiting."""
    node_states: dict[str, str] = field(default_factory=dict)
    """A group step's latest attempt, per node: running, done, failed or unknown (`node_outcome`)."""
    guards: list[tuple[str, str]] = field(default_factory=list)
    """What the step waited for, in order, as (kind, text): `requested` (a four-eyes request: its
    code and id), an approval's verdict (`approved`, `rejected`, `refused`, `expired`,
    `withdrawn`: who, why), and the witness gate (`cosigned` by whom, or `unwitnessed`)."""

    @property
    def mark(self) -> str:
        return MARKS.get(self.status, "?")

    @property
    def is_group(self) -> bool:
        """The step fans out to a group of nodes (`node = "@group"`)."""
        return self.node.startswith("@") or bool(self.targets)

    def tally(self) -> NodeTally:
        by: dict[str, list[str]] = {state: [] for state in NODE_STATES}
        for node, state in self.node_states.items():
            by[state].append(node)
        waiting = sum(1 for n in self.targets if n not in self.node_states)
        return NodeTally(len(self.node_states) + waiting, len(by["running"]), len(by["done"]), len(by["failed"]), len(by["unknown"]), waiting,
                         tuple(by["failed"]), tuple(by["unknown"]), tuple(by["running"]))


class RunFold:
    """Steps in runbook order with their status, commands, checks and the operator's answers,
    and `state`, what a resumed run needs (outcomes, choices, captures, the step in flight)."""

    def __init__(self, rows: Iterable[StepRow] = (), roles: Mapping[str, str] | None = None, runbook_id: str = "", title: str = ""):
        self.steps: dict[str, StepRow] = {row.id: row for row in rows}
        self.run_id = ""
        self.runbook_id = runbook_id
        self.title = title
        self.training = False
        self.dry_run = False
        self.outcome: str | None = None
        """The run's final outcome, None while it has not finished ("waiting" runs are resumable)."""
        self.reason = ""
        self.current: str | None = None
        self.question: Question | None = None
        self.lock: dict[str, Any] = {}
        self.notes: list[str] = []
        self.roles: dict[str, str] = dict(roles or {})
        self.started: dict[str, Any] = {}
        """The run_started event's fields (parameters, roles, operator…)."""
        self.state = RunState()

    # --- progress --------------------------------------------------------------------------------
    def progress(self) -> tuple[int, int]:
        """(finished, total) over the main steps; `always` steps are housekeeping, not progress."""
        main = [s for s in self.steps.values() if s.section == "steps"]
        return sum(s.status in FINAL for s in main), len(main)

    def order(self) -> list[StepRow]:
        return list(self.steps.values())

    # --- folding events --------------------------------------------------------------------------
    def apply(self, event: Event) -> str | None:
        """Fold one event in; returns the id of the step it changed (None: run-level)."""
        self._fold_state(event)
        if isinstance(event, ev.RunStarted):
            self.started = dataclasses.asdict(event)
            self.run_id, self.runbook_id = event.run_id, event.runbook_id
            self.training, self.dry_run = event.training, event.dry_run
            self.roles = dict(event.roles) or self.roles
            self.outcome = None
            return None
        if isinstance(event, ev.RunFinished):
            self.outcome, self.reason = event.outcome, event.reason
            self.current = None
            return None
        if isinstance(event, ev.LockEvent):
            self.lock = {"action": event.action, **event.holder}
            return None
        sid = getattr(event, "step_id", None)
        if not sid:
            if isinstance(event, ev.Note):
                self.notes.append(event.text)
            return None
        row = self.steps.get(sid)
        if row is None:
            row = self.steps[sid] = StepRow(sid, getattr(event, "title", sid))
        if isinstance(event, ev.StepStarted):
            row.title, row.kind, row.section = event.title, event.kind, event.section
            row.node = self.roles.get(event.node, event.node)
            row.role = event.node if row.node != event.node else ""
            row.status, row.reason = "running", ""
            row.node_states = {}  # a new attempt (a retry runs on every node again)
            self.current = sid
        elif isinstance(event, ev.StepSkipped):
            row.status, row.reason = "skipped", event.reason
        elif isinstance(event, ev.ChecksEvaluated):
            row.checks[event.phase] = event.outcomes
        elif isinstance(event, ev.QuestionAsked):
            row.status = "asking"
        elif isinstance(event, ev.Answered):
            extra = f" — {event.reason}" if event.reason else ""
            row.answers.append(f"{event.kind}: {event.action} by {event.os_user}{extra}")
            if row.status == "asking":
                row.status = "running"
        elif isinstance(event, ev.CommandSent):
            row.commands.append(CommandRow(event.node, event.user, event.command, event.mutating, event.rollback))
            if event.node not in row.nodes:
                row.nodes.append(event.node)
            if not event.rollback:
                row.node_states[event.node] = "running"
        elif isinstance(event, ev.CommandFinished):
            if not event.rollback:
                row.node_states[event.node] = node_outcome(event.ending, event.exit_status)
            for cmd in reversed(row.commands):
                if cmd.node == event.node and cmd.ending == "running":
                    cmd.ending, cmd.exit_status, cmd.error = event.ending, event.exit_status, event.error
                    cmd.duration_s = event.duration_us / 1e6
                    break
        elif isinstance(event, ev.StepFinished):
            row.status, row.reason, row.choice = event.outcome, event.reason, event.choice
        elif isinstance(event, ev.RollbackStarted):
            row.status = "rolling_back"
        elif isinstance(event, ev.RollbackFinished):
            row.status = "rolled_back" if event.ok else "failed"
            if not event.ok:
                row.reason = f"rollback failed: {event.reason}"
        elif isinstance(event, ev.Note):
            row.notes.append(event.text)
        elif isinstance(event, ev.QuestionWithdrawn):
            if row.status == "asking":
                row.status = "running"
            row.notes.append(f"{event.kind} question withdrawn: {event.reason}")
        elif isinstance(event, ev.WitnessGate):
            row.guards.append((event.outcome, f"cosigned by {event.witness} (records 0–{event.records - 1}) before it ran"
                               if event.outcome == "cosigned" else f"DEGRADED: ran without a witness's cosignature, typed by {event.os_user}"))
        elif isinstance(event, ev.ApprovalRequested):
            row.guards.append(("requested", f"code {event.code}, request {event.request_id}"))
        elif isinstance(event, ev.ApprovalDecided):
            who = f" by {event.approver} ({event.approver_key})" if event.approver else ""
            row.guards.append((event.verdict, f"{event.verdict}{who}" + (f": {event.reason}" if event.reason else "")))
        elif isinstance(event, ev.Captured):
            row.notes.append(f"captured {event.name} = {event.value}")
        return sid

    def _fold_state(self, event: Event) -> None:
        st = self.state
        if isinstance(event, ev.StepStarted):
            # a step announced again after a resume keeps its unknown command: only its
            # step_finished (an operator's decision) clears it
            if event.step_id != st.in_flight:
                st.in_flight, st.sent_in_flight = event.step_id, False
        elif isinstance(event, ev.CommandSent) and not event.rollback:
            st.sent_in_flight = True
        elif isinstance(event, ev.Captured):
            st.captured[event.name] = event.value
        elif isinstance(event, (ev.StepFinished, ev.StepSkipped)):
            st.outcomes[event.step_id] = event.outcome if isinstance(event, ev.StepFinished) else "skipped"
            if isinstance(event, ev.StepFinished) and event.choice:
                st.choices[event.step_id] = event.choice
            st.in_flight, st.sent_in_flight = None, False
        elif isinstance(event, ev.RollbackFinished) and event.ok:
            st.outcomes[event.step_id] = "rolled_back"
        elif isinstance(event, ev.ApprovalRequested):
            st.approvals[event.step_id] = event.request
        elif isinstance(event, ev.ApprovalDecided):
            st.approvals.pop(event.step_id, None)
        elif isinstance(event, ev.WitnessGate) and event.outcome == "unwitnessed":
            st.degraded.append(f"{event.step_id} ran unwitnessed (records 0–{event.records - 1} had no cosignature), "
                               f"typed by {event.os_user or 'the operator'}")

    def apply_record(self, rec: dict[str, Any]) -> str | None:
        """Fold one audit record in; a finished command also learns where its output is stored."""
        event = decode(rec)
        if event is None:
            return None
        sid = self.apply(event)
        if isinstance(event, ev.CommandFinished) and sid in self.steps:
            d = rec["data"]
            for cmd in reversed(self.steps[sid].commands):
                if cmd.node == event.node and cmd.ending == event.ending and not cmd.stdout_sha256:
                    cmd.stdout_sha256, cmd.stdout_size = d.get("stdout_sha256", ""), d.get("stdout_size", 0)
                    cmd.stderr_sha256, cmd.stderr_size = d.get("stderr_sha256", ""), d.get("stderr_size", 0)
                    break
        return sid
