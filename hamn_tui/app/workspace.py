"""Everything a front end needs from hamn, behind one object: the target (a real cluster, the
lab, or a training session held for the whole app, so runbooks chain), its status, the runbooks
that apply, recent runs with their verification, and opening (or resuming) a run.

The TUI's screens never build transports, probes or audit logs themselves. No Textual here.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from ..audit.verify import segments_of, verify_path  # imported here, not in a worker thread: CPython 3.11's
# compiler is not thread-safe while another thread imports (SystemError: AST recursion depth mismatch)
from ..cluster.model import Cluster
from ..engine.operator import Operator
from ..record.events import Subscriber
from ..runbook.library import Procedure, shipped_runbooks
from ..runbook.model import Runbook
from ..settings import settings
from .runs import RunContents, find_unfinished
from .session import RunRequest, RunSession
from .status import NodeStatus, Snapshot, StatusReader
from .targets import ClusterTarget, Target, TrainingTarget

STATUS_TIMEOUT_S = 20.0
"""A status reading that takes longer is abandoned and shown as stale, never as healthy."""


@dataclass
class RecentRun:
    path: Path
    runbook_id: str
    run_id: str
    started: str
    outcome: str
    verification: str
    """VALID / INVALID / INCOMPLETE and the verifier's one line."""
    training: bool = False


class Workspace:
    def __init__(self, target: Target | None = None, *, audit_dir: Path | None = None, lock_dir: str | None = None,
                 key: str | None = None):
        """target: None for the configured cluster file ($HAMN_CLUSTER, /etc/hamn/cluster.toml), if any."""
        config = settings()
        self.target: Target = target if target is not None else ClusterTarget(config.cluster_path)
        self.audit_dir = audit_dir or config.audit_dir
        self.lock_dir = lock_dir
        self.key = key
        self._verified: dict[Path, tuple[tuple[tuple[str, int, int], ...], RecentRun]] = {}
        self._status = StatusReader(self.target)

    @classmethod
    def reviewing(cls) -> Workspace:
        """For reading a finished run's log alone: no cluster."""
        return cls(ClusterTarget(None))

    @property
    def cluster(self) -> Cluster | None:
        return self.target.cluster

    @property
    def cluster_path(self) -> str | None:
        return self.target.cluster_path

    @property
    def is_training(self) -> bool:
        return self.target.training

    @property
    def training(self) -> TrainingTarget | None:
        return self.target if isinstance(self.target, TrainingTarget) else None

    @property
    def label(self) -> str:
        """Shown in the banner: "TRAINING — scenario …" or the lab's name."""
        return self.target.label

    # --- status ----------------------------------------------------------------------------------
    async def read_status(self, on_node: Callable[[NodeStatus], None] | None = None) -> Snapshot | None:
        """One reading of both nodes (None without a cluster file); raises on timeout. `on_node`
        hears of each node as soon as it is read."""
        if self.cluster is None:
            return None
        return await asyncio.wait_for(self._status.read(on_node), STATUS_TIMEOUT_S)

    def dial_early(self) -> None:
        """Start the TCP connections of the first reading before the event loop exists (see
        transport/reach.EarlyDials): a dead node is then known dead ~1 s sooner at start-up."""
        if self.cluster is not None and not self.is_training:
            from ..transport.reach import DIALS

            for node in self.cluster.nodes.values():
                if node.role in ("primary", "standby"):
                    DIALS.start(node.address, node.port, self.cluster.ssh.connect_timeout_s)

    # --- runbooks and runs -----------------------------------------------------------------------
    def runbooks(self) -> tuple[list[tuple[Path, Runbook]], list[str]]:
        """The runbooks for this cluster's database (all of them without a cluster), and load problems."""
        good, bad = shipped_runbooks()
        kind = self.cluster.cluster.database if self.cluster else None
        problems = [str(p) for exc in bad for p in exc.problems]
        return [(p, rb) for p, rb in good if kind is None or kind in rb.runbook.databases], problems

    def recent_runs(self, limit: int = 8) -> list[RecentRun]:
        """The newest runs in the audit directory, each verified (blocking: call from a thread)."""
        if not self.audit_dir.is_dir():
            return []
        runs = [d for d in self.audit_dir.iterdir() if d.is_dir() and segments_of(d)]
        runs.sort(key=lambda d: segments_of(d)[-1].stat().st_mtime, reverse=True)
        return [self._recent(run) for run in runs[:limit]]

    def _recent(self, run: Path) -> RecentRun:
        """One run, verified — again only if one of its files changed since the last time (home
        lists recent runs each time the operator comes back to it)."""
        files = [*segments_of(run), *sorted((run / "outputs").glob("*"))]  # the outputs are verified too
        stamp = tuple((p.name, st.st_mtime_ns, st.st_size) for p in files for st in (p.stat(),))
        cached = self._verified.get(run)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            report = verify_path(run)
        except Exception as exc:  # an unreadable log is shown as such, never skipped silently
            return RecentRun(run, run.name, "", "", "unreadable", f"INVALID: {exc}")
        started = next((r for r in report.records if r["type"] == "run_started"), None)
        finished = [r for r in report.records if r["type"] == "run_finished"]
        data = started["data"] if started else {}
        recent = RecentRun(run, data.get("runbook_id", run.name), data.get("run_id", ""), started["ts"] if started else "",
                           finished[-1]["data"]["outcome"] if finished else "unfinished", report.line, bool(data.get("training")))
        self._verified[run] = (stamp, recent)
        return recent

    def unfinished(self, runbook_id: str) -> RunContents | None:
        return find_unfinished(self.audit_dir, runbook_id, self.cluster.cluster.name if self.cluster else None)

    def open_run(self, runbook: str, operator: Operator, subscribers: Iterable[Subscriber], *, resume: bool = False,
                 sets: dict[str, str] | None = None, roles: dict[str, str] | None = None, dry_run: bool = False,
                 procedure: Procedure | None = None) -> RunSession:
        """Set a run up (blocking: call from a thread); `await session.run()` drives and closes it."""
        req = RunRequest(runbook, dict(sets or {}), dict(roles or {}), dry_run, self.audit_dir, resume, self.lock_dir, self.key)
        return RunSession.open(req, self.target, operator, subscribers, procedure=procedure)

    def on_fault(self, listener: Callable[[float, str], None]) -> None:
        """Training: be told as each scripted fault fires."""
        self.target.on_fault(listener)

    async def close(self) -> None:
        from ..transport.reach import DIALS

        DIALS.close()  # a dialled connection nobody took
        await self._status.close()
