"""Printing `hamn status` with Rich, and the --watch loop that mails transitions."""
from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Awaitable, Callable

from rich.console import Console
from rich.console import Group
from rich.table import Table
from rich.text import Text

from .inventory.model import Cluster
from .probes.registry import cluster_probes
from .runbook.context import RunContext, bind_roles
from .status import UNKNOWN, Snapshot, snapshot, transitions


def _cell(value: object) -> str:
    if value is None:
        return f"[magenta]{UNKNOWN}[/]"
    if value is True:
        return "[green]yes[/]"
    if value is False:
        return "[red]no[/]"
    return str(value)


def render(snap: Snapshot) -> Group:
    """One column per node, one row per fact: fits an 80-column console."""
    age = int(time.time() - snap.taken_epoch)
    table = Table(title=f"{snap.cluster} ({snap.database}) — read {age} s ago", expand=False)
    table.add_column("")
    for name, n in snap.nodes.items():
        table.add_column(f"{name} (set up as {n.role_at_setup})", overflow="fold")
    db2 = snap.database == "db2"
    rows = [("reachable (ssh)", lambda n, r: n.reachable), ("role", lambda n, r: r.get("role"))]
    if db2:
        rows += [("HADR state", lambda n, r: r.get("state")), ("connect status", lambda n, r: r.get("connect_status")),
                 ("sync mode", lambda n, r: r.get("syncmode")), ("log gap (bytes)", lambda n, r: r.get("log_gap_bytes")),
                 ("peer window left (s)", lambda n, r: r.get("peer_window_left_s"))]
    else:
        rows += [("WAL receiver", lambda n, r: r.get("wal_receiver")), ("streaming standbys", lambda n, r: r.get("streaming_standbys")),
                 ("sync state", lambda n, r: r.get("sync_state")), ("lag (bytes)", lambda n, r: r.get("lag_bytes")),
                 ("timeline", lambda n, r: r.get("timeline"))]
    rows.append(("holds service IP", lambda n, r: n.holds_service_ip))
    for label, get in rows:
        table.add_row(label, *(_cell(get(n, n.replication)) for n in snap.nodes.values()))
    services = sorted({s for n in snap.nodes.values() for s in n.services})
    for svc in services:
        table.add_row(f"{svc} running", *(_cell(n.services.get(svc)) for n in snap.nodes.values()))
    notes = [Text(f"{name}: could not read: {e[:240]}", style="magenta") for name, n in snap.nodes.items() for e in n.errors]
    return Group(table, *notes)


async def watch_status(cluster: Cluster, *, as_json: bool, watch: bool, interval: float, count: int,
                       transport: Any = None, probes: Any = None, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> int:
    """transport / probes / sleep are injected for training (the simulated cluster and its virtual clock)."""
    if transport is None:
        from .transport.local import LocalTransport
        from .transport.router import Router
        from .transport.ssh import SshTransport

        transport = Router(LocalTransport(), SshTransport(cluster))
    if probes is None:
        probes = cluster_probes(transport, cluster, RunContext({}, cluster, bind_roles(cluster)))
    console = Console(highlight=False)
    previous: Snapshot | None = None
    readings = 0
    try:
        while True:
            snap = await snapshot(cluster, probes)
            readings += 1
            if as_json:
                print(json.dumps(snap.to_json(), sort_keys=True, default=str), flush=True)
            else:
                console.print(render(snap))
            if previous is not None:
                for t in transitions(previous, snap):
                    console.print(f"[bold yellow]{t.subject(cluster.cluster.name)}[/]") if not as_json else None
                    if cluster.alerts is not None:
                        from .alerts import send

                        failed = await send(cluster.alerts, cluster.cluster.name, t, snap)
                        if failed:
                            console.print(f"[red]{failed}[/]", stderr=True) if not as_json else print(json.dumps({"alert_failed": failed}), flush=True)
            previous = snap
            if not watch or (count and readings >= count):
                return 0
            await sleep(interval)  # after the reading completed: readings never overlap
    finally:
        await transport.close()
