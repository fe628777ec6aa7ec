"""The Operator protocol: the engine asks, a person (or a script standing in for one) answers.

The UI, the headless auto operator and the test operator all implement `ask`; what a question
and an answer are lives in `record.questions`.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Callable, Collection, Literal, Protocol, Sequence

from ..record.questions import ALLOWED, Answer, Question

MAX_ANSWER_RETRIES = 3
"""Retries one `--answer STEP=retry` buys that step: a failing command is not re-run without
limit when nobody is watching; after them the run waits (exit 4) for a person to look."""
ANSWER_ACTIONS = tuple(dict.fromkeys(a for kind in ("failed", "gate_failed", "unknown") for a in ALLOWED[kind]))
"""What `--answer STEP=ACTION` may say: the answers to a failed step, a failed gate or an unknown outcome."""


class NoAnswer(Exception):
    """The operator gave no answer it may give (headless without the flag that would answer)."""

    def __init__(self, question: Question, hint: str):
        self.question = question
        self.hint = hint
        super().__init__(f"{question.step_id}: {question.kind} needs an answer: {hint}")


class Operator(Protocol):
    async def ask(self, question: Question) -> Answer:
        ...


@dataclass
class AutoOperator:
    """Headless answers given up front on the command line; anything else is NoAnswer (exit 4).

    `--yes` answers yes-no confirmations only. A typed confirmation is answered only by a
    matching `--confirm STEP=TEXT`, a manual step only by `--attest STEP`, a choice only by
    `--choose STEP=OPTION`; failures and unknown outcomes only by `--answer STEP=ACTION[:REASON]`
    (a retry at most MAX_ANSWER_RETRIES times per step).
    """

    yes: bool = False
    confirms: dict[str, str] = field(default_factory=dict)
    attests: set[str] = field(default_factory=set)
    choices: dict[str, str] = field(default_factory=dict)
    answers: dict[str, tuple[str, str]] = field(default_factory=dict)
    resume: bool = False
    unwitnessed: set[str] = field(default_factory=set)
    """Steps `--proceed-unwitnessed STEP` lets run without a witness's cosignature."""
    on_failure: Literal["fail", "rollback"] = "fail"
    retried: dict[str, int] = field(default_factory=dict)
    """Retries given so far per step, by `--answer STEP=retry`."""

    def problems(self, runbook_id: str, steps: Collection[str]) -> list[str]:
        """One line per answer flag that cannot be right for this runbook: a step it does not
        have (a typo would otherwise be ignored and the run stop, or go on, for another reason),
        an action no question accepts."""
        out: list[str] = []
        named = [("--confirm", sid) for sid in self.confirms] + [("--attest", sid) for sid in sorted(self.attests)]
        named += [("--choose", sid) for sid in self.choices] + [("--answer", sid) for sid in self.answers]
        named += [("--proceed-unwitnessed", sid) for sid in sorted(self.unwitnessed)]
        for flag, sid in named:
            if sid not in steps:
                near = difflib.get_close_matches(sid, list(steps), n=1)
                out.append(f"{flag} {sid}: {runbook_id} has no step {sid!r}" + (f" (did you mean {near[0]!r}?)" if near else ""))
        for sid, (action, reason) in self.answers.items():
            if action not in ANSWER_ACTIONS:
                out.append(f"--answer {sid}={action}: no action {action!r}; one of {', '.join(ANSWER_ACTIONS)}")
            elif action == "skip" and not reason.strip():
                out.append(f"--answer {sid}=skip: skipping a step needs a reason: --answer {sid}=skip:REASON")
        return out

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
        if q.kind == "unwitnessed" and q.step_id in self.unwitnessed:
            return Answer("proceed_unwitnessed", text=q.expected_text, reason="--proceed-unwitnessed")
        if q.kind == "resume" and self.resume:
            return Answer("continue", reason="--resume")
        if q.step_id in self.answers and (q.kind in ("gate_failed", "failed", "unknown")
                                          or (q.kind == "approval_refused" and self.answers[q.step_id][0] in q.allowed)):
            action, reason = self.answers[q.step_id]
            if action == "retry":
                done = self.retried.get(q.step_id, 0)
                if done >= MAX_ANSWER_RETRIES:
                    raise NoAnswer(q, f"--answer {q.step_id}=retry was used for {done} retries and the step still does not pass: find out why, "
                                      f"then rerun with --resume and --answer {q.step_id}=ACTION (retry, skip:REASON, rollback, abort)")
                self.retried[q.step_id] = done + 1
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
            "unwitnessed": f"no witness has cosigned this step's confirmation ({q.detail}): rerun with --resume once one answers, "
                           f"or with --proceed-unwitnessed {q.step_id} to run it unwitnessed (the run is then marked degraded)",
            "approval": f"{q.step_id} needs a second operator: {q.detail}. They run `hamn approve` (or sign the request file "
                        f"elsewhere: hamn approve --request FILE --out ANSWER); then rerun with --resume (and --approval {q.step_id}=ANSWER)"
                        f" before the request expires",
            "approval_refused": f"the approval did not pass ({q.detail}): rerun with --resume --answer {q.step_id}=retry for a new request",
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
