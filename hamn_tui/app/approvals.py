"""The engine's `SecondOperator` for a real run: requests go to the spool `hamn approve` reads,
answers come back from it (or from a file made elsewhere, `--approval STEP=FILE`), and every
check of `audit.approval.check` runs before the command does. In training, a simulated second
operator approves after a pause, and the record says it was simulated.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from ..audit.allowed import AllowedSigners
from ..audit.approval.answer import MAX_BUNDLE, AnswerError, parse_bundle
from ..audit.approval.check import NonceStore, check_answer
from ..audit.approval.request import LogHead, Request, RequestError, Requester, make_request, parse_request
from ..audit.approval.spool import Spool, SpoolError
from ..audit.files import UnsafeFile, read_regular
from ..cluster.model import Cluster
from ..engine.guards import ApprovalUnavailable, Decision, Pending
from ..settings import settings
from .errors import SetupError

POLL_S = 0.25


@dataclass
class SpoolDesk:
    spool: Spool
    approvers: AllowedSigners
    nonces: NonceStore
    requester: Requester
    head: Callable[[], LogHead]
    """Where the run's log stands now (the writer's segment and last line)."""
    run_dir: Path
    ttl_s: int = 600
    files: dict[str, Path] = field(default_factory=dict)
    """`--approval STEP=FILE`: an answer made elsewhere, read instead of the spool."""
    _made: dict[str, Request] = field(default_factory=dict)
    """The requests this desk made or reopened, by id (read once, not at every poll)."""

    def request(self, step_id: str, command: str, node: str, run_as: str, gates: list[dict[str, Any]]) -> Pending:
        try:
            req = make_request(head=self.head(), step_id=step_id, command=command, node=node, run_as=run_as, gates=gates,
                               requester=self.requester, ttl_s=self.ttl_s)
            path = self.spool.put_request(req)
        except (RequestError, OSError) as exc:
            raise ApprovalUnavailable(str(exc)) from None
        self._made[req.id] = req
        return Pending(req.id, req.code, req.raw.decode("utf-8"), str(path))

    def reopen(self, step_id: str, text: str) -> Pending | None:
        try:
            req = parse_request(text.encode("utf-8"))
        except RequestError:
            return None
        if req.expires <= datetime.now(timezone.utc) or req.data["step_id"] != step_id:
            return None
        self._made[req.id] = req
        return Pending(req.id, req.code, text, str(self.spool.request_path(req.id)))

    async def answered(self, pending: Pending) -> str:
        req = self._made[pending.id]
        if req.data["step_id"] in self.files:
            return "the answer file given with --approval is read"
        while not self.spool.answered(req.id):
            if datetime.now(timezone.utc) >= req.expires:
                return "the request expired"
            await asyncio.sleep(POLL_S)
        return "the second operator answered"

    def check(self, pending: Pending, command: str, gates: list[dict[str, Any]]) -> Decision:
        req = self._made[pending.id]
        path = self.files.get(req.data["step_id"])
        try:
            if path is not None:
                statement, signature = parse_bundle(read_regular(path, MAX_BUNDLE + 1), str(path))
            else:
                found = self.spool.read_answer(req.id)
                if found is None:
                    return Decision("expired", f"no answer before the request expired at {req.data['expires']}")
                _, statement, signature = found
        except (OSError, UnsafeFile, AnswerError) as exc:
            return Decision("refused", f"the answer cannot be read: {exc}")
        v = check_answer(req, statement, signature, approvers=self.approvers, nonces=self.nonces, command=command, gates=gates,
                         head=self.head(), run_dir=self.run_dir)
        verdict = "approved" if v.ok else "rejected" if v.rejected else "refused"
        return Decision(verdict, v.reason, v.approver, v.approver_key, statement.decode("utf-8", "replace"), signature)


class TrainingDesk:
    """A trainee rehearses the wait for a second operator; the simulator's colleague approves
    after `delay_s` (nothing is signed: the record says so)."""

    def __init__(self, sleep: Callable[[float], Any] = asyncio.sleep, delay_s: float = 2.0):
        self.sleep = sleep
        """The simulator's clock: a rehearsal's pause passes in its time."""
        self.delay_s = delay_s
        self.made = 0

    def request(self, step_id: str, command: str, node: str, run_as: str, gates: list[dict[str, Any]]) -> Pending:
        self.made += 1
        code = f"{(self.made * 271) % 1000:03d} {(self.made * 314) % 1000:03d}"
        return Pending(f"training-{self.made}", code, f"training: {step_id} on {node}: {command}")

    def reopen(self, step_id: str, text: str) -> Pending | None:
        return None

    async def answered(self, pending: Pending) -> str:
        await self.sleep(self.delay_s)
        return "the simulated second operator answered"

    def check(self, pending: Pending, command: str, gates: list[dict[str, Any]]) -> Decision:
        return Decision("approved", "training: a simulated second operator approved (nothing was signed)", "simulated second operator")


def desk_for(cluster: Cluster | None, requester: Callable[[], Requester], head: Callable[[], LogHead], run_dir: Path,
             files: dict[str, Path] | None = None) -> SpoolDesk | None:
    """A real run's second operator (training has its own, `TrainingTarget.guards`): None when
    the cluster file names no approvers (a step that needs one then fails with that reason,
    before anything runs)."""
    if cluster is None or not cluster.approval.approvers:
        if files:
            raise SetupError("--approval needs the cluster file's [approval] approvers (the allowed_signers file of second operators)")
        return None
    a = cluster.approval
    try:
        approvers = AllowedSigners.read(a.approvers)  # type: ignore[arg-type]
    except OSError as exc:
        raise SetupError(f"[approval] approvers {a.approvers}: {exc.strerror or exc}") from None
    if approvers.problems:
        raise SetupError(f"[approval] approvers: {approvers.problems[0]}")
    try:
        spool = Spool(Path(a.spool) if a.spool else settings().state_dir / "approvals", create=a.spool is None)
    except SpoolError as exc:
        raise SetupError(f"[approval] spool: {exc}") from None
    for step, path in (files or {}).items():
        if not Path(path).is_file():
            raise SetupError(f"--approval {step}={path}: no such file")
    return SpoolDesk(spool, approvers, NonceStore(settings().state_dir / "approval-nonces"), requester(), head, run_dir, a.ttl_s,
                     dict(files or {}))
