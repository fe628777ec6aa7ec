"""`hamn status`: both nodes' state printed with Rich, and the --watch loop that mails transitions."""
from __future__ import annotations

import asyncio
import json
import math
import sys
import time
from typing import Any

import click
from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ..app.situation import Situation, assess
from ..app.status import UNKNOWN, Snapshot, StatusReader, Transition, transitions
from .errors import bad_input_exits, refuse

MAX_INTERVAL_S = 86400.0
"""A day: a longer --interval is a mistake (and an infinite one would never read again, a NaN one crashes the sleep)."""


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


def render_situation(s: Situation) -> Group:
    """The diagnosis first: what is going on, the readings that decided it, what to run, what not to do."""
    colour = {"healthy": "green", "unknown": "magenta", "not_set_up": "yellow"}.get(s.kind, "bold red")
    title, _, rest = s.line().partition(": ")
    lines = [Text.assemble((title, colour), ": ", rest)]
    lines += [Text(f"  evidence: {e}", style="dim") for e in s.evidence]
    lines += [Text.assemble("  run: ", (r.command(), "bold"), f" — {r.why}") for r in s.recommended]
    lines += [Text(f"  do not: {a}", style="yellow") for a in s.avoid]
    return Group(*lines, Text(""))


async def watch_status(target: Any, *, as_json: bool, watch: bool, interval: float, count: int) -> int:
    """Read the target's status (again every `interval` s with --watch), print it, mail transitions."""
    cluster = target.cluster
    reader = StatusReader(target)
    sleep = target.runner_options()["sleep"]  # training: virtual time
    console = Console(highlight=False)
    errors = Console(stderr=True, highlight=False)
    previous: Snapshot | None = None
    before: Situation | None = None
    readings = 0
    try:
        while True:
            snap = await reader.read()
            readings += 1
            situation = assess(snap, cluster)
            if as_json:
                print(json.dumps({**snap.to_json(), **situation.to_json()}, sort_keys=True, default=str), flush=True)
            else:
                console.print(render_situation(situation))
                console.print(render(snap))
            if previous is not None:
                changes = transitions(previous, snap)
                if before is not None and before.kind != situation.kind:
                    changes.append(Transition("situation_changed", "", before.title, situation.title))
                for t in changes:
                    console.print(f"[bold yellow]{t.subject(cluster.cluster.name)}[/]") if not as_json else None
                    if cluster.alerts is not None:
                        from ..app.alerts import send

                        failed = await send(cluster.alerts, cluster.cluster.name, t, snap, situation)
                        if failed:
                            if as_json:
                                print(json.dumps({"alert_failed": failed}), flush=True)
                            else:
                                errors.print(f"[red]{escape(failed)}[/]")
            previous, before = snap, situation
            if not watch or (count and readings >= count):
                return 0
            await sleep(interval)  # after the reading completed: readings never overlap
    finally:
        await reader.close()


@click.command()
@click.option("--cluster", "cluster_path", metavar="FILE", help="The cluster file (default: $HAMN_CLUSTER, /etc/hamn/cluster.toml).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per snapshot.")
@click.option("--watch", is_flag=True, help="Keep reading; mail the [alerts] list on transitions.")
@click.option("--interval", default=10.0, show_default=True, help="Seconds between the end of one reading and the next (more than 0, at most a day).")
@click.option("--count", type=int, default=0, help="With --watch: stop after this many readings (0: never).")
@click.option("--training", "scenario", metavar="SCENARIO", help="The simulated cluster in this scenario (virtual time).")
def status(cluster_path: str | None, as_json: bool, watch: bool, interval: float, count: int, scenario: str | None) -> None:
    """Both nodes' replication state, the service IP and xCAT's services; unknown shown as unknown."""
    from ..app.targets import ClusterTarget, Target, TrainingTarget
    from ..settings import settings

    if not (math.isfinite(interval) and 0 < interval <= MAX_INTERVAL_S):
        refuse("hamn status", f"--interval {interval:g}: expected seconds, more than 0 and at most {MAX_INTERVAL_S:g}")
    if count < 0:
        refuse("hamn status", f"--count {count}: expected a number of readings, 0 for no limit")
    target: Target
    if scenario:
        with bad_input_exits("hamn status", f"training scenario {scenario}: "):
            target = TrainingTarget.scenario(scenario)
    else:
        path = cluster_path or settings().cluster_path
        if path is None:
            refuse("hamn status", "give --cluster FILE (or set HAMN_CLUSTER)")
        with bad_input_exits("hamn status"):
            target = ClusterTarget(path)
    sys.exit(asyncio.run(watch_status(target, as_json=as_json, watch=watch, interval=interval, count=count)))
