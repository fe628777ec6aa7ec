"""Virtual time for training and tests: sleeping advances it at once, so a 300 s wait costs nothing.

Everything that happens "over time" in the simulator — the workload writing log records, a
standby noticing after HADR_TIMEOUT that its primary is gone, a fault scheduled at t = 30 s —
is driven from here, in a fixed order, so a run is exact and repeatable.
"""
from __future__ import annotations

import asyncio
import heapq
from typing import Callable

EPOCH_START = 1715648400.0
"""2024-05-14 01:00:00 UTC: a fixed start, so every rendered date is the same in every run."""


class VirtualClock:
    def __init__(self, start: float = EPOCH_START):
        self._now = float(start)
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0
        self._listeners: list[Callable[[float], None]] = []

    def now(self) -> float:
        """Virtual epoch seconds: the simulated nodes' clock (before any per-node skew)."""
        return self._now

    __call__ = now

    def on_advance(self, listener: Callable[[float], None]) -> None:
        """`listener(new_now)` runs whenever time moves forward, before timers due at that time."""
        self._listeners.append(listener)

    def call_at(self, when: float, fn: Callable[[], None]) -> None:
        """Run `fn` when virtual time reaches `when` (at once on the next advance if already past)."""
        self._seq += 1
        heapq.heappush(self._timers, (float(when), self._seq, fn))

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("virtual time does not run backwards")
        self.advance_to(self._now + seconds)

    def advance_to(self, target: float) -> None:
        """Move to `target`, stopping at every timer on the way (a timer may schedule further timers)."""
        while True:
            due = self._timers[0][0] if self._timers and self._timers[0][0] <= target else None
            self._move(max(self._now, due if due is not None else target))
            if due is None:
                return
            while self._timers and self._timers[0][0] <= self._now:
                _, _, fn = heapq.heappop(self._timers)
                fn()

    def _move(self, t: float) -> None:
        if t > self._now:
            self._now = t
            for listener in self._listeners:
                listener(t)

    async def sleep(self, seconds: float) -> None:
        """The engine's `sleep`: advances virtual time, then yields once to the event loop."""
        self.advance(max(0.0, float(seconds)))
        await asyncio.sleep(0)
