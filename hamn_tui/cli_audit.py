"""`hamn audit verify | show | export`: read a run's signed log. Only click is imported here;
the audit package (and its crypto) loads when one of these commands runs."""
from __future__ import annotations

import sys

import click

LOG = click.Path(exists=True, dir_okay=True, file_okay=True)
SIGNERS = click.option("--allowed-signers", "allowed_signers", type=click.Path(exists=True, dir_okay=False), metavar="FILE",
                       help="An OpenSSH allowed_signers file: who may sign (principal, key, namespaces=\"hamn-audit-v1\").")


@click.group()
def audit() -> None:
    """Verify, read and export a run's signed audit log (a segment file or a run directory)."""


@audit.command()
@click.argument("log", type=LOG)
@SIGNERS
@click.option("--no-outputs", is_flag=True, help="Do not check the stored command outputs.")
def verify(log: str, allowed_signers: str | None, no_outputs: bool) -> None:
    """Check a log strictly. Exit 0 valid and closed, 1 invalid, 3 intact but never closed.

    The last line is `VALID …`, `INVALID: record N: reason` or `INCOMPLETE: …`.
    """
    from pathlib import Path

    from .audit.verify import verify_path

    report = verify_path(Path(log), Path(allowed_signers) if allowed_signers else None, outputs=not no_outputs, keep=False)
    for note in report.notes:
        click.echo(f"note: {note}")
    click.echo(report.line)
    sys.exit(report.exit_code)


@audit.command()
@click.argument("log", type=LOG)
@SIGNERS
@click.option("--output/--no-output", "with_output", default=False, help="Show each command's stored output.")
def show(log: str, allowed_signers: str | None, with_output: bool) -> None:
    """A timeline of the run: verification first, then every step, command and decision."""
    from pathlib import Path

    from .audit.report import show_timeline

    sys.exit(show_timeline(Path(log), Path(allowed_signers) if allowed_signers else None, with_output=with_output))


@audit.command()
@click.argument("log", type=LOG)
@SIGNERS
@click.option("--format", "fmt", type=click.Choice(["html", "md"]), default="html", show_default=True)
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False, writable=True), required=True, metavar="FILE")
@click.option("--casts", type=click.Path(file_okay=False), metavar="DIR", help="Also write each command's output as an asciicast v2 file here.")
def export(log: str, allowed_signers: str | None, fmt: str, out: str, casts: str | None) -> None:
    """A self-contained report for an auditor: verification, who, what, where, when, decisions, outputs."""
    from pathlib import Path

    from .audit.report import export_report

    code, written = export_report(Path(log), Path(out), fmt, Path(allowed_signers) if allowed_signers else None, Path(casts) if casts else None)
    click.echo(f"wrote {out}" + (f" and {written} recordings in {casts}" if casts else ""), err=True)
    sys.exit(code)


@audit.command()
@click.argument("log", type=LOG)
@click.option("--ansi", is_flag=True, help="Use the terminal's 16 colours.")
@click.option("--no-mouse", is_flag=True, help="Keyboard only.")
def review(log: str, ansi: bool, no_mouse: bool) -> None:
    """Replay a run in the TUI: the verification result first, then its steps, decisions, checks and outputs."""
    from pathlib import Path

    from .cli_tui import can_start

    if not can_start("hamn audit review"):
        click.echo("hamn audit review: without a terminal use `hamn audit show LOG --output`", err=True)
        sys.exit(2)
    from .tui.launch import review_app

    review_app(Path(log), mouse=not no_mouse, ansi=ansi)
