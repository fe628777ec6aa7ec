"""Questions the runner asks an operator, and the answers it accepts.

Every question carries its full context — the resolved command, node, user, the checks'
current values and why each passed or failed — because an operator must see what they are
approving. Part of the run-record vocabulary: the TUI, the headless operator and the engine all
speak it, and `check_answer` is the one rule for what an answer may be.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..settings import os_user as _current_user
from .events import CheckOutcome

QuestionKind = Literal["confirm", "typed", "manual", "choice", "gate_failed", "failed", "unknown", "resume", "lock_held",
                       "unwitnessed", "approval", "approval_refused"]
Action = Literal["run", "skip", "retry", "rollback", "abort", "attest", "choose", "done", "fail", "continue", "break_lock",
                 "proceed_unwitnessed"]

ALLOWED: dict[str, tuple[str, ...]] = {
    "confirm": ("run", "skip", "abort"),
    "typed": ("run", "skip", "abort"),
    "manual": ("attest", "skip", "abort"),
    "choice": ("choose", "abort"),
    "gate_failed": ("retry", "skip", "rollback", "fail", "abort"),
    "failed": ("retry", "skip", "rollback", "fail", "abort"),
    "unknown": ("done", "fail", "retry", "skip", "abort"),
    "resume": ("continue", "abort"),
    "lock_held": ("break_lock", "abort"),
    "unwitnessed": ("proceed_unwitnessed", "skip", "abort"),
    "approval": ("skip", "abort"),
    "approval_refused": ("retry", "skip", "abort"),
}
"""Answers each kind of question accepts. `unwitnessed` waits for a witness's cosignature (it is
withdrawn when one comes); `approval` waits for a second operator (withdrawn when they answer);
`approval_refused` follows an answer that cannot count (`retry` makes a new request). `skip` always needs a reason; so do `done` and
`fail` on an unknown outcome (the operator decides what happened, and says why)."""


@dataclass(frozen=True)
class Option:
    id: str
    label: str
    explain: str = ""


@dataclass(frozen=True)
class Question:
    kind: QuestionKind
    step_id: str
    title: str
    explain: str = ""
    node: str = ""
    user: str | None = None
    commands: tuple[str, ...] = ()
    """Resolved commands as they will run (secrets shown as ******)."""
    checks: tuple[CheckOutcome, ...] = ()
    expected_text: str = ""
    """For typed confirmations: what must be typed."""
    options: tuple[Option, ...] = ()
    detail: str = ""
    """What happened (a failure's exit status, an unknown outcome's ending, a lock holder)."""

    @property
    def allowed(self) -> tuple[str, ...]:
        return ALLOWED[self.kind]


@dataclass(frozen=True)
class Answer:
    action: Action
    reason: str = ""
    text: str = ""
    choice: str = ""
    os_user: str = field(default_factory=_current_user)


class InvalidAnswer(ValueError):
    pass


def check_answer(q: Question, a: Answer) -> None:
    """Refuse an answer the question does not accept; the runner asks again."""
    if a.action not in q.allowed:
        raise InvalidAnswer(f"{a.action!r} is not an answer to a {q.kind} question; allowed: {', '.join(q.allowed)}")
    if a.action == "skip" and not a.reason.strip():
        raise InvalidAnswer("skipping a step needs a reason")
    if q.kind == "unknown" and a.action in ("done", "fail") and not a.reason.strip():
        raise InvalidAnswer("deciding an unknown outcome needs a reason (what you checked)")
    if q.kind == "typed" and a.action == "run" and a.text != q.expected_text:
        raise InvalidAnswer(f"typed text does not match; type exactly: {q.expected_text}")
    if q.kind == "unwitnessed" and a.action == "proceed_unwitnessed" and a.text != q.expected_text:
        raise InvalidAnswer(f"proceeding without a witness needs the typed text: {q.expected_text}")
    if q.kind == "lock_held" and a.action == "break_lock" and a.text != q.expected_text:
        raise InvalidAnswer(f"breaking another operator's lock needs the typed text: {q.expected_text}")
    if q.kind == "choice" and a.action == "choose" and a.choice not in {o.id for o in q.options}:
        raise InvalidAnswer(f"{a.choice!r} is not one of {', '.join(o.id for o in q.options)}")
