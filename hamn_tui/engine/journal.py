"""The run journal: one JSON line per event, on disk before the command it announces runs.

It is what `hamn run --resume` continues from after a crash, a `kill -9` or a lost console.
(The signed audit log will take this role; until then this is the resume source.) Output
chunks are not journalled. A torn last line — the process died mid-write — is ignored and
reported; damage anywhere else refuses the resume.
"""
from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .events import Event, OutputChunk, event_data, event_type
from .runner import RunState

DURABLE = {"run_started", "command_sent", "answered", "captured", "step_finished", "step_skipped", "rollback_finished", "lock_event", "run_finished"}
"""Records fsynced at once; the rest are written (one write each) and reach disk with the next fsync."""


class JournalError(Exception):
    """The journal cannot be written or read; nothing further may run unrecorded."""


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def default_dir() -> Path:
    env = os.environ.get("HAMN_AUDIT_DIR")
    if env:
        return Path(env)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "hamn" / "runs"


class Journal:
    """A subscriber that appends events; raises JournalError on any write failure."""

    def __init__(self, path: Path):
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            raise JournalError(f"cannot open the run journal {path}: {exc.strerror}") from None
        self.seq = sum(1 for _ in path.open("rb"))

    def __call__(self, event: Event) -> None:
        if isinstance(event, OutputChunk):
            return
        kind = event_type(event)
        record = {"seq": self.seq, "ts": datetime.now(timezone.utc).isoformat(timespec="microseconds"), "type": kind, "data": event_data(event)}
        line = (json.dumps(record, sort_keys=True, separators=(",", ":"), default=str) + "\n").encode()
        try:
            written = os.write(self.fd, line)
            if written != len(line):
                raise OSError(0, f"short write ({written} of {len(line)} bytes)")
            if kind in DURABLE:
                os.fsync(self.fd)
        except OSError as exc:
            raise JournalError(f"cannot write the run journal {self.path}: {exc.strerror or exc}; stopping before anything else runs") from None
        self.seq += 1

    def close(self) -> None:
        try:
            os.fsync(self.fd)
        finally:
            os.close(self.fd)


@dataclass
class JournalContents:
    path: Path
    started: dict[str, Any]
    state: RunState
    finished: str | None
    """The run's final outcome, or None if it never finished; "waiting" runs are resumable."""
    torn: bool = False
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def resumable(self) -> bool:
        return self.finished in (None, "waiting")


def read_journal(path: Path) -> JournalContents:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise JournalError(f"cannot read {path}: {exc.strerror}") from None
    lines = raw.split(b"\n")
    torn = False
    if lines and lines[-1] == b"":
        lines.pop()
    elif lines:
        torn = True  # no newline at the end: the last write was cut short
        lines.pop()
    records: list[dict[str, Any]] = []
    for n, line in enumerate(lines, 1):
        try:
            records.append(json.loads(line))
        except ValueError:
            if n == len(lines):
                torn = True
                break
            raise JournalError(f"{path}:{n}: damaged journal record; refusing to resume from it") from None
    if not records or records[0].get("type") != "run_started":
        raise JournalError(f"{path}: not a run journal (no run_started record)")
    state = RunState()
    finished: str | None = None
    started = records[0]["data"]
    for rec in records:
        kind, data = rec["type"], rec["data"]
        if kind == "run_started":
            finished = None
        elif kind == "step_started":
            # a step announced again after a resume keeps its unknown command: only its
            # step_finished (an operator's decision) clears it
            if data["step_id"] != state.in_flight:
                state.in_flight = data["step_id"]
                state.sent_in_flight = False
        elif kind == "command_sent" and not data.get("rollback"):
            state.sent_in_flight = True
        elif kind == "captured":
            state.captured[data["name"]] = data["value"]
        elif kind in ("step_finished", "step_skipped"):
            sid = data["step_id"]
            state.outcomes[sid] = data.get("outcome", "skipped")
            if data.get("choice"):
                state.choices[sid] = data["choice"]
            state.in_flight, state.sent_in_flight = None, False
        elif kind == "rollback_finished" and data.get("ok"):
            state.outcomes[data["step_id"]] = "rolled_back"
        elif kind == "run_finished":
            finished = data["outcome"]
    return JournalContents(path, started, state, finished, torn, records)


def find_unfinished(directory: Path, runbook_id: str, cluster: str | None) -> JournalContents | None:
    """The newest resumable run of this runbook on this cluster, if any."""
    if not directory.is_dir():
        return None
    for path in sorted(directory.glob(f"{runbook_id}-*.journal.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            contents = read_journal(path)
        except JournalError:
            continue
        if contents.started.get("cluster") == cluster and contents.resumable:
            return contents
    return None


def journal_path(directory: Path, runbook_id: str, run_id: str) -> Path:
    return directory / f"{runbook_id}-{run_id}.journal.jsonl"


