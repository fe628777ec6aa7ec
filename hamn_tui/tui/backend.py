"""Everything the TUI needs from the core, behind one object: the cluster, its status, the
runbooks that apply, recent runs, and how to start (or resume) a run.

A `Backend` is either real (a cluster file, SSH) or training (one `Training` session held for
the whole app, so runbooks chain: fail over, then fail back, on the same simulated pair). The
screens never build transports or probes themselves. No Textual here.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from ..audit.verify import segments_of, verify_path  # imported here, not in the worker thread: CPython 3.11's
# compiler is not thread-safe while another thread imports (SystemError: AST recursion depth mismatch)
from ..catalog import shipped_runbooks
from ..engine.events import Subscriber
from ..engine.journal import JournalContents, default_dir, find_unfinished
from ..engine.operator import Operator
from ..engine.session import Prepared, RunRequest, default_cluster_path, prepare
from ..inventory.model import Cluster
from ..runbook.model import Runbook
from ..status import Snapshot, snapshot

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


class Backend:
    def __init__(self, *, cluster_path: str | None = None, training: Any = None, audit_dir: Path | None = None,
                 lock_dir: str = "/var/lock", key: str | None = None, label: str = "", use_cluster: bool = True):
        self.training = training
        self.audit_dir = audit_dir or default_dir()
        self.lock_dir = lock_dir
        self.key = key
        self.label = label
        """Shown in the banner: "TRAINING — scenario …" or the lab's name."""
        self.cluster_path: str | None
        self.cluster: Cluster | None
        if training is not None:
            self.cluster_path, self.cluster = str(training.cluster_path), training.cluster
        else:
            self.cluster_path = (cluster_path or default_cluster_path()) if use_cluster else None
            if self.cluster_path:
                from ..inventory.loader import load_cluster

                self.cluster = load_cluster(self.cluster_path)
            else:
                self.cluster = None
        self._verified: dict[Path, tuple[tuple[tuple[str, int, int], ...], RecentRun]] = {}
        self._status_probes: Any = None
        self._status_transport: Any = None

    @property
    def is_training(self) -> bool:
        return self.training is not None

    # --- status ----------------------------------------------------------------------------------
    def _probes(self) -> Any:
        if self._status_probes is None:
            assert self.cluster is not None
            if self.training is not None:
                self._status_probes = self.training.probes(self.training.status_context())
            else:
                from ..probes.registry import cluster_probes
                from ..runbook.context import RunContext, bind_roles
                from ..transport.local import LocalTransport
                from ..transport.router import Router
                from ..transport.ssh import SshTransport

                self._status_transport = Router(LocalTransport(), SshTransport(self.cluster))
                self._status_probes = cluster_probes(self._status_transport, self.cluster, RunContext({}, self.cluster, bind_roles(self.cluster)))
        return self._status_probes

    async def read_status(self) -> Snapshot | None:
        """One reading of both nodes (None without a cluster file); raises on timeout."""
        if self.cluster is None:
            return None
        return await asyncio.wait_for(snapshot(self.cluster, self._probes()), STATUS_TIMEOUT_S)

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

    def unfinished(self, runbook_id: str) -> JournalContents | None:
        return find_unfinished(self.audit_dir, runbook_id, self.cluster.cluster.name if self.cluster else None)

    def prepare(self, runbook: str, operator: Operator, subscribers: Iterable[Subscriber], *, resume: bool = False,
                sets: dict[str, str] | None = None, roles: dict[str, str] | None = None, dry_run: bool = False) -> Prepared:
        req = RunRequest(runbook, self.cluster_path, dict(sets or {}), dict(roles or {}), dry_run, self.audit_dir, resume, self.lock_dir, self.key)
        if self.training is not None:
            return self.training.prepare(req, operator, subscribers)
        return prepare(req, operator, list(subscribers))

    def on_fault(self, listener: Callable[[float, str], None]) -> None:
        """Training: be told as each scripted fault fires."""
        if self.training is not None:
            self.training.on_fault.append(listener)

    async def close(self) -> None:
        close = getattr(self._status_transport, "close", None)
        if close is not None:
            await close()
