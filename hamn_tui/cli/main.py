"""The `hamn` group and the console entry point. Heavy modules are imported inside commands to
keep start-up quick; each command group lives in its own module (see `cli/__init__.py`)."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

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

        try:
            where = f"details in {write_crash(traceback.format_exc())}"
        except OSError:
            where = "details could not be saved"
        click.echo(f"hamn: internal error: {type(exc).__name__}: {exc} ({where})", err=True)
        sys.exit(70)


def write_crash(text: str) -> Path:
    """Save a traceback as a new file under the state directory and return its path.

    One file per crash, never overwritten: the name has the time to the microsecond and the pid,
    and the file is created exclusively (O_EXCL) — a clash (same microsecond, a reused pid, a
    frozen clock) takes the next free `-N` suffix instead of replacing an earlier report."""
    import os
    from datetime import datetime, timezone

    from ..settings import settings

    directory = settings().state_dir
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"crash-{datetime.now(timezone.utc):%Y%m%dT%H%M%S.%fZ}-{os.getpid()}"
    for n in range(1000):
        path = directory / (f"{stem}.txt" if n == 0 else f"{stem}-{n}.txt")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        return path
    raise FileExistsError(f"{directory}: no free crash file name for {stem}")


COMMANDS = {
    "approve": "approve", "audit": "audit", "doctor": "doctor", "hadr": "hadr", "lab": "lab", "run": "run", "runbooks": "runbooks", "status": "status", "train": "train",
    "validate": "validate", "witness": "witness",
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
