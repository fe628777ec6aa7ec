"""`hamn audit verify | show | export`: read a run's signed log. Only click is imported here;
the audit package (and its crypto) loads when one of these commands runs."""
from __future__ import annotations

import sys
from pathlib import Path

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
@click.option("--witness-keys", type=click.Path(exists=True, dir_okay=False), metavar="FILE",
              help="Witnesses' verifier keys, one a line: say how far the log is witnessed, and by whom.")
@click.option("--witness-copy", type=click.Path(exists=True, file_okay=False), metavar="WDIR",
              help="A witness's state directory copied back: find runs deleted or rewritten on the console.")
@click.option("--witness", "witness_hosts", multiple=True, metavar="HOST",
              help="Fetch a witness's copy over ssh and compare it (user@host[:port], or a node of --cluster); repeatable.")
@click.option("--cluster", "cluster_file", type=click.Path(exists=True, dir_okay=False), metavar="FILE",
              help="With --witness: the cluster file (its name, and its [witness] user, identity and known_hosts).")
@click.option("--witness-identity", type=click.Path(exists=True, dir_okay=False), metavar="FILE",
              help="With --witness: the ssh key that reaches the witness's forced command.")
@click.option("--known-hosts", type=click.Path(exists=True, dir_okay=False), metavar="FILE",
              help="With --witness: the witnesses' host keys (host-key checking is never off).")
def verify(log: str, allowed_signers: str | None, no_outputs: bool, witness_keys: str | None, witness_copy: str | None,
           witness_hosts: tuple[str, ...], cluster_file: str | None, witness_identity: str | None, known_hosts: str | None) -> None:
    """Check a log strictly. Exit 0 valid and closed, 1 invalid, 3 intact but never closed.

    The last line is `VALID …`, `INVALID: record N: reason` or `INCOMPLETE: …`. A run that did not
    finish (closed "waiting" or "interrupted", a later segment missing) was never closed: exit 3.
    With --witness-copy or --witness, LOG may also be the directory of all runs (a deleted run is
    then found); a witness that cannot be asked is exit 2.
    """
    from pathlib import Path

    from ..audit.verify import verify_path

    path = Path(log)
    if (cluster_file or witness_identity or known_hosts) and not witness_hosts:
        click.echo("hamn audit verify: --cluster, --witness-identity and --known-hosts go with --witness HOST", err=True)
        sys.exit(2)
    if witness_keys or witness_copy or witness_hosts:
        from .witness_verify import Fetch, verify_witnessed

        fetch = Fetch(list(witness_hosts), Path(cluster_file) if cluster_file else None, Path(witness_identity) if witness_identity else None,
                      Path(known_hosts) if known_hosts else None)
        sys.exit(verify_witnessed(path, Path(allowed_signers) if allowed_signers else None, not no_outputs,
                                  Path(witness_keys) if witness_keys else None, Path(witness_copy) if witness_copy else None, fetch))
    report = verify_path(path, Path(allowed_signers) if allowed_signers else None, outputs=not no_outputs, keep=False)
    for note in report.notes:
        click.echo(f"note: {note}")
    for line in report.approvals:
        click.echo(f"four eyes: {line}")
    for line in report.degraded:
        click.echo(f"degraded: {line}")
    click.echo(report.line)
    sys.exit(report.exit_code)


@audit.command()
@click.argument("log", type=LOG)
@SIGNERS
@click.option("--output/--no-output", "with_output", default=False, help="Show each command's stored output.")
def show(log: str, allowed_signers: str | None, with_output: bool) -> None:
    """A timeline of the run: verification first, then every step, command and decision."""
    from pathlib import Path

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

    from ..audit.report import export_report

    report, written = export_report(Path(log), Path(out), fmt, Path(allowed_signers) if allowed_signers else None, Path(casts) if casts else None)
    click.echo(f"wrote {out}" + (f" and {written} recordings in {casts}" if casts else "") + f" — {report.line}", err=True)
    sys.exit(report.exit_code)


@audit.command()
@click.argument("log", type=LOG)
@click.option("--ansi", is_flag=True, help="Use the terminal's 16 colours.")
@click.option("--no-mouse", is_flag=True, help="Keyboard only.")
def review(log: str, ansi: bool, no_mouse: bool) -> None:
    """Replay a run in the TUI: the verification result first, then its steps, decisions, checks and outputs."""
    from pathlib import Path

    from .tui import can_start

    if not can_start("hamn audit review"):
        click.echo("hamn audit review: without a terminal use `hamn audit show LOG --output`", err=True)
        sys.exit(2)
    from ..tui.launch import review_app

    review_app(Path(log), mouse=not no_mouse, ansi=ansi)


def show_timeline(path: Path, allowed_signers: Path | None = None, with_output: bool = False) -> int:
    """The run as a Rich timeline: the verification first, then every record; the exit code of the verdict."""
    from rich.console import Console
    from rich.markup import escape
    from rich.panel import Panel
    from rich.table import Table

    from ..audit.report import build, describe, facts, stored_output
    from ..audit.store import OutputStore
    from ..textsafe import neutralise

    view = build(path, allowed_signers)
    console = Console(highlight=False)
    colour = {"VALID": "green", "INVALID": "red", "INCOMPLETE": "yellow"}[view.report.status]
    info = Table.grid(padding=(0, 2))
    info.add_column(style="bold")
    info.add_column()
    for label, value in facts(view):
        info.add_row(escape(label), escape(neutralise(value)))
    unfinished = " — the run is unfinished" if view.report.unfinished else ""
    degraded = " — DEGRADED: a dangerous step ran unwitnessed" if view.report.degraded else ""
    console.print(Panel(info, title=f"[bold {colour}]{view.report.status}{degraded}{unfinished}[/]", border_style=colour))
    for note in view.report.notes:
        console.print(f"[dim]note: {escape(neutralise(note))}[/]")
    table = Table(title="timeline", expand=True, show_lines=False)
    table.add_column("seg/rec", no_wrap=True, style="dim")
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("what", no_wrap=True)
    table.add_column("detail", overflow="fold")
    style = {"answered": "bold cyan", "question_asked": "cyan", "command_sent": "bold", "step_finished": "green", "run_finished": "bold",
             "rollback_started": "magenta", "rollback_finished": "magenta", "lock_event": "yellow", "log_open": "dim", "log_close": "dim",
             "approval_requested": "cyan", "approval_decided": "bold cyan", "witness_gate": "bold"}
    store = OutputStore(Path(path if Path(path).is_dir() else Path(path).parent) / "outputs")
    for seg_no, seg in enumerate(view.report.segments):
        for rec in seg.records:
            if rec["type"] == "checkpoint":
                continue
            text = describe(rec)
            if (rec["type"] == "step_finished" and rec["data"]["outcome"] != "done") or (
                    rec["type"] == "witness_gate" and rec["data"]["outcome"] == "unwitnessed"):
                st = "red"
            else:
                st = style.get(rec["type"], "")
            table.add_row(f"{seg_no}/{rec['seq']}", rec["ts"][11:23], rec["type"], f"[{st}]{escape(neutralise(text))}[/]" if st else escape(neutralise(text)))
            if with_output and rec["type"] == "command_finished":
                for stream in ("stdout", "stderr"):
                    body, note = stored_output(store, rec["data"][f"{stream}_sha256"], rec["data"][f"{stream}_size"])
                    if body or note:
                        table.add_row("", "", f"  {stream}", escape(body.rstrip("\n") + (f"\n[{note}]" if note else "")))
    console.print(table)
    console.print(f"[bold {colour}]{escape(view.report.line)}[/]")
    return view.report.exit_code
