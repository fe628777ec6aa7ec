"""The `db2.hadr`, `db2.cfg` and `db2.takeover` probes: db2pd and db cfg read over the transport.

db2pd is preferred during a takeover (it needs no connection to the database, facts §1);
it runs on the node as the instance owner. The takeover verdict reads this node twice, a
few seconds apart, and the partner once.
"""
from __future__ import annotations

import asyncio
import re
import time
from typing import Any, Awaitable, Callable, Mapping

from ...cluster.model import Cluster
from ...runbook.context import RunContext
from ...transport.base import Transport, TransportError
from ..base import ProbeSet, Reading
from ..host import run_collect
from .gates import advise
from .model import HadrStatus, ParseError

INSTANCE_DOWN = re.compile(r"^Unable to attach to database manager on (?:member|partition) \d+", re.M)
"""db2pd's answer on a node whose DB2 instance is not started (the node is up): the database cannot
be active there, so a fence by stopping DB2 counts as the old primary being down."""

REREAD_S = 5.0
"""Delay between the two readings of a takeover decision."""

Reader = Callable[[str], Awaitable["HadrStatus | str"]]


def hadr_fields(status: HadrStatus, now: float) -> dict[str, Any]:
    """The `db2.hadr` catalog fields from the first channel; what the status does not show is absent."""
    fields: dict[str, Any] = {}
    if status.activated is not None:
        fields["activated"] = status.activated
    if status.activated is False:
        return fields  # not activated: the role is unknown (never STANDARD)
    if status.hadr_active is False:
        fields["role"] = "STANDARD"
        return fields
    if not status.channels:
        return fields
    ch = status.channels[0]
    values = {
        "role": ch.role, "state": ch.state, "syncmode": ch.syncmode, "connect_status": ch.connect_status,
        "flags": ch.flags, "primary_host": ch.primary_host, "standby_host": ch.standby_host,
        "log_gap_bytes": ch.log_gap_bytes, "primary_log_pos": ch.primary_log.pos, "standby_log_pos": ch.standby_log.pos,
        "standby_replay_log_pos": ch.standby_replay_log.pos, "standby_recv_replay_gap_bytes": ch.standby_recv_replay_gap_bytes,
        "peer_window_s": ch.peer_window_s, "peer_window_end_epoch": ch.peer_window_end_epoch,
        "hadr_timeout_s": ch.hadr_timeout_s, "time_since_last_recv_s": ch.time_since_last_recv_s,
    }
    if ch.peer_window_end_epoch is not None:
        values["peer_window_left_s"] = max(0, int(ch.peer_window_end_epoch - now))
    fields.update({k: v for k, v in values.items() if v is not None})
    return fields


def db2_probes(transport: Transport, cluster: Cluster, ctx: RunContext | None = None, *, reread_s: float = REREAD_S,
               sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, clock: Callable[[], float] = time.time) -> ProbeSet:
    from .db2pd import parse_db2pd
    from .dbcfg import parse_dbcfg

    db2 = cluster.db2
    if db2 is None:
        return ProbeSet()
    instance, database = db2.instance, db2.database

    async def text_of(node: str, command: str) -> str:
        result, out, err = await run_collect(transport, node, command, instance)
        if result.unknown or result.ending != "exited":
            raise TransportError(f"{command!r} on {node}: {result.ending} {result.error or ''}".strip())
        return out + err

    async def read_db2pd(node: str) -> HadrStatus:
        return parse_db2pd(await text_of(node, f"db2pd -db {database} -hadr"))

    async def hadr(node: str, args: Mapping[str, Any], user: str | None) -> Reading:
        try:
            status = await read_db2pd(node)
        except (TransportError, ParseError) as exc:
            return Reading(error=str(exc))
        return Reading(hadr_fields(status, status.timestamp_epoch or clock()))

    async def cfg(node: str, args: Mapping[str, Any], user: str | None) -> Reading:
        try:
            status = parse_dbcfg(await text_of(node, f"db2 get db cfg for {database}"))
        except (TransportError, ParseError) as exc:
            return Reading(error=str(exc))
        return Reading({k: v for k, v in status.cfg.items() if v is not None})

    def partner_of(node: str) -> str | None:
        roles = ctx.roles if ctx else {}
        for role in ("primary", "standby"):
            if roles.get(role) == node:
                return roles.get("standby" if role == "primary" else "primary")
        return None

    async def takeover(node: str, args: Mapping[str, Any], user: str | None) -> Reading:
        try:
            first = await read_db2pd(node)
            await sleep(reread_s)
            second = await read_db2pd(node)
        except (TransportError, ParseError) as exc:
            return Reading(error=f"this node's status: {exc}")
        partner = partner_of(node)
        primary: HadrStatus | None = None
        unreadable = False
        down: bool | None = None
        if partner is not None:
            try:
                text = await text_of(partner, f"db2pd -db {database} -hadr")
                if INSTANCE_DOWN.search(text):
                    unreadable, down = True, True  # its DB2 instance is not running: nothing there acts as primary now
                else:
                    primary = parse_db2pd(text)
                    down = False
            except TransportError:
                unreadable, down = True, True  # could not reach it at all: observed down
            except ParseError:
                unreadable = True
        fenced_step = args.get("fenced_step")
        fenced = bool(ctx and fenced_step and ctx.outcomes.get(str(fenced_step)) == "done") or None
        advice = advise(first, now_epoch=second.timestamp_epoch or clock(), second=second, primary=primary,
                        primary_unreadable=unreadable, primary_down=down, primary_fenced=fenced)
        fields: dict[str, Any] = {
            "graceful": advice.graceful.verdict, "peer_window_only": advice.peer_window_only.verdict, "force": advice.force.verdict,
        }
        if advice.estimated_loss_bytes is not None:
            fields["estimated_loss_bytes"] = advice.estimated_loss_bytes
        if advice.estimated_loss_s is not None:
            fields["estimated_loss_s"] = advice.estimated_loss_s
        reasons = "; ".join(f"{k}: {' / '.join(v.reasons)}" for k, v in (("graceful", advice.graceful), ("peer window only", advice.peer_window_only), ("force", advice.force)))
        return Reading(fields, detail=reasons)

    return ProbeSet({"db2.hadr": hadr, "db2.cfg": cfg, "db2.takeover": takeover})
