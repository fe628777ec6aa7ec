"""`hamn lab up | down | status`: the lab on this machine — mn1 and mn2 with PostgreSQL, and
the service node sn1 (docs/lab.md)."""
from __future__ import annotations

import json
import sys

import click


def _lab(directory: str | None):
    from ..lab.lab import Lab

    return Lab(directory)


@click.group()
@click.option("--dir", "directory", metavar="DIR", help="Where the lab keeps its state, keys and data (default $XDG_STATE_HOME/hamn/lab).")
@click.pass_context
def lab(ctx: click.Context, directory: str | None) -> None:
    """Two management nodes mn1/mn2 as network namespaces, with sshd and PostgreSQL 15 (needs root)."""
    ctx.obj = directory


def _fail(exc: Exception) -> None:
    click.echo(f"hamn lab: {exc}", err=True)
    sys.exit(2)


@lab.command()
@click.option("--pg", "mode", type=click.Choice(["pair", "bare", "independent"]), default="pair", show_default=True,
              help="PostgreSQL on mn2: a streaming standby, nothing (for pg-streaming-setup), or an independent server (for pg-dump-restore-setup).")
@click.option("--reset", is_flag=True, help="If the lab is up already, rebuild PostgreSQL on both nodes in this shape (data is lost).")
@click.pass_obj
def up(directory: str | None, mode: str, reset: bool) -> None:
    """Start the lab; nothing to do when it is up already. Prints the cluster file's path."""
    from ..lab.errors import LabError

    lab_ = _lab(directory)
    try:
        made = lab_.up(mode)
        if not made and reset:
            lab_.reset(mode)
    except LabError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        _fail(Exception("interrupted; what was made is removed again"))
    click.echo(("lab up: " if made else "lab reset: " if reset else "lab already up: ") + str(lab_.cluster_path))


@lab.command()
@click.pass_obj
def down(directory: str | None) -> None:
    """Stop every process of the lab and remove its namespaces, interfaces, route and files."""
    from ..lab.errors import LabError

    lab_ = _lab(directory)
    try:
        if not lab_.made_anything():
            click.echo("lab down: nothing to remove")
            return
        problems = lab_.down()
    except LabError as exc:
        _fail(exc)
    if problems:
        for p in problems:
            click.echo(f"hamn lab: {p}", err=True)
        sys.exit(1)
    click.echo("lab down: removed")


@lab.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.pass_obj
def status(directory: str | None, as_json: bool) -> None:
    """What runs: each node's sshd, cable, PostgreSQL role and the service IP. Exit 0 up, 1 partly made, 3 down."""
    from ..lab.errors import LabError

    try:
        st = _lab(directory).status()
    except LabError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(st, sort_keys=True))
    elif st["up"]:
        click.echo(f"lab up: cluster file {st['cluster_file']}")
        for name, n in st["nodes"].items():
            vip = "  service IP" if n["service_ip"] else ""
            click.echo(f"  {name}  {n['address']:<10}  sshd {n['sshd_pid']:<7}  cable {n['cable']:<6}  postgres {(n['postgres'] if n['postgres'] not in (None, 'none') else '-'):<7}{vip}")
    elif st["partial"]:
        click.echo(f"lab partly made (state in {st['dir']}): run `hamn lab down`, then `hamn lab up`")
    else:
        click.echo("lab down: `hamn lab up` starts it (as root)")
    sys.exit(0 if st["up"] else 1 if st["partial"] else 3)
