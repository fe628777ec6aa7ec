"""`hamn doctor`: ready before the outage? One line per check, then the verdict.
Exit 0 ready, 1 not ready (a check failed or could not tell), 2 bad input."""
from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import click

from .errors import bad_input_exits, refuse

PROG = "hamn doctor"
MARK = {"ok": ("✓", "green"), "failed": ("✗", "bold red"), "unknown": ("?", "magenta")}
WORD = {"ok": "ok", "failed": "FAILED", "unknown": "UNKNOWN"}


def print_report(report: object, tty: bool) -> None:
    """Marks and colour on a terminal; plain words (grep-able, mail-able) otherwise."""
    from ..app.doctor import Report
    from ..textsafe import neutralise

    assert isinstance(report, Report)
    if tty:
        from rich.console import Console
        from rich.text import Text

        console = Console(highlight=False)
        for c in report.checks:
            mark, style = MARK[c.verdict]
            console.print(Text.assemble((f"{mark} {c.title}", style), f" — {neutralise(c.detail)}"))
            if c.fix:
                console.print(Text(f"  → {neutralise(c.fix)}", style="yellow"))
        verdict = "ready" if report.ready else f"not ready: {len(report.problems)} problems"
        console.print(Text(verdict, style="bold green" if report.ready else "bold red"))
        return
    for c in report.checks:
        click.echo(f"{WORD[c.verdict]:<8}{c.title}: {neutralise(c.detail)}")
        if c.fix:
            click.echo(f"{'':<8}what to do: {neutralise(c.fix)}")
    click.echo("ready" if report.ready else f"not ready: {len(report.problems)} problems")


@click.command()
@click.option("--cluster", "cluster_path", metavar="FILE", help="The cluster file (default: $HAMN_CLUSTER, /etc/hamn/cluster.toml).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: the verdict and every check.")
@click.option("--audit-dir", metavar="DIR", help="The audit directory runs will use (default $HAMN_AUDIT_DIR or ~/.local/state/hamn/runs).")
@click.option("--lock-dir", metavar="DIR", help="Where the run lock lives on each node (default /var/lock).")
@click.option("--key", metavar="FILE", help="The SSH key runs will sign with (default: ssh-agent, the cluster file's [signing] key).")
def doctor(cluster_path: str | None, as_json: bool, audit_dir: str | None, lock_dir: str | None, key: str | None) -> None:
    """Check this console is ready before the outage: cluster file, SSH, users, commands, lock, clocks, keys, audit directory."""
    from ..app.doctor import diagnose
    from ..app.targets import ClusterTarget
    from ..settings import settings

    path = cluster_path or settings().cluster_path
    if path is None:
        refuse(PROG, "no cluster file: give --cluster FILE (or set HAMN_CLUSTER, or write /etc/hamn/cluster.toml)")
    for flag, value in (("--audit-dir", audit_dir), ("--lock-dir", lock_dir)):
        if value is not None and not value.strip():
            refuse(PROG, f"{flag} {value!r}: give a directory, or leave the flag out for the default")
    with bad_input_exits(PROG):
        target = ClusterTarget(path)
    report = asyncio.run(diagnose(target, audit_dir=Path(audit_dir) if audit_dir else None, lock_dir=lock_dir, key=key))
    if as_json:
        click.echo(json.dumps(report.to_json(), sort_keys=True))
    else:
        print_report(report, sys.stdout.isatty())
    sys.exit(0 if report.ready else 1)
