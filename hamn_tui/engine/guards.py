"""What a dangerous step waits for before its command runs, as the engine sees it: a witness's
cosignature of its confirmation, and a second operator's approval. The app layer implements
both (over the audit log's witness sender and the approval spool; the training simulator has
its own second operator), so the runner stays free of SSH, files and keys.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Collection, Protocol

UNWITNESSED_TEXT = "PROCEED UNWITNESSED"
"""What the operator types to let a dangerous step run without a witness's cosignature."""


class Witnesses(Protocol):
    grace_s: float
    """How long the runner waits quietly before it asks the operator (a witness on the LAN
    answers in well under a second: no dialog flashes up)."""
    unattended_s: float
    """How long a run nobody watches (headless) still waits after the question found no answer."""

    def begin(self) -> int:
        """Checkpoint the log now and offer it to the witnesses; the records a cosignature must cover."""

    async def cosigned(self, upto: int, exclude: Collection[str]) -> str:
        """Return once a witness that is none of the nodes `exclude` cosigned `upto` records: its name."""

    def status(self, upto: int, exclude: Collection[str]) -> str:
        """One line for the operator: which witnesses count, and why none has cosigned yet."""


@dataclass(frozen=True)
class Pending:
    """A request waiting for a second operator, as the run records it."""

    id: str
    code: str
    text: str
    """The request's canonical JSON line (what the answer signs)."""
    where: str = ""


@dataclass(frozen=True)
class Decision:
    verdict: str
    """approved, rejected, refused or expired."""
    reason: str = ""
    approver: str = ""
    approver_key: str = ""
    statement: str = ""
    signature: str = ""


class ApprovalUnavailable(Exception):
    """No request can be made (no approvers configured, a spool that cannot be used): one line."""


class SecondOperator(Protocol):
    def request(self, step_id: str, command: str, node: str, run_as: str, gates: list[dict[str, Any]]) -> Pending:
        """Write a new request (ApprovalUnavailable if it cannot be)."""

    def reopen(self, step_id: str, text: str) -> Pending | None:
        """A request this run made before it stopped, if it can still be answered (not expired)."""

    async def answered(self, pending: Pending) -> str:
        """Return once an answer is there to check, or the request expired: which (for the record)."""

    def check(self, pending: Pending, command: str, gates: list[dict[str, Any]]) -> Decision:
        """Every check before the command runs (docs/audit-log.md, "Four eyes"); an approval is spent."""


def gate_readings(outcomes: Collection[Any]) -> list[dict[str, Any]]:
    """The gates as a request binds them: what was checked, the verdict, and the reading shown."""
    return [{"gate": f"{o.node} {o.probe}.{o.field} {o.expected}", "verdict": o.verdict, "reading": _plain(o.observed)}
            for o in outcomes]


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, (bool, int, str)) else str(value)
