"""Small helpers shared by the transport and lock tests: find processes, collect output."""
from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import time
from dataclasses import dataclass, field


def unique_seconds() -> int:
    """A sleep length no other process uses, so `pgrep` finds exactly our sleeps."""
    return random.randint(610_000, 699_999)


def pids_of(pattern: str) -> list[int]:
    """Pids whose full command line matches the regex `pattern` (pgrep -f)."""
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def sleeps(seconds: int) -> list[int]:
    return pids_of(f"^sleep {seconds}$")


def kill_sleeps(seconds: int) -> None:
    """Cleanup after a test that leaves a remote sleep behind on purpose (lost connection)."""
    for pid in sleeps(seconds):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


async def wait_until(predicate, timeout: float = 5.0, every: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(every)
    return predicate()


@dataclass
class Collected:
    """Output as it arrived: (monotonic time, stream, chunk)."""

    chunks: list[tuple[float, str, bytes]] = field(default_factory=list)

    def __call__(self, stream: str, chunk: bytes) -> None:
        self.chunks.append((time.monotonic(), stream, chunk))

    def text(self, stream: str) -> str:
        return b"".join(c for _, s, c in self.chunks if s == stream).decode()

    def first(self, stream: str, needle: bytes) -> float:
        """When the chunk completing `needle` on `stream` arrived."""
        seen = b""
        for t, s, c in self.chunks:
            if s == stream:
                seen += c
                if needle in seen:
                    return t
        raise AssertionError(f"{needle!r} never arrived on {stream}: {seen!r}")
