"""Evaluate structured checks against probe readings: pass, fail or unknown, with the reason.

Unknown is never a pass. A check with `confirm_after_s` is read twice; the worse reading wins
(a crashed primary can still look PEER until HADR_TIMEOUT).
"""
from __future__ import annotations

import asyncio
import re
import time
from typing import Any, Awaitable, Callable, Sequence

from ..probes.base import ProbeSource, Reading
from ..runbook.context import PlatformError, RunContext
from ..runbook.model import Check
from ..record.events import CheckOutcome
from ..transport.reach import fresh

Sleep = Callable[[float], Awaitable[None]]
_MISSING = object()


def _norm(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def describe(check: Check, ctx: RunContext | None = None) -> str:
    """`== "PEER"`, `in [PEER, DISCONNECTED_PEER]`, `<= 16777216` — with placeholders resolved."""
    op = check.operators()[0] if check.operators() else "equals"
    value = getattr(check, op)
    symbol = {"equals": "==", "not_equals": "!=", "in_": "in", "not_in": "not in", "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "matches": "matches", "not_matches": "does not match"}[op]
    rend = (lambda v: ctx.prose(v) if ctx and isinstance(v, str) else _norm(v))
    shown = "[" + ", ".join(rend(v) for v in value) + "]" if isinstance(value, list) else rend(value)
    return f"{symbol} {shown}"


def compare(check: Check, observed: Any, ctx: RunContext | None) -> tuple[str, str]:
    """(verdict, reason) for one observed value."""
    if observed is _MISSING or observed is None:
        return "unknown", "value not known"
    op = check.operators()[0]
    want = getattr(check, op)
    rend = (lambda v: ctx.prose(v) if ctx and isinstance(v, str) else v)
    if op in ("equals", "not_equals"):
        same = _norm(observed) == _norm(rend(want))
        ok = same if op == "equals" else not same
    elif op in ("in_", "not_in"):
        member = _norm(observed) in {_norm(rend(v)) for v in want}
        ok = member if op == "in_" else not member
    elif op in ("lt", "le", "gt", "ge"):
        a, b = _number(observed), _number(rend(want))
        if a is None:
            return "unknown", f"{_norm(observed)!r} is not a number"
        if b is None:
            return "unknown", f"bound {rend(want)!r} is not a number"
        ok = {"lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[op]
    else:
        found = re.search(str(want), _norm(observed), re.M) is not None
        ok = found if op == "matches" else not found
    shown = _norm(observed)
    shown = shown if len(shown) <= 120 else shown[:117] + "..."
    return ("pass" if ok else "fail"), f"observed {shown}"


class CheckEvaluator:
    def __init__(self, probes: ProbeSource, ctx: RunContext, sleep: Sleep = asyncio.sleep, group_members: Callable[[str], list[str]] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.probes = probes
        self.ctx = ctx
        self.sleep = sleep
        self.clock = clock
        self.group_members = group_members or (lambda g: [])

    def nodes_of(self, node: str) -> list[str]:
        if node.startswith("@"):
            return self.group_members(node[1:])
        return [self.ctx.roles.get(node, node)]

    async def _one(self, check: Check, node: str) -> CheckOutcome:
        args: dict[str, Any] = {}
        unusable = ""
        for key, value in check.args.items():
            try:
                value = self.ctx.pick(value, node)  # a per-platform argument: this node's platform's
            except PlatformError as exc:
                unusable = str(exc)
            if isinstance(value, str):
                value = self.ctx.command(value, node) if (check.probe == "command" and key == "run") else self.ctx.prose(value, node)
            args[key] = value
        user = self.ctx.prose(check.user, node) if check.user else None
        reading = Reading(error=unusable) if unusable else await self.probes.read(node, check.probe, args, user)
        observed = reading.fields.get(check.field, _MISSING)
        verdict, reason = compare(check, observed, self.ctx)
        if verdict == "unknown" and reading.error:
            reason = reading.error
        if reading.detail:
            reason = f"{reason} — {reading.detail}"
        return CheckOutcome(node, check.probe, check.field, describe(check, self.ctx), None if observed is _MISSING else observed, verdict, reason, check.why)  # type: ignore[arg-type]

    async def evaluate(self, checks: Sequence[Check]) -> list[CheckOutcome]:
        # The readings of one step are independent and read-only, so they are taken together:
        # a dead node's timeout (about 3 s of ARP for a powered-off host) is then paid once
        # per step, not once per check. Outcomes keep the step's order.
        pairs = [(c, n) for c in checks for n in self.nodes_of(c.node)]
        started = self.clock()
        first = list(await asyncio.gather(*(self._one(c, n) for c, n in pairs)))
        delay = max((c.confirm_after_s or 0 for c, _ in pairs), default=0)
        if not delay:
            return first
        # The second reading starts `delay` seconds after the first one started: the time the first
        # spent waiting on a dead node counts towards the interval instead of adding to it.
        await self.sleep(max(0.0, delay - (self.clock() - started)))
        again = [(c, n) for c, n in pairs if c.confirm_after_s]
        with fresh():  # a confirming reading observes the node anew, never a remembered answer
            seconds = iter(await asyncio.gather(*(self._one(c, n) for c, n in again)))
        final: list[CheckOutcome] = []
        for (c, n), o1 in zip(pairs, first):
            if not c.confirm_after_s:
                final.append(o1)
                continue
            o2 = next(seconds)
            worst = max((o1, o2), key=lambda o: {"pass": 0, "unknown": 1, "fail": 2}[o.verdict])
            final.append(CheckOutcome(o2.node, o2.probe, o2.field, o2.expected, o2.observed, worst.verdict, f"{o1.reason}; {delay} s later: {o2.reason}", o2.why))
        return final
