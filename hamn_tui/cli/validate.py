"""`hamn validate`: runbooks and cluster files, each problem as file:line:col: message."""
from __future__ import annotations

import sys

import click


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--cluster", "cluster_path", metavar="FILE", help="Check runbooks against this cluster file's nodes and groups.")
def validate(paths: tuple[str, ...], cluster_path: str | None) -> None:
    """Check runbooks and cluster files; each problem as file:line:col: message."""
    from ..cluster.loader import load_cluster
    from ..inputs.problems import InputError
    from ..runbook.validate import validate_paths

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
