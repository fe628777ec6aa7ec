"""Whether a node answers at all, asked once: a dead node costs its timeout once, not once per probe.

A powered-off node on the same network makes every new TCP connection to it wait for ARP to give
up (about 3 s on Linux: three probes a second apart) before the kernel says "no route to host".
A step's checks, the run lock and the database probes all ask the same node at about the same
moment, so the first definite answer is remembered for a short while (REMEMBER_S) and given to
everyone who asks in that time, with its age.

Only "no route to host" (and "network unreachable") is remembered, for the whole host: it is
what costs the wait. "Connection refused" costs nothing to ask again, and a port opens as soon
as its server starts. A timeout is not an answer (a busy or far node may just be slow) and is
never turned into "down". The engine forgets everything after each command that may change
things (engine/runner.py). A check read again to confirm (`confirm_after_s`)
reads inside `fresh()`, where nothing remembered is reused: the node is asked anew.
"""
from __future__ import annotations

import concurrent.futures
import errno
import os
import socket
import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Iterator

REMEMBER_S = 2.0
"""How long a definite "does not answer" is reused (seconds)."""

_HOST_DEAD = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN}
_FRESH: ContextVar[bool] = ContextVar("hamn_reach_fresh", default=False)


@contextmanager
def fresh() -> Iterator[None]:
    """Inside, nothing remembered is reused (tasks and threads started inside inherit it)."""
    token = _FRESH.set(True)
    try:
        yield
    finally:
        _FRESH.reset(token)


@dataclass(frozen=True)
class Silence:
    """A definite observation that a host does not answer."""

    reason: str
    at: float  # time.monotonic() when it was observed

    def described(self, now: float | None = None) -> str:
        age = (time.monotonic() if now is None else now) - self.at
        return self.reason if age < 0.05 else f"{self.reason} (seen {age:.1f} s ago)"


def reusing() -> bool:
    """False inside `fresh()`: the caller must not be given an answer someone else waited for."""
    return not _FRESH.get()


class ReachMemo:
    """Process-wide: threads (the database probes) and event loops (SSH) share what they saw."""

    def __init__(self, remember_s: float = REMEMBER_S, clock=time.monotonic):
        self.remember_s = remember_s
        self.clock = clock
        self._seen: dict[str, Silence] = {}
        self._lock = threading.Lock()

    def silent(self, host: str, port: int) -> Silence | None:
        """The remembered definite silence of the host, if still fresh (`port` names it in messages only)."""
        if not reusing():
            return None
        now = self.clock()
        with self._lock:
            seen = self._seen.get(host)
        return seen if seen is not None and now - seen.at < self.remember_s else None

    def record(self, host: str, port: int, exc: OSError) -> Silence | None:
        """Remember a definite failure (the errno says so); anything else is not remembered."""
        if exc.errno not in _HOST_DEAD:
            return None
        seen = Silence(f"{host}:{port}: {os.strerror(exc.errno)}", self.clock())
        with self._lock:
            self._seen[host] = seen
        return seen

    def forget(self, host: str, port: int) -> None:
        """The node answered: whatever was remembered about it is over."""
        with self._lock:
            self._seen.pop(host, None)

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()


MEMO = ReachMemo()


def is_definite(exc: BaseException) -> bool:
    """True when an OSError says the host or port does not answer (not a timeout, not a name)."""
    return isinstance(exc, OSError) and not isinstance(exc, socket.gaierror) and (
        exc.errno in _HOST_DEAD or exc.errno == errno.ECONNREFUSED)


class EarlyDials:
    """TCP connections to the nodes' SSH ports started at start-up, before the event loop (and
    Textual) exist, and handed to the SSH transport when it first connects to that node.

    The kernel resolves a node's address once for everyone (ARP: about 3 s to give up on a dead
    node), so a connection started 1 s earlier is an answer 1 s earlier — and the socket is the
    one the SSH session then runs on, so the node sees no extra connection. The host key is
    checked on it exactly as on any other connection.
    """

    def __init__(self) -> None:
        self._dials: dict[tuple[str, int], concurrent.futures.Future[socket.socket]] = {}
        self._lock = threading.Lock()

    def start(self, host: str, port: int, timeout_s: float) -> None:
        with self._lock:
            if (host, port) in self._dials:
                return
            future: concurrent.futures.Future[socket.socket] = concurrent.futures.Future()
            self._dials[(host, port)] = future

        def dial() -> None:
            try:
                sock = socket.create_connection((host, port), timeout=timeout_s)
            except OSError as exc:
                MEMO.record(host, port, exc)
                future.set_exception(exc)
                return
            future.set_result(sock)

        threading.Thread(target=dial, name=f"hamn-dial-{host}", daemon=True).start()

    def take(self, host: str, port: int) -> concurrent.futures.Future[socket.socket] | None:
        """The dial for this address, once (a second connection dials afresh)."""
        with self._lock:
            return self._dials.pop((host, port), None)

    def close(self) -> None:
        """Close dialled sockets nobody took."""
        with self._lock:
            dials, self._dials = list(self._dials.values()), {}
        for future in dials:
            future.add_done_callback(lambda f: f.exception() is None and f.result().close())


DIALS = EarlyDials()
