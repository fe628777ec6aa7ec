"""The runner: walks a runbook step by step — when, gates, confirmation, command, verify — and
emits an event for everything it does. It never decides an unknown outcome on its own and
never runs a step twice without the operator's consent.

Step states: pending → gating → awaiting the operator → running → verifying →
done | failed | skipped | unknown; a done step may later be rolled back.
"""
from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable, Literal, Sequence

from ..record.fold import RunState
from ..record.redact import REDACTED
from ..runbook.context import PlatformError, RunContext
from ..runbook.model import Rollback, Runbook, RunSpec, Step, When
from ..transport.base import Result, Transport, TransportError
from ..transport.reach import MEMO
from ..transport.router import bounded
from .checks import CheckEvaluator, Sleep
from .guards import UNWITNESSED_TEXT, ApprovalUnavailable, Pending, SecondOperator, Witnesses, gate_readings
from ..record.events import (
    Answered, ApprovalDecided, ApprovalRequested, Captured, CheckOutcome, ChecksEvaluated, CommandFinished, CommandSent,
    Event, LockEvent, Note, OutputChunk, QuestionAsked, QuestionWithdrawn, RollbackFinished, RollbackStarted, RunFinished,
    RunOutcome, RunStarted, StepFinished, StepOutcome, StepSkipped, StepStarted, Subscriber, WitnessGate,
)
from ..record.questions import Answer, InvalidAnswer, Option, Question, check_answer
from .operator import NoAnswer, Operator

MAX_REFUSED_ANSWERS = 50
MAX_RETRIES = 50
"""Retries of one step a runner accepts from any operator: a backstop under the headless
operator's own small cap, so an operator that answers retry without limit (a script, a bug)
makes the run wait instead of re-running a failing — perhaps irreversible — command forever.
A person retrying by hand never comes near it."""
MAX_KEPT_OUTPUT = 16 * 1024 * 1024
"""Output kept in memory per command for `expect` and `capture` (the full output goes to the subscribers)."""


APPROVAL_GRACE_S = 0.5
"""Before the dialog "waiting for a second operator" shows: an answer already there is read first."""

SCENARIO_NOTE = "training scenario: "
"""How a training run's log names its scenario (a note record: the audit schema is unchanged)."""

Flow = Literal["continue", "retry", "stop"]


@dataclass
class StepEnd:
    flow: Flow
    outcome: RunOutcome = "done"
    reason: str = ""


class Runner:
    def __init__(
        self,
        runbook: Runbook,
        ctx: RunContext,
        transport: Transport,
        probes: Any,
        operator: Operator,
        *,
        run_id: str,
        runbook_path: str = "",
        runbook_sha256: str = "",
        operator_name: str = "",
        dry_run: bool = False,
        training: bool = False,
        subscribers: Iterable[Subscriber] = (),
        sleep: Sleep = asyncio.sleep,
        state: RunState | None = None,
        lock: Any = None,
        lock_holder: Any = None,
        transport_name: str = "ssh",
        clock: Callable[[], float] = time.monotonic,
        scenario: str | None = None,
        witnesses: Witnesses | None = None,
        second_operator: SecondOperator | None = None,
    ):
        self.rb = runbook
        self.ctx = ctx
        self.transport = transport
        self.operator = operator
        self.run_id = run_id
        self.runbook_path = runbook_path
        self.runbook_sha256 = runbook_sha256
        self.operator_name = operator_name
        self.dry_run = dry_run
        self.training = training
        self.subscribers = list(subscribers)
        self.sleep = sleep
        self.resumed = state is not None
        self.state = state or RunState()
        self.ctx.captured.update(self.state.captured)
        self.ctx.outcomes = self.state.outcomes  # shared: probes see outcomes as they happen
        self.lock = lock
        self.lock_holder = lock_holder
        self.transport_name = transport_name
        self.clock = clock
        self.checks = CheckEvaluator(probes, ctx, sleep, self._group_members, clock)
        self.witnesses = witnesses
        """The run's witnesses: a dangerous step waits for one's cosignature (None: not witnessed)."""
        self.second_operator = second_operator
        """Who approves steps that need a second operator (None: such a step cannot run)."""
        self.scenario = scenario
        """The training scenario rehearsed (recorded in the log as a note: a resume must use the same)."""
        self._cancels: set[asyncio.Event] = set()
        self._interrupted = False
        self._retries: dict[str, int] = {}
        self.would_stop: list[tuple[str, str]] = []
        """A dry run's findings: each gate or check that would stop the real run, (step, why)."""
        self._not_run: str | None = None
        """A dry run: the first mutating step it did not run; after it, what checks see is not what the real run would."""

    def interrupt(self) -> bool:
        """The operator stops what is running now (the TUI's abort while a command runs).

        Running commands are cancelled — their outcome is then unknown and the operator is asked,
        as after a timeout; a wait step stops polling and asks. Returns whether anything was running.
        """
        self._interrupted = True
        for cancel in self._cancels:
            cancel.set()
        return bool(self._cancels)

    # --- events ------------------------------------------------------------------------------
    def emit(self, event: Event) -> list[Awaitable[Any]]:
        """Every subscriber sees the event before the runner goes on (a failing journal stops the run).

        Returns what subscribers still finish in the background: the journal's fsync of a mutating
        command_sent (group commit), which `_exec` awaits before it starts the command.
        """
        waits: list[Awaitable[Any]] = []
        for sub in self.subscribers:
            pending = sub(event)
            if pending is not None:
                waits.append(pending)
        return waits

    def _group_members(self, group: str) -> list[str]:
        cluster = self.ctx.cluster
        return list(cluster.groups.get(group, [])) if cluster else []

    def _nodes(self, node: str) -> list[str]:
        if node.startswith("@"):
            return self._group_members(node[1:])
        return [self.ctx.roles.get(node, node)]

    # --- the run -------------------------------------------------------------------------------
    async def run(self) -> RunOutcome:
        safe_params = {k: (REDACTED if self.rb.params[k].type == "secret" else v) for k, v in self.ctx.params.items()}
        self.emit(RunStarted(self.run_id, self.rb.runbook.id, self.rb.runbook.version, self.runbook_sha256, self.runbook_path,
                             safe_params, self.ctx.cluster.cluster.name if self.ctx.cluster else None, dict(self.ctx.roles),
                             self.operator_name, self.dry_run, self.training, self.resumed))
        if self.scenario is not None:
            self.emit(Note(f"{SCENARIO_NOTE}{self.scenario}"))
        outcome: RunOutcome = "done"
        reason = ""
        locked = False
        if self.lock is not None and not self.dry_run:
            try:
                locked = await self._take_lock()
            except (NoAnswer, _Aborted) as exc:
                # nothing ran and nothing may run: not even the always section, which would
                # act under another operator's feet
                self.emit(RunFinished("aborted", f"not started: {getattr(exc, 'hint', exc)}"))
                return "aborted"
        try:
            if self.resumed:
                await self._ask_resume()
            outcome, reason = await self._steps()
        except NoAnswer as exc:
            outcome, reason = "waiting", exc.hint
        except _Aborted as exc:
            outcome, reason = "aborted", str(exc)
        if outcome == "done" and self.would_stop:
            # a rehearsal that found the real run would stop must not end "done"
            steps = list(dict.fromkeys(sid for sid, _ in self.would_stop))
            outcome, reason = "failed", f"dry run: the real run would stop at {', '.join(steps)}"
        if outcome != "waiting" and self.rb.always:
            await self._always()
        if locked:
            try:
                await self.lock.release()
                self.emit(LockEvent("released"))
            except Exception as exc:  # a lock left behind is reported, the outcome stands
                self.emit(Note(f"the run lock could not be released: {exc}"))
        self.emit(RunFinished(outcome, reason))
        return outcome

    async def _take_lock(self) -> bool:
        from .lock import LockError

        try:
            # during an outage the failed node cannot be locked: lock the nodes that answer
            holder = await self.lock.acquire(self.lock_holder, skip_unreachable=True)
        except LockError as exc:
            raise _Aborted(f"the run lock could not be taken: {exc}") from None
        if holder is None:
            info = dataclasses.asdict(self.lock_holder)
            info["nodes"] = list(self.lock.taken)
            if self.lock.skipped:
                info["unreachable"] = dict(self.lock.skipped)
            self.emit(LockEvent("taken", info))
            return True
        info = dataclasses.asdict(holder)
        if self.resumed and holder.run_id == self.run_id:
            # this run's own lock, left by the process that stopped (the session made sure that
            # process no longer holds the run's log): taken over without asking
            try:
                other = await self.lock.break_and_acquire(self.lock_holder, skip_unreachable=True)
            except LockError as exc:
                raise _Aborted(f"the run lock could not be taken back: {exc}") from None
            if other is not None:
                raise _Aborted(f"someone else took the lock while it was being taken back: {dataclasses.asdict(other)}")
            self.emit(LockEvent("broken", {"was": info, "why": "held by this run before it stopped: taken back on resume",
                                           "broken": {n: dataclasses.asdict(h) for n, h in self.lock.broken.items()}}))
            return True
        self.emit(LockEvent("held_by_other", info))
        q = Question("lock_held", "", "Another run holds this cluster", detail=", ".join(f"{k}: {v}" for k, v in info.items()),
                     expected_text="BREAK LOCK", explain="Only one operator at a time. Break the lock only if that run is dead (its console lost, its process gone).")
        answer = await self._ask(q)
        if answer.action != "break_lock":
            raise _Aborted("another run holds the cluster lock")
        try:
            other = await self.lock.break_and_acquire(self.lock_holder, skip_unreachable=True)
        except LockError as exc:
            raise _Aborted(f"the run lock could not be broken: {exc}") from None
        self.emit(LockEvent("broken", {"was": info, "broken": {n: dataclasses.asdict(h) for n, h in self.lock.broken.items()}}))
        if other is not None:
            raise _Aborted(f"someone else took the lock while it was being broken: {dataclasses.asdict(other)}")
        return True

    async def _ask_resume(self) -> None:
        done = [s for s, o in self.state.outcomes.items()]
        where = self.state.in_flight or (done[-1] if done else "the start")
        q = Question("resume", self.state.in_flight or "", f"Resume run {self.run_id}", detail=f"stopped at {where}; {len(done)} steps already decided",
                     explain="The run stopped without finishing (crash, lost console, or waiting for an answer). Steps already done will not run again.")
        answer = await self._ask(q)
        if answer.action != "continue":
            raise _Aborted("the operator did not resume")

    async def _steps(self) -> tuple[RunOutcome, str]:
        total = len(self.rb.steps)
        for index, step in enumerate(self.rb.steps):
            if step.id in self.state.outcomes:
                continue
            while True:
                end = await self._step(index, total, step, "steps")
                if end.flow == "retry":
                    continue
                if end.flow == "stop":
                    return end.outcome, end.reason
                break
        return "done", ""

    async def _always(self) -> None:
        """Runs after done, failed and aborted runs; its failures are reported, never asked about."""
        for index, step in enumerate(self.rb.always):
            if step.id in self.state.outcomes:
                continue
            try:
                await self._step(index, len(self.rb.always), step, "always")
            except (NoAnswer, _Aborted) as exc:
                self.emit(StepFinished(step.id, "failed", f"always section: {exc}"))

    # --- one step --------------------------------------------------------------------------------
    async def _step(self, index: int, total: int, step: Step, section: str) -> StepEnd:
        if self.state.in_flight == step.id:
            self.state.in_flight = None
            if self.state.sent_in_flight:
                self.emit(StepStarted(step.id, index, total, self.ctx.prose(step.title), step.kind, step.node, section))
                return await self._unknown(step, "the run stopped while this step's command was running (crash or lost console)")
        holds, why = self._when_holds(step)
        if not holds:
            self._finish(step, "skipped", why)
            self.emit(StepSkipped(step.id, why))
            return StepEnd("continue")
        self.emit(StepStarted(step.id, index, total, self.ctx.prose(step.title), step.kind, step.node, section))
        always = section == "always"
        self._gates: tuple[CheckOutcome, ...] = ()

        if step.require:
            outcomes = await self._evaluate(step, "require", step.require)
            self._gates = tuple(outcomes)
            if _verdict(outcomes) != "pass":
                if self.dry_run:
                    self.emit(Note("dry run: this gate would stop the step", step.id))
                    if not (step.allow_failure or always):
                        self._would_stop(step, "a gate did not pass: " + _summary(outcomes))
                elif step.allow_failure or always:
                    return self._record_failure(step, "a gate did not pass: " + _summary(outcomes))
                else:
                    return await self._failure(step, "gate_failed", "a gate did not pass", outcomes)

        if step.kind == "check":
            outcomes = await self._evaluate(step, "verify", step.verify)
            if _verdict(outcomes) == "pass":
                return self._done(step)
            return await self._failed_or_recorded(step, always, "a check did not pass: " + _summary(outcomes), outcomes)
        if step.kind == "wait":
            return await self._wait(step, always)
        if step.kind == "manual":
            return await self._manual(step)
        if step.kind == "choice":
            return await self._choice(step)
        return await self._command_step(step, always)

    def _when_holds(self, step: Step | Rollback) -> tuple[bool, str]:
        for cond in step.conditions():
            value, label = self._condition_value(cond)
            wanted = [cond.equals] if cond.equals is not None else list(cond.in_ or cond.not_in or [])
            norm = {str(v).lower() if isinstance(v, bool) else str(v) for v in wanted}
            seen = None if value is None else (str(value).lower() if isinstance(value, bool) else str(value))
            if seen is None:
                return False, f"when: {label} has no value"
            member = seen in norm
            if (cond.not_in is not None and member) or (cond.not_in is None and not member):
                return False, f"when: {label} is {seen}"
        return True, ""

    def _condition_value(self, cond: When) -> tuple[Any, str]:
        if cond.param is not None:
            return self.ctx.params.get(cond.param), f"parameter {cond.param}"
        if cond.choice is not None:
            return self.state.choices.get(cond.choice), f"choice {cond.choice}"
        if cond.captured is not None:
            return self.ctx.captured.get(cond.captured), f"captured {cond.captured}"
        if cond.platform is not None:
            return self.ctx.platform(cond.platform), f"the platform of {cond.platform}"
        if cond.cluster is not None:
            try:
                return self.ctx.lookup()(f"cluster.{cond.cluster}"), f"cluster.{cond.cluster}"
            except Exception:  # no cluster file (a local run): the value is not known
                return None, f"cluster.{cond.cluster}"
        return self.state.outcomes.get(cond.step or ""), f"step {cond.step}"

    async def _evaluate(self, step: Step, phase: Any, checks: Sequence[Any]) -> list[CheckOutcome]:
        outcomes = await self.checks.evaluate(checks)
        self.emit(ChecksEvaluated(step.id, phase, tuple(outcomes)))
        return outcomes

    def _finish(self, step: Step, outcome: StepOutcome, reason: str = "", choice: str | None = None) -> None:
        self.state.outcomes[step.id] = outcome
        if choice is not None:
            self.state.choices[step.id] = choice

    def _done(self, step: Step, reason: str = "", choice: str | None = None) -> StepEnd:
        self._finish(step, "done", reason, choice)
        self.emit(StepFinished(step.id, "done", reason, choice))
        return StepEnd("continue")

    def _skipped_by_operator(self, step: Step, answer: Answer) -> StepEnd:
        self._finish(step, "skipped", answer.reason)
        self.emit(StepFinished(step.id, "skipped", f"skipped by the operator: {answer.reason}"))
        return StepEnd("continue")

    def _record_failure(self, step: Step, reason: str) -> StepEnd:
        self._finish(step, "failed", reason)
        self.emit(StepFinished(step.id, "failed", reason))
        return StepEnd("continue")

    async def _failed_or_recorded(self, step: Step, always: bool, reason: str, outcomes: Sequence[CheckOutcome] = ()) -> StepEnd:
        if self.dry_run and not (step.allow_failure or always):
            self._would_stop(step, reason)
        if step.allow_failure or always or self.dry_run:
            return self._record_failure(step, reason)
        return await self._failure(step, "failed", reason, outcomes)

    def _would_stop(self, step: Step, why: str) -> None:
        """A dry run's finding: counted while the cluster is as the real run would find it, only noted after that."""
        if self._not_run is None:
            self.would_stop.append((step.id, why))
        else:
            self.emit(Note(f"dry run: not counted as stopping the real run: it follows {self._not_run}, which the dry run did not run", step.id))

    # --- asking ----------------------------------------------------------------------------------
    async def _ask(self, q: Question) -> Answer:
        self.emit(QuestionAsked(q.step_id, q.kind, q.title))
        for _ in range(MAX_REFUSED_ANSWERS):
            answer = await self.operator.ask(q)
            try:
                check_answer(q, answer)
            except InvalidAnswer as exc:
                self.emit(Note(f"answer refused: {exc}", q.step_id))
                continue
            self.emit(Answered(q.step_id, q.kind, answer.action, answer.reason, answer.text, answer.os_user))
            return answer
        raise NoAnswer(q, f"{MAX_REFUSED_ANSWERS} answers in a row were refused")

    async def _ask_while(self, q: Question, waiter: Awaitable[Any], grace_s: float = 0.0, unattended_s: float = 0.0,
                         why: str | None = None) -> Any:
        """Wait for `waiter` and, after `grace_s`, ask `q` meanwhile: the operator's answer (an
        Answer) or the waiter's result, whichever comes first. A question the waiter beat is
        withdrawn (recorded, with `why`, else the waiter's result: what ended the wait). An
        operator who cannot answer (headless, NoAnswer) leaves the waiter `unattended_s` more
        before the run stops to wait."""
        wait = asyncio.ensure_future(waiter)
        ask: asyncio.Future[Answer] | None = None
        try:
            if grace_s > 0:
                done, _ = await asyncio.wait({wait}, timeout=grace_s)
                if wait in done:
                    return wait.result()
            ask = asyncio.ensure_future(self._ask(q))
            done, _ = await asyncio.wait({wait, ask}, return_when=asyncio.FIRST_COMPLETED)
            if ask in done:
                try:
                    return ask.result()
                except NoAnswer:
                    if unattended_s <= 0:
                        raise
                    done, _ = await asyncio.wait({wait}, timeout=unattended_s)
                    if wait not in done:
                        raise
                    return wait.result()
            ask.cancel()
            try:
                await ask
            except (asyncio.CancelledError, NoAnswer):
                pass
            else:  # answered in the same instant: the answer stands
                return ask.result()
            self.emit(QuestionWithdrawn(q.step_id, q.kind, why if why is not None else str(wait.result())))
            return wait.result()
        finally:
            for task in (wait, ask):
                if task is not None and not task.done():
                    task.cancel()

    async def _witnessed(self, step: Step, nodes: list[str]) -> StepEnd | None:
        """A dangerous step waits until a witness that is not a node it acts on cosigned the log
        up to its confirmation; or the operator types that it runs unwitnessed (run degraded)."""
        w = self.witnesses
        assert w is not None
        upto = w.begin()
        exclude = set(nodes)
        q = self._question("unwitnessed", step, expected_text=UNWITNESSED_TEXT, detail=w.status(upto, exclude),
                           explain=f"This step cannot be undone or needed a typed confirmation, so it waits until a witness that is not "
                                   f"{', '.join(sorted(exclude))} has cosigned the log up to your confirmation (record {upto - 1}): then "
                                   f"nobody can erase it from this console unseen. If no witness can answer (the network is down), type "
                                   f"{UNWITNESSED_TEXT} to run it anyway: that is recorded, and the run is marked degraded.")
        got = await self._ask_while(q, w.cosigned(upto, exclude), w.grace_s, w.unattended_s, why="a witness cosigned")
        if isinstance(got, Answer):
            if got.action == "proceed_unwitnessed":
                self.emit(WitnessGate(step.id, "unwitnessed", upto, "", got.reason or "typed by the operator", got.os_user))
                return None
            if got.action == "skip":
                return self._skipped_by_operator(step, got)
            return StepEnd("stop", "aborted", f"aborted at {step.id} (waiting for a witness)")
        self.emit(WitnessGate(step.id, "cosigned", upto, str(got)))
        return None

    async def _approved(self, step: Step, command: str, node: str, run_as: str, shown: str | None = None) -> StepEnd | None:
        """Four eyes: None once a second operator's approval of exactly `command` passed every
        check; else how the step ends (skipped, aborted, failed)."""
        desk = self.second_operator
        if desk is None:
            return await self._failure(step, "failed", "this step needs a second operator's approval and this run has no approvers: "
                                                       "name an allowed_signers file in the cluster file's [approval] section")
        if shown is not None and shown != command:
            return await self._failure(step, "failed", "this command holds a secret: it cannot be shown to a second operator for approval")
        recorded = self.state.approvals.get(step.id)
        pending: Pending | None = desk.reopen(step.id, recorded) if recorded else None
        if recorded and pending is None:
            self.emit(Note("the approval request made before the run stopped has expired: a new one is made", step.id))
        while True:
            if pending is None:
                try:
                    pending = desk.request(step.id, command, node, run_as, gate_readings(self._gates))
                except ApprovalUnavailable as exc:
                    return await self._failure(step, "failed", f"no approval can be requested: {exc}")
                self.emit(ApprovalRequested(step.id, pending.id, pending.code, pending.text, pending.where))
            q = self._question("approval", step, checks=self._gates, expected_text=pending.code,
                               detail=f"waiting for a second operator — code {pending.code} — request {pending.id}"
                                      + (f" in {pending.where}" if pending.where else ""))
            # a moment first: an answer already left (a resumed run, --approval FILE) is read without a dialog
            got = await self._ask_while(q, desk.answered(pending), grace_s=APPROVAL_GRACE_S)
            if isinstance(got, Answer):
                self.emit(ApprovalDecided(step.id, pending.id, "withdrawn", f"{got.action} by {got.os_user}: {got.reason}".rstrip(": ")))
                if got.action == "skip":
                    return self._skipped_by_operator(step, got)
                return StepEnd("stop", "aborted", f"aborted at {step.id} (waiting for a second operator)")
            gates = await self._evaluate(step, "require", step.require) if step.require else []
            d = desk.check(pending, command, gate_readings(gates))
            self.emit(ApprovalDecided(step.id, pending.id, d.verdict, d.reason, d.approver, d.approver_key, d.statement, d.signature))  # type: ignore[arg-type]
            if d.verdict == "approved":
                return None
            pending = None
            answer = await self._ask(self._question("approval_refused", step, detail=f"{d.verdict}: {d.reason}", checks=tuple(gates)))
            if answer.action == "skip":
                return self._skipped_by_operator(step, answer)
            if answer.action == "abort":
                return StepEnd("stop", "aborted", f"aborted at {step.id} (approval {d.verdict})")

    def _question(self, kind: Any, step: Step, **extra: Any) -> Question:
        node = self.ctx.roles.get(step.node, step.node)
        commands = self.ctx.shown_commands(step.run, step.node)  # what runs on that node's platform
        user = self.ctx.prose(step.user, node) if step.user else None
        fields: dict[str, Any] = {"explain": self.ctx.prose(step.explain, node), "node": step.node, "user": user, "commands": commands, **extra}
        return Question(kind, step.id, self.ctx.prose(step.title), **fields)

    def _retry(self, step: Step, q: Question) -> StepEnd:
        """The operator's retry, unless this step was already retried MAX_RETRIES times in this run."""
        count = self._retries[step.id] = self._retries.get(step.id, 0) + 1
        if count > MAX_RETRIES:
            raise NoAnswer(q, f"{step.id} was retried {MAX_RETRIES} times and still does not pass: find out why, then resume the run")
        return StepEnd("retry")

    async def _failure(self, step: Step, kind: Any, detail: str, outcomes: Sequence[CheckOutcome] = ()) -> StepEnd:
        q = self._question(kind, step, detail=detail, checks=tuple(outcomes))
        answer = await self._ask(q)
        if answer.action == "retry":
            return self._retry(step, q)
        if answer.action == "skip":
            return self._skipped_by_operator(step, answer)
        self._finish(step, "failed", detail)
        self.emit(StepFinished(step.id, "failed", detail))
        if answer.action == "rollback":
            await self.rollback()
            return StepEnd("stop", "failed", f"{step.id} failed; rolled back")
        if answer.action == "abort":
            return StepEnd("stop", "aborted", f"aborted at {step.id}")
        return StepEnd("stop", "failed", f"{step.id}: {detail}")

    async def _unknown(self, step: Step, detail: str, failed: str = "") -> StepEnd:
        """Re-probe with the step's verify checks, show what was found, and let the operator decide.

        `failed`: the nodes of a group step where the command is known to have failed. Deciding
        the unknown ones done does not make those done: the step then fails on them.
        """
        outcomes = await self._evaluate(step, "reprobe", step.verify) if step.verify else []
        q = self._question("unknown", step, detail=detail, checks=tuple(outcomes))
        answer = await self._ask(q)
        if answer.action == "done":
            if failed:
                self.emit(Note(f"unknown outcome decided done by the operator: {answer.reason}", step.id))
                return await self._failure(step, "failed", failed, outcomes)
            return self._done(step, f"unknown outcome decided done by the operator: {answer.reason}")
        if answer.action == "retry":
            return self._retry(step, q)
        if answer.action == "skip":
            return self._skipped_by_operator(step, answer)
        if answer.action == "abort":
            self._finish(step, "unknown", detail)
            self.emit(StepFinished(step.id, "unknown", detail))
            return StepEnd("stop", "aborted", f"aborted at {step.id} (outcome unknown)")
        return await self._failure(step, "failed", f"decided failed by the operator: {answer.reason}", outcomes)

    # --- kinds -----------------------------------------------------------------------------------
    async def _wait(self, step: Step, always: bool) -> StepEnd:
        started = self.clock()
        polls = 0
        while True:
            outcomes = await self._evaluate(step, "until", step.until)
            polls += 1
            if _verdict(outcomes) == "pass":
                return self._done(step, f"after {polls} polls")
            if self.clock() - started + step.interval_s > step.limit_s:
                return await self._failed_or_recorded(step, always, f"not reached within {step.limit_s} s: " + _summary(outcomes), outcomes)
            await self.sleep(step.interval_s)
            if self._interrupted:
                self._interrupted = False
                return await self._failure(step, "failed", f"interrupted by the operator after {polls} polls: " + _summary(outcomes), outcomes)

    async def _manual(self, step: Step) -> StepEnd:
        if self.dry_run:
            self._not_run = self._not_run or step.id  # a manual step changes the cluster too
            return self._skip_dry(step, "manual step: the operator would attest")
        attest = self.ctx.prose(step.attest or "")
        answer = await self._ask(self._question("manual", step, expected_text=attest))
        if answer.action == "attest":
            return self._done(step, f"attested: {attest}")
        if answer.action == "skip":
            return self._skipped_by_operator(step, answer)
        return StepEnd("stop", "aborted", f"aborted at {step.id}")

    async def _choice(self, step: Step) -> StepEnd:
        options = tuple(Option(o.id, self.ctx.prose(o.label), self.ctx.prose(o.explain)) for o in step.options)
        q = self._question("choice", step, options=options)
        try:
            answer = await self._ask(q)
        except NoAnswer:
            if not self.dry_run:
                raise
            self.emit(Note(f"dry run: no choice given; showing option {options[0].id}", step.id))
            return self._done(step, "dry run", options[0].id)
        if answer.action != "choose":
            return StepEnd("stop", "aborted", f"aborted at {step.id}")
        option = next(o for o in step.options if o.id == answer.choice)
        if option.approval == "second-operator" and not self.dry_run:
            node = self.ctx.roles.get(step.node, step.node)
            end = await self._approved(step, f"choose {step.id} = {option.id}: {self.ctx.prose(option.label)}", node, "")
            if end is not None:
                return end
        if option.rollback and not self.dry_run:
            self._done(step, f"chose {answer.choice}: roll the run back", answer.choice)
            failed = [sid for sid, ok in await self.rollback() if not ok]
            if failed:
                return StepEnd("stop", "failed", f"chose {option.id} at {step.id}; the rollback of {', '.join(failed)} failed")
            return StepEnd("stop", "done", f"chose {option.id} at {step.id}: rolled back")
        return self._done(step, f"chose {answer.choice}", answer.choice)

    def _skip_dry(self, step: Step, why: str) -> StepEnd:
        self._finish(step, "skipped", why)
        self.emit(StepFinished(step.id, "skipped", f"dry run: {why}"))
        return StepEnd("continue")

    async def _command_step(self, step: Step, always: bool) -> StepEnd:
        nodes = self._nodes(step.node)
        if not nodes and step.node.startswith("@"):
            # a site without service nodes: nothing to run, and the record says so rather than "done"
            why = f"{step.node} has no nodes in the cluster file: nothing to run"
            self._finish(step, "skipped", why)
            self.emit(StepFinished(step.id, "skipped", why))
            return StepEnd("continue")
        try:
            rounds = self._rounds(step.run, nodes)
        except PlatformError as exc:
            return await self._failed_or_recorded(step, always, str(exc))
        if self.dry_run and step.is_mutating:
            self._not_run = self._not_run or step.id
            for texts in rounds:
                for node, cmd in texts.items():
                    self.emit(Note(f"dry run: would run on {node}: {self.ctx.shown(cmd, node)}", step.id))
            return self._skip_dry(step, "mutating step not run")
        if not self.dry_run and not always:
            level = step.confirmation
            if level != "none":
                expected = self.ctx.prose(step.confirm_text or "") if level == "typed" else ""
                # the operator approves with the gates' current values in front of them
                answer = await self._ask(self._question("typed" if level == "typed" else "confirm", step, expected_text=expected, checks=self._gates))
                if answer.action == "skip":
                    return self._skipped_by_operator(step, answer)
                if answer.action == "abort":
                    return StepEnd("stop", "aborted", f"aborted at {step.id}")
            if step.dangerous and self.witnesses is not None:
                end = await self._witnessed(step, nodes)
                if end is not None:
                    return end
            if step.approval == "second-operator":
                (node, text), = rounds[0].items()  # one node, one command (the rules say so)
                end = await self._approved(step, self.ctx.command(text, node), node, self.ctx.prose(step.user, node) if step.user else "",
                                           shown=self.ctx.shown(text, node))
                if end is not None:
                    return end
        stdout_first = ""
        for texts in rounds:
            results = await self._run_everywhere(step, texts, step.user, step.timeout_s, rollback=False)
            unknown = [n for n, (r, _) in results.items() if isinstance(r, Result) and r.unknown]
            problems = [f"{n}: {p}" for n, (r, out) in results.items()
                        if not (isinstance(r, Result) and r.unknown) and (p := self._expect_problem(step, r, out))]
            if unknown:
                r = results[unknown[0]][0]
                detail = f"{r.ending} on {_some(unknown)}: {r.error or 'the command may or may not have run'}"  # type: ignore[union-attr]
                if problems:
                    detail += f"; and it failed on {len(problems)} node{'s' if len(problems) > 1 else ''}: {_some(problems, '; ')}"
                return await self._unknown(step, detail, failed=_some(problems, "; ") if problems else "")
            if problems:
                return await self._failed_or_recorded(step, always, _some(problems, "; "))
            stdout_first = next(iter(results.values()))[1]
            for cap in step.capture:
                m = re.search(cap.regex, stdout_first, re.M)
                if m is None:
                    return await self._failed_or_recorded(step, always, f"capture {cap.name}: /{cap.regex}/ not found in the output")
                value = m.group(1) if m.groups() else m.group(0)
                self.ctx.captured[cap.name] = value
                self.state.captured[cap.name] = value
                self.emit(Captured(step.id, cap.name, value))
        if step.verify:
            outcomes = await self._evaluate(step, "verify", step.verify)
            verdict = _verdict(outcomes)
            if verdict == "unknown" and not self.dry_run:
                return await self._unknown(step, "the command finished but its verify checks could not be read: " + _summary(outcomes))
            if verdict != "pass":
                return await self._failed_or_recorded(step, always, "verify: " + _summary(outcomes), outcomes)
        return self._done(step)

    def _expect_problem(self, step: Step, r: Result | TransportError, out: str) -> str:
        if isinstance(r, TransportError):
            return f"not started: {r}"
        if r.ending == "cancelled":
            return "cancelled"
        if r.ending == "signalled":
            return f"killed by signal {r.signal}"
        if r.ending == "not_started":
            return f"not started: {r.error}"
        if r.exit_status not in step.expect.exit:
            return f"exit status {r.exit_status} (expected {', '.join(map(str, step.expect.exit))})"
        if step.expect.not_output and re.search(step.expect.not_output, out, re.M):
            return f"output matches /{step.expect.not_output}/"
        if step.expect.output and not re.search(step.expect.output, out, re.M):
            return f"output does not match /{step.expect.output}/"
        return ""

    def _rounds(self, run: RunSpec | None, nodes: list[str]) -> list[dict[str, str]]:
        """A step's commands in rounds over its nodes: round i is each node's i-th command for its
        own platform (a node whose platform has fewer commands sits the later rounds out)."""
        per = {node: self.ctx.commands_for(run, node) for node in nodes}
        return [{n: cmds[i] for n, cmds in per.items() if i < len(cmds)} for i in range(max(map(len, per.values()), default=0))]

    async def _run_everywhere(self, step: Step, texts: dict[str, str], user: str | None, timeout_s: float, rollback: bool) -> dict[str, tuple[Result | TransportError, str]]:
        return await bounded(list(texts), step.concurrency, lambda node: self._exec(step, texts[node], node, user, timeout_s, rollback))

    async def _exec(self, step: Step, text: str, node: str, user: str | None, timeout_s: float, rollback: bool) -> tuple[Result | TransportError, str]:
        command = self.ctx.command(text, node)
        run_as = self.ctx.prose(user, node) if user else None
        transport = "local" if node == "local" else self.transport_name
        kept: list[bytes] = []
        size = 0

        def sink(stream: str, chunk: bytes) -> None:
            nonlocal size
            if size < MAX_KEPT_OUTPUT:
                kept.append(chunk)
                size += len(chunk)
            self.emit(OutputChunk(step.id, node, stream, chunk))

        cancel = asyncio.Event()  # registered first: an interrupt while the record is being synced still stops it
        self._cancels.add(cancel)
        self._interrupted = False
        try:
            for durable in self.emit(CommandSent(step.id, node, run_as, transport, self.ctx.shown(text, node), step.is_mutating, rollback)):
                await durable  # on disk before the command starts; one fsync for the nodes of a group step starting meanwhile
            result: Result | TransportError = await self.transport.run(node, command, user=run_as, timeout_s=timeout_s, on_output=sink, cancel=cancel)
        except TransportError as exc:
            self.emit(CommandFinished(step.id, node, "not_started", None, None, 0, 0, 0, str(exc), rollback))
            return exc, ""
        finally:
            self._cancels.discard(cancel)
            if step.is_mutating or rollback:
                MEMO.clear()  # it may have changed what answers where: nothing seen before it is reused
        self.emit(CommandFinished(step.id, node, result.ending, result.exit_status, result.signal, result.duration_us,
                                  result.stdout_bytes, result.stderr_bytes, result.error, rollback))
        return result, b"".join(kept).decode("utf-8", "replace")

    # --- rollback --------------------------------------------------------------------------------
    def _to_undo(self) -> tuple[list[Step], str | None]:
        """Done steps with a rollback, newest first, down to (not through) the last irreversible
        one — and that step's id, where undoing stops (None: nothing irreversible was done)."""
        by_id = {s.id: s for s in self.rb.steps}
        steps: list[Step] = []
        for sid in reversed([sid for sid, o in self.state.outcomes.items() if o == "done" and sid in by_id]):
            step = by_id[sid]
            if step.irreversible:
                return steps, sid
            if step.rollback is not None:
                steps.append(step)
        return steps, None

    def rollback_plan(self) -> list[tuple[str, str]]:
        """What `rollback()` would run now: (step, command as shown), in order — for the operator to see first."""
        steps, stop = self._to_undo()
        plan: list[tuple[str, str]] = []
        for step in steps:
            rb = step.rollback
            assert rb is not None
            holds, why = self._when_holds(rb)
            if not holds:
                plan.append((step.id, f"(nothing to undo: {why})"))
                continue
            plan.extend((step.id, shown) for shown in self.ctx.shown_commands(rb.run, rb.node or step.node))
        if stop is not None:
            plan.append((stop, "(irreversible: rollback stops here)"))
        return plan or [("", "(nothing to undo)")]

    async def rollback(self) -> list[tuple[str, bool]]:
        """Undo done steps in reverse order, down to (not through) the last irreversible one.

        A failing rollback is reported and the next one still runs.
        """
        report: list[tuple[str, bool]] = []
        steps, stop = self._to_undo()
        for step in steps:
            sid, rb = step.id, step.rollback
            assert rb is not None
            self.emit(RollbackStarted(sid))
            holds, why = self._when_holds(rb)
            if not holds:  # the step changed nothing (its captured prior state says so): nothing to run
                self.state.outcomes[sid] = "rolled_back"
                self.emit(RollbackFinished(sid, True, f"nothing to undo: {why}"))
                report.append((sid, True))
                continue
            nodes = self._nodes(rb.node or step.node)
            ok = True
            reason = ""
            try:
                rounds = self._rounds(rb.run, nodes)
            except PlatformError as exc:
                ok, reason, rounds = False, str(exc), []
            for texts in rounds:
                results = await self._run_everywhere(step, texts, rb.user or step.user, rb.timeout_s, rollback=True)
                bad = [f"{n}: {r if isinstance(r, TransportError) else (r.error or r.ending + ' ' + str(r.exit_status))}" for n, (r, _) in results.items() if isinstance(r, TransportError) or not r.ok]
                if bad:
                    ok, reason = False, "; ".join(bad)
                    break
            self.state.outcomes[sid] = "rolled_back" if ok else self.state.outcomes[sid]
            self.emit(RollbackFinished(sid, ok, reason))
            report.append((sid, ok))
        if stop is not None:
            self.emit(Note(f"rollback stops at {stop}: it is irreversible", stop))
        return report


MAX_NAMED = 20
"""Nodes a group step's reason names one by one; the rest are counted (every node's own result is in its command_finished)."""


def _some(items: Sequence[str], sep: str = ", ") -> str:
    shown = sep.join(items[:MAX_NAMED])
    return shown + (f"{sep}+{len(items) - MAX_NAMED} more" if len(items) > MAX_NAMED else "")


class _Aborted(Exception):
    pass


def _verdict(outcomes: Sequence[CheckOutcome]) -> str:
    verdicts = {o.verdict for o in outcomes}
    return "fail" if "fail" in verdicts else "unknown" if "unknown" in verdicts else "pass"


def _summary(outcomes: Sequence[CheckOutcome]) -> str:
    bad = [o for o in outcomes if o.verdict != "pass"]
    return "; ".join(f"{o.node} {o.probe}.{o.field} {o.expected}: {o.verdict} ({o.reason})" for o in bad) or "all passed"
