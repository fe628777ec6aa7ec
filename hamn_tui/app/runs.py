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
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..audit import segment_name
from ..audit.errors import AuditError
from ..audit.verify import segments_of, verify_path
from ..record.fold import RunFold, RunState

__all__ = ["AuditError", "RunContents", "find_unfinished", "new_run_id", "read_run", "run_dir", "still_running"]


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
        with found[-1].open("rb") as f:
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
    try:
        fd = os.open(contents.segments[-1], os.O_RDONLY)
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
