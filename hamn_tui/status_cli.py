"""Printing `hamn status` with Rich, and the --watch loop that mails transitions."""
from __future__ import annotations

import asyncio
import json
import time

from rich.console import Console
from rich.table import Table

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


def render(snap: Snapshot) -> Table:
    age = int(time.time() - snap.taken_epoch)
    table = Table(title=f"{snap.cluster} ({snap.database}) — read {age} s ago", expand=False)
    cols = ["node", "reachable", "role", "state", "connected", "log gap", "peer window left", "service IP", "services", "could not read"]
    for c in cols:
        table.add_column(c, overflow="fold")
    for name, n in snap.nodes.items():
        r = n.replication
        state = r.get("state") if snap.database == "db2" else r.get("wal_receiver") or (f"{r.get('streaming_standbys')} streaming" if r.get("role") == "primary" else None)
        conn = r.get("connect_status") if snap.database == "db2" else r.get("sync_state")
        gap = r.get("log_gap_bytes") if snap.database == "db2" else r.get("lag_bytes")
        svcs = " ".join(f"{k}:{'up' if v else 'down' if v is False else '?'}" for k, v in n.services.items())
        table.add_row(f"{name} ({n.role_at_setup})", _cell(n.reachable), _cell(r.get("role")), _cell(state), _cell(conn), _cell(gap),
                      _cell(r.get("peer_window_left_s")) if snap.database == "db2" else "-", _cell(n.holds_service_ip), svcs or "-",
                      "; ".join(n.errors)[:200] or "")
    return table


async def watch_status(cluster: Cluster, *, as_json: bool, watch: bool, interval: float, count: int) -> int:
    from .transport.local import LocalTransport
    from .transport.router import Router
    from .transport.ssh import SshTransport

    transport = Router(LocalTransport(), SshTransport(cluster))
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
            await asyncio.sleep(interval)  # after the reading completed: readings never overlap
    finally:
        await transport.close()
