"""The audit writer: an engine subscriber that appends one signed, hash-chained record per event.

Write-ahead: each record is one `os.write()` of one line, made before the subscriber returns,
so before the runner goes on; a mutating (or rollback) `command_sent` is also fsynced before
the command starts, as are checkpoints, decisions, step ends, lock events and the run's end.
Other records reach the disk with the next fsync (at the latest one second later, or at the
next checkpoint). With `group_commit` (what a run uses), a mutating `command_sent` returns an
awaitable instead of fsyncing inline: it completes once an fsync that started after the record
was written has completed. The runner awaits it before it starts the command, so the order on
disk is the same; the fsync is made in a thread, off the event loop, and shared by every node
of a group step that starts meanwhile (one fsync for many commands, not one each). Any write or fsync error marks the log broken and raises `AuditError`: the
run stops before anything else happens, and nothing is retried (a failed fsync may have lost
the data it reported on).
"""
from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import secrets
import socket
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Awaitable, Iterable, NoReturn

from .. import __version__
from ..settings import os_user
from ..record.events import (
    Answered, ApprovalDecided, ApprovalRequested, WitnessGate, CommandFinished, CommandSent, Event, LockEvent, OutputChunk, QuestionAsked, RollbackFinished, RunFinished,
    RunStarted, StepFinished, StepSkipped,
)
from ..record.codec import encode, event_type
from . import FORMAT_VERSION, NAMESPACE, sshsig
from .canon import CanonError, canonical, jsonable, mono_us, now_ts
from .errors import AuditError
from .files import private_dir, private_file
from .keys import Signer, SigningKeyError, resolve_signer, session_key
from .records import ZERO, signed_view
from ..record.redact import Redactor
from .store import EMPTY_SHA256, CommandCapture, OutputStore
from .witness.checkpoint import Checkpoint, leaf_hash, sign_checkpoint
from .witness.sender import WitnessSender
from .witness.tree import RightEdge

CHECKPOINT_EVERY = 64
SYNC_EVERY_S = 1.0
CHECKPOINT_AFTER = (StepFinished, StepSkipped, Answered, RollbackFinished, LockEvent, ApprovalRequested, ApprovalDecided, WitnessGate)
DURABLE = (QuestionAsked, Answered, StepFinished, StepSkipped, RollbackFinished, LockEvent, RunFinished, ApprovalRequested,
           ApprovalDecided, WitnessGate)
"""Fsynced at once (a question too: the operator may take hours to answer)."""


class AuditWriter:
    """Appends to one segment file; the file is made (never reused) when the first event comes.

    `signer`: who signs the opening and closing records (default: `keys.resolve_signer`).
    `secrets`: values redacted from every record and every output, before anything is written.
    `previous`: for a resumed run, `reader.head_of()` of the segment this one continues.
    """

    def __init__(self, path: Path, *, signer: Signer | None = None, secrets: Iterable[str] = (), previous: dict[str, Any] | None = None,
                 checkpoint_every: int = CHECKPOINT_EVERY, fsync: bool = True, signer_options: dict[str, Any] | None = None,
                 group_commit: bool = False, witness: WitnessSender | None = None):
        self.path = Path(path)
        self.sig_path = self.path.with_name(self.path.name + ".sig")
        self.signer = signer
        self.signer_options = signer_options or {}
        self.redactor = Redactor(secrets)
        self.previous = previous
        self.checkpoint_every = checkpoint_every
        self.do_fsync = fsync
        self.store = OutputStore(self.path.parent / "outputs", fsync=fsync)
        self.fd: int | None = None
        self.session: Signer | None = None
        self.log_id = ""
        self.seq = 0
        self.prev = ZERO
        self.mono0 = 0
        self.last_mono = 0
        self.since_checkpoint = 0
        self.whole = hashlib.sha512()
        self.unsynced = False
        self.last_sync = time.monotonic()
        self.group_commit = group_commit and fsync
        self.synced_seq = 0
        """Records up to this count are on disk."""
        self._pool: ThreadPoolExecutor | None = None
        self._syncing: Future[None] | None = None
        self.captures: dict[tuple[str, str], CommandCapture] = {}
        self.witness = witness
        """Sends each checkpoint (and the closing one) to the witnesses, in the background."""
        self.tree = RightEdge()
        """The RFC 6962 tree of the lines so far (its right edge), for the checkpoints witnesses cosign."""
        self.closed = False
        self.broken: str | None = None
        self.outcome: str | None = None
        try:
            private_dir(self.path.parent)  # 0700 whatever the umask: the run's log and outputs are its owner's
        except OSError as exc:
            raise AuditError(f"cannot make the audit directory {self.path.parent}: {exc.strerror}") from None
        if not os.access(self.path.parent, os.W_OK | os.X_OK):
            raise AuditError(f"cannot write in the audit directory {self.path.parent}: permission denied")
        if self.path.exists():
            raise AuditError(f"{self.path} already exists: a log is never appended to after the fact (a resume starts a new segment)")

    # --- the subscriber ----------------------------------------------------------------------
    def __call__(self, event: Event) -> Awaitable[None] | None:
        if self.broken:
            raise AuditError(f"the audit log {self.path} could not be written ({self.broken}); nothing more may run")
        if self.closed:
            raise AuditError(f"the audit log {self.path} is closed; {event_type(event)} cannot be recorded")
        try:
            return self._handle(event)
        except AuditError:
            raise
        except OSError as exc:
            self._fail(f"{exc.strerror or exc}")
        except (CanonError, SigningKeyError, sshsig.SigError) as exc:
            self._fail(str(exc))
        except Exception as exc:  # a bug: the log's state is unknown, so nothing more may be written
            self._fail(f"{type(exc).__name__}: {exc}")

    def _fail(self, why: str) -> NoReturn:
        self.broken = why
        raise AuditError(f"cannot write the audit log {self.path}: {why}; stopping before anything else runs")

    def _handle(self, event: Event) -> Awaitable[None] | None:
        if isinstance(event, OutputChunk):
            key = (event.step_id, event.node)
            cap = self.captures.get(key) or self._capture(key)
            cap.write(event.stream, event.data)
            return None
        if self.fd is None:
            self._open(event)
        if self.witness is not None:
            for text in self.witness.take_messages():
                self._append("note", self.redactor.deep({"text": text, "step_id": None}))
        kind, data = encode(event)
        data = jsonable(data)
        sync = isinstance(event, DURABLE)
        if isinstance(event, RunStarted):
            data["tool_version"] = __version__
        elif isinstance(event, CommandSent):
            self._capture((event.step_id, event.node))
            sync = event.mutating or event.rollback
        elif isinstance(event, CommandFinished):
            cap = self.captures.pop((event.step_id, event.node), None)
            data.update(cap.finish() if cap else {"stdout_sha256": EMPTY_SHA256, "stdout_size": 0, "stderr_sha256": EMPTY_SHA256,
                                                  "stderr_size": 0, "redactions": 0, "timing": []})
        self._append(kind, self.redactor.deep(data))
        if isinstance(event, CHECKPOINT_AFTER):
            self._checkpoint(kind)
        elif self.since_checkpoint >= self.checkpoint_every:
            self._checkpoint("every")
        if isinstance(event, RunFinished):
            self._close(event.outcome, self.redactor.text(event.reason))
            return None
        if sync and self.group_commit and isinstance(event, CommandSent):
            return self._synced(self.seq)
        if sync or time.monotonic() - self.last_sync >= SYNC_EVERY_S:
            self._sync()
        return None

    def _capture(self, key: tuple[str, str]) -> CommandCapture:
        old = self.captures.pop(key, None)
        if old is not None:
            old.discard()
        cap = self.captures[key] = CommandCapture(self.store, self.redactor)
        return cap

    # --- records -----------------------------------------------------------------------------
    def _record(self, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        mono = max(mono_us() - self.mono0, self.last_mono)
        self.last_mono = mono
        return {"v": FORMAT_VERSION, "log": self.log_id, "seq": self.seq, "prev": self.prev, "ts": now_ts(), "mono": mono, "type": kind, "data": data}

    def _append(self, kind: str, data: dict[str, Any], record: dict[str, Any] | None = None) -> None:
        record = record or self._record(kind, data)
        line = canonical(record)
        assert b"\n" not in line
        buf = line + b"\n"
        written = _write(self.fd, buf)  # type: ignore[arg-type]
        if written != len(buf):
            raise OSError(0, f"short write ({written} of {len(buf)} bytes): the disk may be full")
        self.whole.update(buf)
        if self.witness is not None:
            self.tree.append(leaf_hash(line))
        self.prev = hashlib.sha256(line).hexdigest()
        self.seq += 1
        self.since_checkpoint += 1
        self.unsynced = True

    def _signed(self, kind: str, data: dict[str, Any], fields: dict[str, Signer]) -> None:
        record = self._record(kind, data)
        message = canonical(signed_view(record))
        for name, signer in fields.items():
            data[name] = sshsig.sign(signer, message, namespace=NAMESPACE)
        self._append(kind, data, record)
        self.since_checkpoint = 0

    def _checkpoint(self, reason: str) -> None:
        assert self.session is not None
        self._signed("checkpoint", {"reason": reason}, {"sig": self.session})
        self._offer()

    def _offer(self) -> None:
        """Hand the witnesses a checkpoint of everything written so far, once it is on disk (a
        witness must never hold a record the console could lose)."""
        if self.witness is None or self.session is None:
            return
        self._sync()
        cp = Checkpoint(self.witness.origin, self.seq, self.tree.root())
        self.witness.offer(sign_checkpoint(cp, self.session), self.seq)

    def _sync(self) -> None:
        if self.unsynced and self.fd is not None:
            if self.do_fsync:
                _fsync(self.fd)
            self.unsynced = False
            self.synced_seq = self.seq
            self.last_sync = time.monotonic()

    async def _synced(self, upto: int) -> None:
        """Group commit: returns once the first `upto` records are on disk, joining the fsync in
        flight or starting one (in a thread) that covers everything written so far."""
        while self.synced_seq < upto:
            if self.broken:
                raise AuditError(f"cannot write the audit log {self.path}: {self.broken}; stopping before anything else runs")
            sync = self._syncing if self._syncing is not None else self._start_sync()
            try:
                await asyncio.shield(asyncio.wrap_future(sync))
            except OSError:
                pass  # the log is marked broken: the next turn says so

    def _start_sync(self) -> Future[None]:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="hamn-audit-fsync")
        target = self.seq
        sync = self._syncing = self._pool.submit(_fsync, self.fd)  # type: ignore[arg-type]

        def done(f: Future[None]) -> None:  # in the fsync thread: plain assignments only
            exc = f.exception()
            if exc is not None:
                self.broken = self.broken or f"fsync: {getattr(exc, 'strerror', None) or exc}"
            else:
                self.synced_seq = max(self.synced_seq, target)
            if self._syncing is f:
                self._syncing = None

        sync.add_done_callback(done)
        return sync

    def _wait_syncing(self) -> None:
        """Before the file is closed: an fsync still in its thread finishes first."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    # --- opening and closing -------------------------------------------------------------------
    def _open(self, first: Event) -> None:
        run = first if isinstance(first, RunStarted) else None
        training = bool(run and run.training)
        if self.signer is None:
            self.signer = resolve_signer(training=training, **self.signer_options)
        if self.previous is not None:
            prev_file = self.path.parent / self.previous["file"]
            try:
                size = prev_file.stat().st_size
            except OSError as exc:
                raise AuditError(f"the segment this run continues, {prev_file}, cannot be read: {exc.strerror}") from None
            if size != self.previous["size"]:
                raise AuditError(f"{prev_file} changed since it was read ({self.previous['size']} → {size} bytes): is the run still going on elsewhere?")
        try:
            fd = private_file(self.path, os.O_EXCL | os.O_APPEND)
        except FileExistsError:
            raise AuditError(f"{self.path} already exists: another hamn is writing this run") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise AuditError(f"{self.path} is locked by another process") from None
        self.fd = fd
        _fsync_dir(self.path.parent)
        self.session = session_key()
        self.log_id = secrets.token_hex(16)
        self.mono0 = mono_us()
        data = {
            "namespace": NAMESPACE,
            "session_key": self.session.public_line,
            "signer": self.signer.describe(),
            "host": socket.gethostname(),
            "os_user": os_user(),
            "pid": os.getpid(),
            "tool": f"hamn {__version__}",
            "run_id": run.run_id if run else "",
            "runbook_id": run.runbook_id if run else "",
            "runbook_sha256": run.runbook_sha256 if run else "",
            "training": training,
            "segment": int(self.previous["segment"]) + 1 if self.previous else 0,
            "previous": {k: v for k, v in self.previous.items() if k != "segment"} if self.previous else None,
        }
        self._signed("log_open", self.redactor.deep(jsonable(data)), {"attest": self.signer})
        self._sync()

    def _close(self, outcome: str, reason: str) -> None:
        assert self.session is not None and self.signer is not None
        self._wait_syncing()
        self._signed("log_close", {"outcome": outcome, "reason": reason, "records": self.seq}, {"sig": self.session, "attest": self.signer})
        self._sync()
        self._offer()  # the whole segment, closing record included
        self.closed = True
        self.outcome = outcome
        self.session = None  # nobody can sign for this segment any more
        detached = sshsig.sign(self.signer, namespace=NAMESPACE, digest=self.whole.digest())
        tmp = self.sig_path.with_name(self.sig_path.name + ".tmp")
        fd = private_file(tmp, os.O_TRUNC)
        try:
            os.write(fd, detached.encode())
            if self.do_fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.sig_path)
        if self.do_fsync:
            _fsync_dir(self.path.parent)

    def close(self, reason: str = "the process stopped before the run finished") -> None:
        """Release the file. A segment still open (the run raised, or was interrupted) is closed
        with outcome "interrupted": signed, and resumable."""
        for cap in self.captures.values():
            cap.discard()
        self.captures.clear()
        self._wait_syncing()
        if self.fd is None:
            return
        try:
            if not self.closed and not self.broken and self.session is not None:
                try:
                    self._close("interrupted", reason)
                except (OSError, CanonError, SigningKeyError) as exc:
                    self.broken = str(exc)
            elif not self.broken:
                self._sync()
        finally:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = None

    # --- for the caller --------------------------------------------------------------------------
    def checkpoint_now(self) -> int:
        """A dangerous step is about to wait for a witness: checkpoint everything written so far
        (unless the last record is a checkpoint) and offer it; the records it covers."""
        if self.witness is not None and self.session is not None and not self.closed and not self.broken:
            try:
                if self.since_checkpoint:
                    self._checkpoint("witness")
                else:
                    self._offer()
            except OSError as exc:
                self._fail(f"{exc.strerror or exc}")
        return self.seq

    @property
    def head(self) -> str:
        """SHA-256 of the last line written (what an off-box witness should keep)."""
        return self.prev

    def summary(self) -> str:
        state = f"closed ({self.outcome})" if self.closed else "broken: " + self.broken if self.broken else "open"
        return f"{self.path} — log {self.log_id}, {self.seq} records, {state}, head sha256 {self.prev}"


def _write(fd: int, data: bytes) -> int:
    """One write per record (tests replace this to simulate a full disk)."""
    return os.write(fd, data)


def _fsync(fd: int) -> None:
    os.fsync(fd)


def _fsync_dir(d: Path) -> None:
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
