"""`hamn runbooks`: the runbooks hamn ships (and those in $HAMN_RUNBOOKS)."""
from __future__ import annotations

import json
import sys

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per runbook.")
def runbooks(as_json: bool) -> None:
    """List the runbooks hamn ships (and those in $HAMN_RUNBOOKS)."""
    from ..runbook.library import shipped_runbooks

    good, bad = shipped_runbooks()
    if as_json:
        for path, rb in good:
            m = rb.runbook
            click.echo(json.dumps({"id": m.id, "title": m.title, "version": m.version, "databases": m.databases, "summary": m.summary, "steps": len(rb.steps), "path": str(path)}))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title="hamn runbooks", expand=False)
        for col in ("id", "databases", "steps", "what it does"):
            table.add_column(col, overflow="fold")
        for _, rb in good:
            m = rb.runbook
            table.add_row(m.id, ", ".join(m.databases), str(len(rb.steps)), m.summary)
        Console().print(table)
    for exc in bad:
        for p in exc.problems:
            click.echo(str(p), err=True)
    if bad:
        sys.exit(1)
