"""The Operator protocol: the engine asks, a person (or a script standing in for one) answers.

Every question carries its full context — the resolved command, node, user, the checks'
current values and why each passed or failed — because an operator must see what they are
approving. The UI, the headless auto operator and the test operator all implement `ask`.
"""
from __future__ import annotations

import getpass
from dataclasses import dataclass, field
from typing import Callable, Literal, Protocol, Sequence

from .events import CheckOutcome

QuestionKind = Literal["confirm", "typed", "manual", "choice", "gate_failed", "failed", "unknown", "resume", "lock_held"]
Action = Literal["run", "skip", "retry", "rollback", "abort", "attest", "choose", "done", "fail", "continue", "break_lock"]

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
}
"""Answers each kind of question accepts. `skip` always needs a reason; so do `done` and
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
    os_user: str = field(default_factory=lambda: _os_user())


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers): still record something true
        return "unknown"


class NoAnswer(Exception):
    """The operator gave no answer it may give (headless without the flag that would answer)."""

    def __init__(self, question: Question, hint: str):
        self.question = question
        self.hint = hint
        super().__init__(f"{question.step_id}: {question.kind} needs an answer: {hint}")


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
    if q.kind == "lock_held" and a.action == "break_lock" and a.text != q.expected_text:
        raise InvalidAnswer(f"breaking another operator's lock needs the typed text: {q.expected_text}")
    if q.kind == "choice" and a.action == "choose" and a.choice not in {o.id for o in q.options}:
        raise InvalidAnswer(f"{a.choice!r} is not one of {', '.join(o.id for o in q.options)}")


class Operator(Protocol):
    async def ask(self, question: Question) -> Answer:
        ...


@dataclass
class AutoOperator:
    """Headless answers given up front on the command line; anything else is NoAnswer (exit 4).

    `--yes` answers yes-no confirmations only. A typed confirmation is answered only by a
    matching `--confirm STEP=TEXT`, a manual step only by `--attest STEP`, a choice only by
    `--choose STEP=OPTION`; failures and unknown outcomes only by `--answer STEP=ACTION[:REASON]`.
    """

    yes: bool = False
    confirms: dict[str, str] = field(default_factory=dict)
    attests: set[str] = field(default_factory=set)
    choices: dict[str, str] = field(default_factory=dict)
    answers: dict[str, tuple[str, str]] = field(default_factory=dict)
    resume: bool = False
    on_failure: Literal["fail", "rollback"] = "fail"

    async def ask(self, q: Question) -> Answer:
        if q.kind == "confirm" and self.yes:
            return Answer("run", reason="--yes")
        if q.kind == "typed":
            given = self.confirms.get(q.step_id)
            if given == q.expected_text:
                return Answer("run", text=given, reason="--confirm")
            if given is not None:
                raise NoAnswer(q, f"--confirm {q.step_id}={given!r} does not match: the text to type is {q.expected_text!r}")
            raise NoAnswer(q, f"typed confirmation: rerun with --confirm {q.step_id}={q.expected_text!r} to approve it")
        if q.kind == "manual" and q.step_id in self.attests:
            return Answer("attest", reason="--attest")
        if q.kind == "choice" and q.step_id in self.choices:
            return Answer("choose", choice=self.choices[q.step_id], reason="--choose")
        if q.kind == "resume" and self.resume:
            return Answer("continue", reason="--resume")
        if q.step_id in self.answers and q.kind in ("gate_failed", "failed", "unknown"):
            action, reason = self.answers[q.step_id]
            return Answer(action, reason=reason or f"--answer {q.step_id}={action}")  # type: ignore[arg-type]
        if q.kind in ("failed", "gate_failed"):
            return Answer(self.on_failure, reason="headless: the run stops at a failed step or gate")
        hints = {
            "confirm": "rerun with --yes to approve yes/no confirmations",
            "manual": f"a manual step: do it, then rerun with --attest {q.step_id}",
            "choice": f"a choice: rerun with --choose {q.step_id}=OPTION ({', '.join(o.id for o in q.options)})",
            "unknown": f"the outcome is unknown: check it, then rerun with --resume --answer {q.step_id}=done:REASON (or fail, retry, skip)",
            "resume": "an unfinished run exists: rerun with --resume to continue it",
            "lock_held": "another run holds the cluster lock",
        }
        raise NoAnswer(q, hints.get(q.kind, "no answer given"))


@dataclass
class ScriptedOperator:
    """For tests: answers from a function or a list, and remembers every question."""

    script: Callable[[Question], Answer] | Sequence[Answer]
    asked: list[Question] = field(default_factory=list)

    async def ask(self, q: Question) -> Answer:
        self.asked.append(q)
        if callable(self.script):
            return self.script(q)
        index = len(self.asked) - 1
        if index >= len(self.script):
            raise NoAnswer(q, "script ran out of answers")
        return self.script[index]
