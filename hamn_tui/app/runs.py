"""Runs on disk: where a run's audit log lives, finding an unfinished run, and reading one back.

A run lives in `<audit dir>/<runbook id>-<run id>/` as one or more segments; a resume after a
crash, a `kill -9`, a lost console or a "waiting" stop adds a segment and never touches the old
ones. `read_run` verifies the segments (chain, signatures, outputs — not who signed, which is
the auditor's `hamn audit verify --allowed-signers`) and folds their records with the one fold
(`record.fold`): a torn last line is ignored and reported; damage anywhere refuses the resume.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import secrets
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..audit import segment_name
from ..audit.errors import AuditError
from ..audit.files import open_regular
from ..audit.verify import segments_of, verify_path
from ..record.fold import RunFold, RunState
from ..settings import os_user
from .errors import SetupError

__all__ = ["AuditError", "RunContents", "RunInProgress", "StartLock", "find_unfinished", "new_run_id", "read_run", "run_dir",
           "running_run", "still_running"]

START_WAIT_S = 30.0
"""How long a run waits for another one starting on the same runbook and cluster to be under way
(opening a run takes a moment: files, the signing key, the log's first records)."""


class RunInProgress(SetupError):
    """Another hamn process is running (or starting) this runbook on this cluster: nothing was started."""


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def run_dir(directory: Path, runbook_id: str, run_id: str) -> Path:
    return directory / f"{runbook_id}-{run_id}"


@dataclass
class RunContents:
    path: Path
    """The run directory (or the lone segment file given)."""
    started: dict[str, Any]
    state: RunState
    finished: str | None
    """The run's final outcome, or None if it never finished; "waiting" runs are resumable."""
    torn: bool = False
    records: list[dict[str, Any]] = field(default_factory=list)
    segments: list[Path] = field(default_factory=list)
    head: dict[str, Any] = field(default_factory=dict)
    """What a new segment must name: the last segment's file, log id, size, last line hash…"""

    @property
    def resumable(self) -> bool:
        return self.finished in (None, "waiting")

    @property
    def next_segment(self) -> Path:
        return self.segments[-1].with_name(segment_name(self.head["segment"] + 1))


def read_run(path: Path) -> RunContents:
    """Replay a run's records: `path` is a run directory or one segment (with those it continues)."""
    path = Path(path)
    if not path.exists():
        raise AuditError(f"cannot read {path}: no such file or directory")
    report = verify_path(path)
    if report.status == "INVALID":
        raise AuditError(f"{path}: the audit log is damaged, refusing to resume from it: {report.line.removeprefix('INVALID: ')}")
    records = [r for r in report.records if r["type"] not in ("log_open", "checkpoint", "log_close")]
    if not records or records[0]["type"] != "run_started":
        raise AuditError(f"{path}: not a run's log (no run_started record)")
    fold = RunFold()
    for rec in records:
        fold.apply_record(rec)
    last = report.segments[-1]
    head = {"file": last.path.name, "log": last.log_id, "size": last.size, "head": last.head, "seq": last.count - 1,
            "torn_bytes": len(last.torn), "torn_sha256": hashlib.sha256(last.torn).hexdigest() if last.torn else None,
            "segment": (last.open or {}).get("segment", 0)}
    return RunContents(path, records[0]["data"], fold.state, fold.outcome, bool(last.torn), [r for s in report.segments for r in s.records],
                       [s.path for s in report.segments], head)


def _finished_quickly(run: Path) -> bool:
    """True when the run's last segment ends with a log_close of a run that ended (no full read)."""
    found = segments_of(run)
    if not found:
        return True
    try:
        fd, _ = open_regular(found[-1])  # a FIFO in its place must not stall the start of a run
        with os.fdopen(fd, "rb") as f:
            f.seek(max(0, f.seek(0, 2) - 65536))
            tail = f.read().rstrip(b"\n").rsplit(b"\n", 1)[-1]
    except OSError:
        return False
    return b'"type":"log_close"' in tail and any(f'"outcome":"{o}"'.encode() in tail for o in ("done", "failed", "aborted"))


def find_unfinished(directory: Path, runbook_id: str, cluster: str | None) -> RunContents | None:
    """The newest resumable run of this runbook on this cluster, if any."""
    if not directory.is_dir():
        return None
    runs = [d for d in directory.glob(f"{runbook_id}-*") if d.is_dir() and segments_of(d)]
    for run in sorted(runs, key=lambda d: segments_of(d)[-1].stat().st_mtime, reverse=True):
        if _finished_quickly(run):
            continue
        try:
            contents = read_run(run)
        except AuditError:
            continue
        if contents.started.get("runbook_id") == runbook_id and contents.started.get("cluster") == cluster and contents.resumable:
            return contents
    return None


def still_running(contents: RunContents) -> bool:
    """Whether a hamn process still holds the run's last segment (it is not a crashed run)."""
    return _held(contents.segments[-1])


class StartLock:
    """Makes starting a run atomic: an exclusive lock on `<audit dir>/.start-<runbook>-<cluster>.lock`,
    taken before looking for unfinished runs and held until this run's first segment is open
    and locked (its `run_started` written) — so of two runs started at the same moment, exactly
    one runs: the other sees it in progress (or, if it waited for this lock and the holder
    started a run meanwhile, that it started at the same moment) instead of both running or one
    resuming a live run.

    The file names its holder (user, host, pid, since) and, once its run started, the run id.
    The holder removes it as it lets go, so the audit directory holds only runs; whoever waited
    on it still reads it through their descriptor, then (if no run started) locks a fresh one.
    It is a subscriber of the run: `RunStarted` (after the audit writer has written it) releases it."""

    def __init__(self, directory: Path, runbook_id: str, cluster: str | None, wait_s: float = START_WAIT_S):
        self.path = directory / f".start-{_safe(runbook_id)}-{_safe(cluster or 'local')}.lock"
        self.what = f"{runbook_id} on {cluster or 'this machine'}"
        self.fd: int | None = None
        self.owned = False
        """This process holds the file the path names (and so removes it when it lets go)."""
        self.info: dict[str, Any] = {"user": os_user(), "host": socket.gethostname(), "pid": os.getpid(),
                                     "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        self.started_meanwhile: RunInProgress | None = None
        """Set when this run waited for the lock and the run it waited for started meanwhile."""
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SetupError(f"cannot lock the start of a run in {directory}: {exc.strerror or exc}") from None
        waited = False
        deadline = time.monotonic() + wait_s
        while True:
            try:
                self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                raise SetupError(f"cannot lock the start of a run in {directory}: {exc.strerror or exc}") from None
            while True:
                try:
                    fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError:
                    waited = True
                    if time.monotonic() >= deadline:
                        holder = self._holder(self._read())
                        self.release()
                        raise RunInProgress(f"a run of {self.what} is starting {holder}; nothing was started") from None
                    time.sleep(0.02)
            last = self._read()
            if waited and last.get("run_id"):
                self.started_meanwhile = RunInProgress(f"a run of {self.what} started at the same moment: run {last['run_id']} "
                                                       f"{self._holder(last)}; nothing was started")
                return
            if self._names_this_file():
                break
            self.release()  # the holder removed it as it let go without starting a run: lock a fresh one
        self.owned = True
        self._write(self.info)

    def _names_this_file(self) -> bool:
        assert self.fd is not None
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        mine = os.fstat(self.fd)
        return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(os.pread(self.fd, 4096, 0).decode()) if self.fd is not None else {}
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, info: dict[str, Any]) -> None:
        assert self.fd is not None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, json.dumps(info).encode(), 0)

    @staticmethod
    def _holder(info: dict[str, Any]) -> str:
        if not info:
            return "in another hamn process"
        return f"by {info.get('user', '?')} since {info.get('since', '?')} (pid {info.get('pid', '?')} on {info.get('host', '?')})"

    def __call__(self, event: object) -> None:
        from ..record.events import RunStarted

        if isinstance(event, RunStarted) and self.fd is not None:
            if self.owned:
                try:
                    self._write({**self.info, "run_id": event.run_id})
                except OSError:
                    pass  # the lock still goes; a waiting run then looks for this one's log
            self.release()

    def release(self) -> None:
        """Let go: the owner removes the file first (while still holding it), then closes it."""
        if self.fd is None:
            return
        if self.owned:
            self.owned = False
            try:
                os.unlink(self.path)
            except OSError:
                pass  # left behind: the next run locks it as it is
        os.close(self.fd)  # closing the only descriptor drops the lock
        self.fd = None


def running_run(directory: Path, runbook_id: str, cluster: str | None) -> RunInProgress | None:
    """A run of this runbook on this cluster that a live hamn process holds (its last segment
    locked), as the error that says who runs it and since when; None if there is none."""
    if not directory.is_dir():
        return None
    for run in directory.glob(f"{runbook_id}-*"):
        found = segments_of(run) if run.is_dir() else []
        if not found or not _held(found[-1]):  # only a live run's segment is locked: finished ones are not read
            continue
        try:
            contents = read_run(run)
        except AuditError as exc:  # being written, yet unreadable: say so rather than start beside it
            return RunInProgress(f"a run of {runbook_id} is still going on in another hamn process in {run} (its log cannot be read: {exc}); nothing was started")
        if contents.started.get("cluster") != cluster:
            continue
        # who: the process writing the last segment; since: the run's first start (a resumed run keeps it)
        o: dict[str, Any] = next((r["data"] for r in reversed(contents.records) if r["type"] == "log_open"), {})
        since = next((str(r["ts"]) for r in contents.records if r["type"] == "run_started"), "?")
        return RunInProgress(f"a run of {runbook_id} on {cluster or 'this machine'} is still going on in another hamn process: run {contents.started.get('run_id')} "
                             f"by {contents.started.get('operator') or o.get('os_user', '?')} since {since} "
                             f"(pid {o.get('pid', '?')} on {o.get('host', '?')}, {run}); nothing was started")
    return None


def _held(segment: Path) -> bool:
    """Whether another process holds the segment's lock (the audit writer's, for as long as it writes)."""
    try:
        fd, _ = open_regular(segment)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:80]
