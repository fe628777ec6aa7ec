"""What happens in a run: the events the runner emits and every reader of a run folds.

The vocabulary every layer shares: the audit log records these (`codec`), resume and review
fold them back (`fold`), the headless printer and the TUI show them. Subscribers are called in
order for every event, so the audit log has `CommandSent` on disk before the command runs.
Events carry display-safe text: secrets are already redacted.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Literal, Union

StepOutcome = Literal["done", "failed", "skipped", "unknown", "rolled_back"]
RunOutcome = Literal["done", "failed", "aborted", "waiting"]
Verdict = Literal["pass", "fail", "unknown"]


@dataclass(frozen=True)
class CheckOutcome:
    """One check on one node: what was seen, what was wanted, and the verdict."""

    node: str
    probe: str
    field: str
    expected: str
    observed: Any
    verdict: Verdict
    reason: str
    why: str = ""

    def line(self) -> str:
        mark = {"pass": "ok", "fail": "FAIL", "unknown": "UNKNOWN"}[self.verdict]
        return f"[{mark}] {self.node}: {self.probe}.{self.field} {self.expected} — {self.reason}"


@dataclass(frozen=True)
class RunStarted:
    run_id: str
    runbook_id: str
    runbook_version: str
    runbook_sha256: str
    runbook_path: str
    params: dict[str, Any]
    cluster: str | None
    roles: dict[str, str]
    operator: str
    dry_run: bool
    training: bool
    resumed: bool = False


@dataclass(frozen=True)
class StepStarted:
    step_id: str
    index: int
    total: int
    title: str
    kind: str
    node: str
    section: str = "steps"


@dataclass(frozen=True)
class StepSkipped:
    step_id: str
    reason: str


@dataclass(frozen=True)
class ChecksEvaluated:
    step_id: str
    phase: Literal["require", "verify", "until", "reprobe"]
    outcomes: tuple[CheckOutcome, ...]

    @property
    def verdict(self) -> Verdict:
        verdicts = {o.verdict for o in self.outcomes}
        return "fail" if "fail" in verdicts else "unknown" if "unknown" in verdicts else "pass"


@dataclass(frozen=True)
class QuestionAsked:
    step_id: str
    kind: str
    prompt: str


@dataclass(frozen=True)
class Answered:
    step_id: str
    kind: str
    action: str
    reason: str = ""
    text: str = ""
    os_user: str = ""


@dataclass(frozen=True)
class CommandSent:
    """Emitted, and awaited by every subscriber, before the command is started."""

    step_id: str
    node: str
    user: str | None
    transport: str
    command: str
    mutating: bool
    rollback: bool = False


@dataclass(frozen=True)
class OutputChunk:
    step_id: str
    node: str
    stream: str
    data: bytes


@dataclass(frozen=True)
class CommandFinished:
    step_id: str
    node: str
    ending: str
    exit_status: int | None
    signal: str | None
    duration_us: int
    stdout_bytes: int
    stderr_bytes: int
    error: str | None = None
    rollback: bool = False


@dataclass(frozen=True)
class Captured:
    step_id: str
    name: str
    value: str


@dataclass(frozen=True)
class StepFinished:
    step_id: str
    outcome: StepOutcome
    reason: str = ""
    choice: str | None = None


@dataclass(frozen=True)
class RollbackStarted:
    step_id: str


@dataclass(frozen=True)
class RollbackFinished:
    step_id: str
    ok: bool
    reason: str = ""


@dataclass(frozen=True)
class LockEvent:
    action: Literal["taken", "held_by_other", "broken", "released"]
    holder: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Note:
    text: str
    step_id: str | None = None


@dataclass(frozen=True)
class QuestionWithdrawn:
    """A question nobody needs to answer any more: what it waited for came first (a witness
    cosigned, a second operator answered)."""

    step_id: str
    kind: str
    reason: str = ""


@dataclass(frozen=True)
class WitnessGate:
    """A dangerous step's wait for a cosignature, ended: `cosigned` by `witness` (a witness that
    is not a node the step acts on) over the first `records` records, or `unwitnessed` — the
    operator typed that the step may run without one (the run is then degraded)."""

    step_id: str
    outcome: Literal["cosigned", "unwitnessed"]
    records: int
    witness: str = ""
    reason: str = ""
    os_user: str = ""


@dataclass(frozen=True)
class ApprovalRequested:
    """A four-eyes request was written for the second operator: `request` is its canonical JSON
    line, byte for byte what the answer signs (so review can check the signature)."""

    step_id: str
    request_id: str
    code: str
    request: str
    where: str = ""
    """The spool file the second operator's `hamn approve` reads."""


@dataclass(frozen=True)
class ApprovalDecided:
    """What hamn concluded from the second operator's answer, after every check: `approved`
    (the command runs), `rejected` (signed rejection), `refused` (one line: why it cannot
    count), `expired` or `withdrawn` (the operator stopped waiting)."""

    step_id: str
    request_id: str
    verdict: Literal["approved", "rejected", "refused", "expired", "withdrawn"]
    reason: str = ""
    approver: str = ""
    approver_key: str = ""
    statement: str = ""
    signature: str = ""


@dataclass(frozen=True)
class RunFinished:
    outcome: RunOutcome
    reason: str = ""


Event = Union[
    RunStarted, StepStarted, StepSkipped, ChecksEvaluated, QuestionAsked, Answered, CommandSent, OutputChunk,
    CommandFinished, Captured, StepFinished, RollbackStarted, RollbackFinished, LockEvent, Note, RunFinished,
    QuestionWithdrawn, WitnessGate, ApprovalRequested, ApprovalDecided,
]
Subscriber = Callable[[Event], Union[None, Awaitable[None]]]

