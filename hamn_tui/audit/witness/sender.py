"""During a run: each checkpoint the writer makes goes to every witness, each witness served by
its own background thread (ssh is a subprocess; the engine's event loop never waits on a witness,
and a dead witness's connect timeout never delays a live one). Store-and-forward: only the
newest checkpoint waits to be sent; a witness that does not answer is asked again at the next
one, from where `holds()` says it is, so nothing is lost and the run never stops for a witness.
What happened to the witnesses (one unreachable, its backlog drained) is handed back as notes for
the writer to record, on the event loop's thread."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .check import append_cosignature
from .checkpoint import verify_cosignature
from .client import SshTarget, holds, send
from .note import NoteError, Signature, Verifier, parse_note


@dataclass(frozen=True)
class Offer:
    signed: bytes
    """The checkpoint as a signed note (by the segment's session key)."""
    size: int


@dataclass(frozen=True)
class Witnessed:
    """How far the run is witnessed: records after the last cosigned checkpoint, and since when."""

    unwitnessed: int
    seconds: float
    down: tuple[str, ...]

    def line(self) -> str:
        if not self.unwitnessed:
            return "fully witnessed"
        down = f" (no cosignature from {', '.join(self.down)})" if self.down else ""
        return f"unwitnessed: {self.unwitnessed} records, {self.seconds:.0f} s{down}"


def label(t: SshTarget) -> str:
    return f"{t.user}@{t.host}:{t.port}"


class WitnessSender:
    """Sends one segment's checkpoints (origin `origin`, file `segment`) to `targets`."""

    def __init__(self, targets: list[SshTarget], segment: Path, origin: str, timeout_s: float = 30.0, keys: list[Verifier] | None = None):
        self.targets = targets
        self.keys = keys
        """The witnesses' verifier keys: when given, a cosignature by any other key is not kept."""
        self.segment = segment
        self.origin = origin
        self.timeout_s = timeout_s
        self._cond = threading.Condition()
        self._gen = 0
        """Checkpoints offered so far (a re-offer counts): each witness's thread sends the newest."""
        self._done: dict[str, int] = {label(t): 0 for t in targets}
        """Per witness: the offer it has handled up to."""
        self._threads: list[threading.Thread] = []
        self._read_lock = threading.Lock()
        self._cosig_lock = threading.Lock()
        self._held: dict[str, int | None] = {label(t): None for t in targets}
        """Records each witness is known to hold; None: ask it (`holds`) before sending."""
        self._down: dict[str, str] = {}
        self._messages: list[str] = []
        self.cosigned = 0
        """Records covered by the newest checkpoint a witness cosigned."""
        self.cosigned_by: dict[str, int] = {}
        """Per witness (label): records covered by the newest checkpoint it cosigned."""
        self._last: Offer | None = None
        self.cosigned_at = time.monotonic()
        self._lines: list[bytes] = []
        self._read = 0
        """The segment's lines read so far, and the bytes they take (only the new tail is read)."""

    # --- the writer's side (event loop thread) --------------------------------------------------
    def offer(self, signed: bytes, size: int) -> None:
        """Queue the newest checkpoint (an older one still waiting is superseded: it is a prefix)."""
        with self._cond:
            self._last = Offer(signed, size)
            self._gen += 1
            if not self._threads:
                self._threads = [threading.Thread(target=self._loop, args=(t,), name=f"hamn-witness-{label(t)}", daemon=True)
                                 for t in self.targets]
                for thread in self._threads:
                    thread.start()
            self._cond.notify_all()

    def reoffer(self) -> None:
        """Send the newest checkpoint again to the witnesses that are idle (a run waiting on a
        witness makes no new ones, and a witness that was down is otherwise asked only at the next)."""
        with self._cond:
            if self._last is not None and all(done >= self._gen for done in self._done.values()):
                self._gen += 1
                self._cond.notify_all()

    def cosigned_upto(self, who: str) -> int:
        with self._cond:
            return self.cosigned_by.get(who, 0)

    def why_down(self, who: str) -> str:
        with self._cond:
            return self._down.get(who, "")

    def take_messages(self) -> list[str]:
        with self._cond:
            out, self._messages = self._messages, []
        return out

    def status(self, records: int) -> Witnessed:
        with self._cond:
            return Witnessed(max(0, records - self.cosigned), time.monotonic() - self.cosigned_at, tuple(sorted(self._down)))

    def drain(self, timeout_s: float) -> bool:
        """At the run's end: wait (bounded) until every witness was sent the last checkpoint offered."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while any(done < self._gen for done in self._done.values()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    # --- one thread per witness ------------------------------------------------------------------
    def _loop(self, t: SshTarget) -> None:
        who = label(t)
        while True:
            with self._cond:
                while self._done[who] >= self._gen:
                    self._cond.wait()
                gen, offer = self._gen, self._last
            assert offer is not None
            try:
                self._deliver(t, offer)
            finally:
                with self._cond:
                    self._done[who] = gen
                    self._cond.notify_all()

    def _deliver(self, t: SshTarget, offer: Offer) -> None:
        try:
            with self._read_lock:
                lines = self._lines_upto(offer.size)
        except OSError as exc:
            self._failed(label(t), f"cannot read {self.segment.name} to send it: {exc.strerror or exc}")
            return
        self._send_one(t, offer, lines)

    def _lines_upto(self, size: int) -> list[bytes]:
        """The segment's first `size` lines (the writer fsynced them before offering the checkpoint)."""
        if len(self._lines) < size:
            with open(self.segment, "rb") as fh:
                fh.seek(self._read)
                tail = fh.read()
            complete = tail[:tail.rfind(b"\n") + 1]
            self._lines += complete.split(b"\n")[:-1]
            self._read += len(complete)
        if len(self._lines) < size:
            raise OSError(0, f"it has {len(self._lines)} records, the checkpoint covers {size}")
        return self._lines[:size]

    def _unknown_key(self, signed: bytes, sig: Signature) -> str:
        """Why a cosignature is not kept ("" if it is by one of the witness keys, or none were given)."""
        if self.keys is None:
            return ""
        key = next((k for k in self.keys if k.name == sig.name and k.key_id == sig.key_id), None)
        if key is None:
            return f"its cosignature is by {sig.name}, a key not in the witness keys file"
        try:
            verify_cosignature(parse_note(signed).text, sig, key)
        except NoteError as exc:
            return str(exc)
        return ""

    def _send_one(self, t: SshTarget, offer: Offer, lines: list[bytes]) -> None:
        who = label(t)
        held = self._held.get(who)
        if held is None:
            answer = holds(self.origin, t, self.timeout_s)
            if not answer.ok or answer.holds is None:
                return self._failed(who, answer.text)
            held = answer.holds
        if held > offer.size:
            self._held[who] = None
            return self._failed(who, f"it holds {held} records, more than the {offer.size} this checkpoint covers")
        answer = send(offer.signed, held, lines[held:offer.size], t, self.timeout_s)
        if not answer.ok or answer.cosignature is None:
            self._held[who] = None  # ask again where it is
            return self._failed(who, answer.text)
        bad = self._unknown_key(offer.signed, answer.cosignature)
        if bad:
            return self._failed(who, bad)
        try:
            with self._cosig_lock:
                append_cosignature(self.segment, offer.signed, answer.cosignature)
        except OSError as exc:
            return self._failed(who, f"its cosignature could not be kept: {exc.strerror or exc}")
        self._held[who] = offer.size
        with self._cond:
            self.cosigned_by[who] = max(self.cosigned_by.get(who, 0), offer.size)
            if who in self._down:
                del self._down[who]
                self._messages.append(f"witness {who} answers again: backlog drained, it cosigned records 0–{offer.size - 1}")
            if offer.size > self.cosigned:
                self.cosigned = offer.size
                self.cosigned_at = time.monotonic()

    def _failed(self, who: str, why: str) -> None:
        with self._cond:
            if who not in self._down:
                self._down[who] = why
                self._messages.append(f"witness {who} unreachable: {why}; the run goes on, its records are sent at the next checkpoint")
