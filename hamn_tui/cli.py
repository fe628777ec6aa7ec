"""The `hamn` command line. Heavy modules are imported inside commands to keep start-up quick."""
from __future__ import annotations

import json
import sys

import click

from . import __version__


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hamn")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Guided procedures for an xCAT high-availability management node pair."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(runbooks)


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--cluster", "cluster_path", metavar="FILE", help="Check runbooks against this cluster file's nodes and groups.")
def validate(paths: tuple[str, ...], cluster_path: str | None) -> None:
    """Check runbooks and cluster files; each problem as file:line:col: message."""
    from .inventory.loader import load_cluster
    from .source.problems import InputError
    from .validate import validate_paths

    cluster = None
    failed = False
    if cluster_path:
        try:
            cluster = load_cluster(cluster_path)
        except InputError as exc:
            for p in exc.problems:
                click.echo(str(p))
            sys.exit(1)
    for result in validate_paths(list(paths), cluster):
        if result.problems:
            failed = True
            for p in result.problems:
                click.echo(str(p))
        else:
            click.echo(f"{result.path}: ok: {result.summary}")
    sys.exit(1 if failed else 0)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per runbook.")
def runbooks(as_json: bool) -> None:
    """List the runbooks hamn ships (and those in $HAMN_RUNBOOKS)."""
    from .catalog import shipped_runbooks

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
