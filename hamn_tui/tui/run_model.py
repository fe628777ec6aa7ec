"""What the run screen shows, as plain data folded from the engine's events.

The run screen and the review screen share it: a live run feeds it events as they happen, a
review feeds it the same events rebuilt from the audit log's records (record and replay), so
an auditor sees a finished run in exactly the widgets the operator saw. No Textual here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, get_args

from ..engine import events as ev
from ..engine.events import CheckOutcome, Event
from ..engine.operator import Question
from ..runbook.model import Runbook, Step

FINAL = {"done", "failed", "skipped", "unknown", "rolled_back"}
MARKS = {"pending": " ", "running": "▶", "asking": "?", "done": "✓", "failed": "✗", "skipped": "–", "unknown": "?",
         "rolled_back": "↶", "rolling_back": "↶"}
"""One glyph per status: the step list stays readable without colour (16-colour consoles, screen readers)."""


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

    @property
    def mark(self) -> str:
        return MARKS.get(self.status, "?")


class RunModel:
    """Steps in runbook order with their status, commands, checks and the operator's answers."""

    def __init__(self, runbook: Runbook | None = None, ctx: Any = None):
        self.steps: dict[str, StepRow] = {}
        self.run_id = ""
        self.runbook_id = runbook.runbook.id if runbook else ""
        self.title = runbook.runbook.title if runbook else ""
        self.training = False
        self.dry_run = False
        self.outcome: str | None = None
        self.reason = ""
        self.current: str | None = None
        self.question: Question | None = None
        self.lock: dict[str, Any] = {}
        self.notes: list[str] = []
        self.roles: dict[str, str] = dict(ctx.roles) if ctx is not None else {}
        if runbook is not None:
            for section, steps in (("steps", runbook.steps), ("always", runbook.always)):
                for step in steps:
                    self.steps[step.id] = _row(step, section, ctx)

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
        if isinstance(event, ev.RunStarted):
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
        elif isinstance(event, ev.CommandFinished):
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
        elif isinstance(event, ev.Captured):
            row.notes.append(f"captured {event.name} = {event.value}")
        return sid


def reflow(text: str) -> str:
    """TOML prose is wrapped by hand at ~100 columns; let the terminal wrap it (paragraphs kept)."""
    paragraphs = [" ".join(p.split()) for p in text.strip().split("\n\n")]
    return "\n".join(p for p in paragraphs if p)


def _row(step: Step, section: str, ctx: Any) -> StepRow:
    node = ctx.roles.get(step.node, step.node) if ctx is not None else step.node
    role = step.node if node != step.node else ""
    if ctx is not None:
        try:
            planned = tuple(ctx.shown(c, node) for c in step.commands())
            title, explain = ctx.prose(step.title), ctx.prose(step.explain, node)
            user = ctx.prose(step.user, node) if step.user else None
        except Exception:  # a placeholder from a capture not made yet: show the template
            planned, title, explain, user = tuple(step.commands()), step.title, step.explain, step.user
    else:
        planned, title, explain, user = tuple(step.commands()), step.title, step.explain, step.user
    return StepRow(step.id, title, step.kind, node, section, role=role, explain=reflow(explain), doc=step.doc, user=user, planned=planned)


# --- replay from the audit log ----------------------------------------------------------------------
_CLASSES = {ev.type_name(cls): cls for cls in get_args(ev.Event) if cls is not ev.OutputChunk}
"""Record type → event class; output chunks are not records (the output store holds them)."""


def event_from_record(rec: dict[str, Any]) -> Event | None:
    """The engine event an audit record was written from (None for the log's own records)."""
    cls = _CLASSES.get(rec["type"])
    if cls is None:
        return None
    data = dict(rec["data"])
    if cls is ev.ChecksEvaluated:
        data["outcomes"] = tuple(CheckOutcome(**{k: o.get(k, "") for k in CheckOutcome.__dataclass_fields__}) for o in data["outcomes"])
    if cls is ev.CommandFinished:
        data = {"stdout_bytes": data.get("stdout_size", 0), "stderr_bytes": data.get("stderr_size", 0), **data}
    fields = cls.__dataclass_fields__
    return cls(**{k: v for k, v in data.items() if k in fields})  # type: ignore[arg-type]


def apply_record(model: RunModel, rec: dict[str, Any]) -> str | None:
    """Fold one audit record in; a finished command also learns where its output is stored."""
    event = event_from_record(rec)
    if event is None:
        return None
    sid = model.apply(event)
    if isinstance(event, ev.CommandFinished) and sid in model.steps:
        d = rec["data"]
        for cmd in reversed(model.steps[sid].commands):
            if cmd.node == event.node and cmd.ending == event.ending and not cmd.stdout_sha256:
                cmd.stdout_sha256, cmd.stdout_size = d.get("stdout_sha256", ""), d.get("stdout_size", 0)
                cmd.stderr_sha256, cmd.stderr_size = d.get("stderr_sha256", ""), d.get("stderr_size", 0)
                break
    return sid
