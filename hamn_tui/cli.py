"""The `hamn` command line. Heavy modules are imported inside commands to keep start-up quick."""
from __future__ import annotations

import json
import sys

import click

from . import __version__
from .cli_tui import can_start, start, tui_options


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

        from .engine.journal import default_dir

        path = default_dir().parent / f"crash-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.txt"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(traceback.format_exc())
            where = f"details in {path}"
        except OSError:
            where = "details could not be saved"
        click.echo(f"hamn: internal error: {type(exc).__name__}: {exc} ({where})", err=True)
        sys.exit(70)


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
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
        from .tui.launch import needs_terminal

        if needs_terminal():
            ctx.invoke(runbooks)
            return
        start({"cluster_path": cluster_path}, no_mouse=no_mouse, ansi=ansi, prog="hamn")


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


EXIT = {"done": 0, "failed": 1, "aborted": 3, "waiting": 4}


def _pairs(values: tuple[str, ...], flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values:
        if "=" not in v:
            raise click.BadParameter(f"{v!r}: expected NAME=VALUE", param_hint=flag)
        k, _, val = v.partition("=")
        out[k.strip()] = val
    return out


@main.command()
@click.argument("runbook")
@click.option("--cluster", "cluster_path", metavar="FILE", help="The cluster file (default: $HAMN_CLUSTER, /etc/hamn/cluster.toml).")
@click.option("--set", "sets", multiple=True, metavar="K=V", help="A parameter value (secrets: HAMN_SECRET_<NAME> or the prompt).")
@click.option("--role", "roles", multiple=True, metavar="ROLE=NODE", help="Bind primary/standby to nodes (after a failover).")
@click.option("--dry-run", is_flag=True, help="Run gates and read-only steps; show mutating commands without running them.")
@click.option("--headless", is_flag=True, help="No TUI: print progress; answers come from the flags below.")
@click.option("--yes", is_flag=True, help="Approve yes/no confirmations (never typed ones).")
@click.option("--confirm", "confirms", multiple=True, metavar="STEP=TEXT", help="Answer a typed confirmation; TEXT must match.")
@click.option("--attest", "attests", multiple=True, metavar="STEP", help="Attest that a manual step was done.")
@click.option("--choose", "chooses", multiple=True, metavar="STEP=OPTION", help="Answer a choice step.")
@click.option("--answer", "answers", multiple=True, metavar="STEP=ACTION[:REASON]", help="Answer a failed or unknown step: done, fail, retry, skip, rollback, abort.")
@click.option("--on-failure", type=click.Choice(["fail", "rollback"]), default="fail", show_default=True, help="Headless answer to a failed step.")
@click.option("--resume", is_flag=True, help="Continue the unfinished run of this runbook.")
@click.option("--audit-dir", type=click.Path(file_okay=False), help="Where audit logs are kept (default $HAMN_AUDIT_DIR or ~/.local/state/hamn/runs).")
@click.option("--key", metavar="FILE", help="SSH key that signs the audit log (default: ssh-agent, the cluster file's [signing] key, the installation key).")
@click.option("--lock-dir", default="/var/lock", show_default=True, help="Where the run lock lives on each node.")
@click.option("--quiet-output", is_flag=True, help="Do not print command output.")
@click.option("--training", "scenario", metavar="SCENARIO", help="Run against the simulated cluster in this scenario (`hamn train --list`).")
@click.option("--seed", default=0, show_default=True, help="With --training: the simulation's random seed.")
@tui_options
def run(runbook: str, cluster_path: str | None, sets: tuple[str, ...], roles: tuple[str, ...], dry_run: bool, headless: bool, yes: bool,
        confirms: tuple[str, ...], attests: tuple[str, ...], chooses: tuple[str, ...], answers: tuple[str, ...], on_failure: str,
        resume: bool, audit_dir: str | None, key: str | None, lock_dir: str, quiet_output: bool, scenario: str | None, seed: int,
        no_mouse: bool, ansi: bool) -> None:
    """Run one runbook: in the TUI, or with --headless printing progress.

    Headless exit status: 0 done, 1 failed, 3 aborted, 4 waiting for an answer it was not given.
    """
    import asyncio
    from pathlib import Path

    from .engine.journal import JournalError
    from .engine.operator import AutoOperator
    from .engine.session import RunRequest, SetupError, prepare
    from .headless import HeadlessPrinter
    from .source.problems import InputError

    if not headless and not can_start("hamn run"):
        click.echo("hamn run: add --headless to run without the TUI (answers then come from --yes, --confirm, …)", err=True)
        sys.exit(2)
    training = None
    if scenario:
        from .sim.session import ScenarioError, Training

        try:
            training = Training(scenario, seed=seed)
        except InputError as exc:
            for p in exc.problems:
                click.echo(str(p), err=True)
            sys.exit(2)
        except ScenarioError as exc:
            click.echo(f"hamn run: training scenario {scenario}: {exc}", err=True)
            sys.exit(2)
    if not headless:
        backend_kw: dict[str, object]
        if training is not None:
            backend_kw = {"training": training, "label": f"scenario {scenario}"}
        else:
            backend_kw = {"cluster_path": cluster_path, "lock_dir": lock_dir, "key": key}
        if audit_dir:
            backend_kw["audit_dir"] = Path(audit_dir)
        start(backend_kw, no_mouse=no_mouse, ansi=ansi, prog="hamn run", open_runbook=runbook, sets=_pairs(sets, "--set"),
              roles=_pairs(roles, "--role"), dry_run=dry_run)
        return
    parsed_answers: dict[str, tuple[str, str]] = {}
    for k, v in _pairs(answers, "--answer").items():
        action, _, reason = v.partition(":")
        parsed_answers[k] = (action, reason)
    operator = AutoOperator(yes=yes, confirms=_pairs(confirms, "--confirm"), attests=set(attests), choices=_pairs(chooses, "--choose"),
                            answers=parsed_answers, resume=resume, on_failure=on_failure)  # type: ignore[arg-type]
    req = RunRequest(runbook, cluster_path, _pairs(sets, "--set"), _pairs(roles, "--role"), dry_run, Path(audit_dir) if audit_dir else None, resume, lock_dir, key)
    try:
        printer = HeadlessPrinter(show_output=not quiet_output)
        if training is not None:
            training.on_fault.append(lambda secs, text: printer.p(f"[bold magenta]fault at +{secs:g} s:[/] {text}"))
            prepared = training.prepare(req, operator, [printer], interactive=sys.stdin.isatty())
        else:
            prepared = prepare(req, operator, [printer], interactive=sys.stdin.isatty())
    except InputError as exc:
        for p in exc.problems:
            click.echo(str(p), err=True)
        sys.exit(2)
    except (SetupError, JournalError) as exc:
        click.echo(f"hamn run: {exc}", err=True)
        sys.exit(2)

    from .engine.journal import secret_values

    printer.secrets = [v for v in secret_values(prepared.runner.ctx.params.values()) if v]

    async def go() -> str:
        try:
            return await prepared.runner.run()
        finally:
            close = getattr(prepared.transport, "close", None)
            if close:
                await close()

    try:
        outcome = asyncio.run(go())
    except JournalError as exc:
        click.echo(f"hamn run: {exc}", err=True)
        sys.exit(1)
    finally:
        prepared.journal.close()
        if prepared.journal.fd is None and prepared.journal.log_id:
            click.echo(f"audit log: {prepared.journal.summary()}", err=True)
    sys.exit(EXIT[outcome])


@main.command()
@click.option("--cluster", "cluster_path", metavar="FILE", help="The cluster file (default: $HAMN_CLUSTER, /etc/hamn/cluster.toml).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per snapshot.")
@click.option("--watch", is_flag=True, help="Keep reading; mail the [alerts] list on transitions.")
@click.option("--interval", default=10.0, show_default=True, help="Seconds between the end of one reading and the next.")
@click.option("--count", type=int, default=0, help="With --watch: stop after this many readings (0: never).")
@click.option("--training", "scenario", metavar="SCENARIO", help="The simulated cluster in this scenario (virtual time).")
def status(cluster_path: str | None, as_json: bool, watch: bool, interval: float, count: int, scenario: str | None) -> None:
    """Both nodes' replication state, the service IP and xCAT's services; unknown shown as unknown."""
    import asyncio

    from .engine.session import default_cluster_path
    from .inventory.loader import load_cluster
    from .source.problems import InputError
    from .status_cli import watch_status

    if scenario:
        from .sim.session import ScenarioError, Training

        try:
            t = Training(scenario)
        except (ScenarioError, InputError) as exc:
            click.echo(f"hamn status: training scenario {scenario}: {exc}", err=True)
            sys.exit(2)
        sys.exit(asyncio.run(watch_status(t.cluster, as_json=as_json, watch=watch, interval=interval, count=count,
                                          transport=t.transport, probes=t.probes(t.status_context()), sleep=t.sleep)))
    path = cluster_path or default_cluster_path()
    if path is None:
        click.echo("hamn status: give --cluster FILE (or set HAMN_CLUSTER)", err=True)
        sys.exit(2)
    try:
        cluster = load_cluster(path)
    except InputError as exc:
        for p in exc.problems:
            click.echo(str(p), err=True)
        sys.exit(2)
    sys.exit(asyncio.run(watch_status(cluster, as_json=as_json, watch=watch, interval=interval, count=count)))


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


from .cli_hadr import hadr  # noqa: E402

main.add_command(hadr)

from .cli_advise import advise  # noqa: E402

hadr.add_command(advise)

from .cli_audit import audit  # noqa: E402
main.add_command(audit)

from .cli_train import train  # noqa: E402

main.add_command(train)

from .cli_lab import lab  # noqa: E402

main.add_command(lab)
