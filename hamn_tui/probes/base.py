"""A probe reads facts from a node. A fact it cannot read is absent — unknown, never guessed."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Mapping, Protocol


@dataclass(frozen=True)
class Reading:
    fields: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    """Why the probe (or some of its fields) could not be read."""
    detail: str | None = None
    """How the values were reached (a verdict's reasons), shown with every check on them."""


class ProbeSource(Protocol):
    async def read(self, node: str, probe: str, args: Mapping[str, Any], user: str | None = None) -> Reading:
        ...


ProbeFn = Callable[[str, Mapping[str, Any], "str | None"], Awaitable[Reading]]


class ProbeSet:
    """Dispatches by probe name; a probe with no implementation reads as unknown, with the reason."""

    def __init__(self, probes: Mapping[str, ProbeFn] | None = None):
        self.probes: dict[str, ProbeFn] = dict(probes or {})

    def add(self, name: str, fn: ProbeFn) -> None:
        self.probes[name] = fn

    async def read(self, node: str, probe: str, args: Mapping[str, Any], user: str | None = None) -> Reading:
        fn = self.probes.get(probe)
        if fn is None:
            return Reading(error=f"no reader for probe {probe!r} on this cluster")
        try:
            return await fn(node, args, user)
        except Exception as exc:  # a probe bug must read as unknown, not crash a failover
            return Reading(error=f"probe {probe} failed: {type(exc).__name__}: {exc}")
