"""The `hamn` group and the console entry point. Heavy modules are imported inside commands to
keep start-up quick; each command group lives in its own module (see `cli/__init__.py`)."""
from __future__ import annotations

import importlib
import sys

import click

from .. import __version__
from .tui import start, tui_options


def entry() -> None:
    """Console entry point: an internal error is one line on screen, the traceback goes to a file."""
    try:
        main(standalone_mode=True)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug must not bury the operator in a traceback
        import traceback
        from datetime import datetime, timezone

        from ..settings import settings

        path = settings().state_dir / f"crash-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.txt"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(traceback.format_exc())
            where = f"details in {path}"
        except OSError:
            where = "details could not be saved"
        click.echo(f"hamn: internal error: {type(exc).__name__}: {exc} ({where})", err=True)
        sys.exit(70)


COMMANDS = {
    "audit": "audit", "hadr": "hadr", "lab": "lab", "run": "run", "runbooks": "runbooks", "status": "status", "train": "train",
    "validate": "validate",
}
"""Command name → the module of this package that defines it (a click command of the same name)."""


class Commands(click.Group):
    """Each command's module is imported when that command runs (or for --help), so `hamn validate`
    loads neither Rich, the audit log's crypto nor Textual."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        module = COMMANDS.get(name)
        if module is None:
            return None
        command: click.Command = getattr(importlib.import_module(f"{__package__}.{module}"), name)
        return command


@click.group(cls=Commands, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hamn")
@click.option("--cluster", "cluster_path", metavar="FILE", help="The cluster file for the home screen (default: $HAMN_CLUSTER, /etc/hamn/cluster.toml).")
@tui_options
@click.pass_context
def main(ctx: click.Context, cluster_path: str | None, no_mouse: bool, ansi: bool) -> None:
    """Guided procedures for an xCAT high-availability management node pair.

    Without a command: the TUI home (cluster status, runbooks, recent runs); without a
    terminal, the list of runbooks.
    """
    if ctx.invoked_subcommand is None:
        from .runbooks import runbooks
        from .terminal import needs_terminal

        if needs_terminal():
            ctx.invoke(runbooks)
            return
        start(cluster_path=cluster_path, no_mouse=no_mouse, ansi=ansi, prog="hamn")
