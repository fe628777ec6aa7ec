"""`hamn run RUNBOOK`: in the TUI, or `--headless` with progress printed and answers from flags."""
from __future__ import annotations

import sys

import click

from ..settings import LOCK_DIR
from .errors import bad_input_exits
from .tui import can_start, start, tui_options

EXIT = {"done": 0, "failed": 1, "aborted": 3, "waiting": 4}


def pairs(values: tuple[str, ...], flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values:
        if "=" not in v:
            raise click.BadParameter(f"{v!r}: expected NAME=VALUE", param_hint=flag)
        k, _, val = v.partition("=")
        out[k.strip()] = val
    return out


@click.command()
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
@click.option("--lock-dir", default=LOCK_DIR, show_default=True, help="Where the run lock lives on each node.")
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

    from ..app.session import RunRequest, RunSession
    from ..app.targets import ClusterTarget, Target, TrainingTarget
    from ..audit.errors import AuditError
    from ..engine.operator import AutoOperator
    from ..settings import settings
    from .headless import HeadlessPrinter

    if not headless and not can_start("hamn run"):
        click.echo("hamn run: add --headless to run without the TUI (answers then come from --yes, --confirm, …)", err=True)
        sys.exit(2)
    target: Target
    if scenario:
        with bad_input_exits("hamn run", f"training scenario {scenario}: "):
            target = TrainingTarget.scenario(scenario, seed=seed)
    else:
        with bad_input_exits("hamn run"):
            target = ClusterTarget(cluster_path or settings().cluster_path)
    audit = Path(audit_dir) if audit_dir else None
    if not headless:
        start(target, audit_dir=audit, lock_dir=lock_dir, key=key, no_mouse=no_mouse, ansi=ansi, prog="hamn run", open_runbook=runbook,
              sets=pairs(sets, "--set"), roles=pairs(roles, "--role"), dry_run=dry_run)
        return
    parsed_answers: dict[str, tuple[str, str]] = {}
    for k, v in pairs(answers, "--answer").items():
        action, _, reason = v.partition(":")
        parsed_answers[k] = (action, reason)
    operator = AutoOperator(yes=yes, confirms=pairs(confirms, "--confirm"), attests=set(attests), choices=pairs(chooses, "--choose"),
                            answers=parsed_answers, resume=resume, on_failure=on_failure)  # type: ignore[arg-type]
    req = RunRequest(runbook, pairs(sets, "--set"), pairs(roles, "--role"), dry_run, audit, resume, lock_dir, key)
    printer = HeadlessPrinter(show_output=not quiet_output)
    target.on_fault(lambda secs, text: printer.p(f"[bold magenta]fault at +{secs:g} s:[/] {text}"))
    with bad_input_exits("hamn run"):
        session = RunSession.open(req, target, operator, [printer], interactive=sys.stdin.isatty())
    printer.secrets = session.secrets
    try:
        outcome = asyncio.run(session.run())
    except AuditError as exc:
        click.echo(f"hamn run: {exc}", err=True)
        sys.exit(1)
    finally:
        if session.journal.fd is None and session.journal.log_id:
            click.echo(f"audit log: {session.journal.summary()}", err=True)
    sys.exit(EXIT[outcome])
