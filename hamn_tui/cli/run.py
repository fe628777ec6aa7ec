"""`hamn run RUNBOOK`: in the TUI, or `--headless` with progress printed and answers from flags."""
from __future__ import annotations

import sys

import click

from ..engine.operator import MAX_ANSWER_RETRIES
from ..settings import LOCK_DIR
from .errors import BAD_INPUT, bad_input_exits, refuse
from .tui import can_start, start, tui_options

EXIT = {"done": 0, "failed": 1, "aborted": 3, "waiting": 4}
DRY_RUN_WOULD_STOP = 5
"""A dry run found a gate or check that would stop the real run."""
PROG = "hamn run"


def pairs(values: tuple[str, ...], flag: str) -> dict[str, str]:
    """NAME=VALUE flags as a dict; a malformed one, or one name given twice with different values, exits 2."""
    out: dict[str, str] = {}
    for v in values:
        if "=" not in v:
            refuse(PROG, f"{flag} {v!r}: expected NAME=VALUE")
        k, _, val = v.partition("=")
        k = k.strip()
        if k in out and out[k] != val:
            refuse(PROG, f"{flag} {k}: given twice with different values; give it once")  # values unshown: one may be a secret
        out[k] = val
    return out


def check_flags(scenario: str | None, audit_dir: str | None, key: str | None) -> None:
    """Flags that cannot be right, refused before anything is read or run: an empty or unknown
    scenario (which would otherwise fall through to the real cluster), an empty audit directory
    (which would otherwise be the default one), a signing key that training would not use."""
    if scenario is not None and not scenario.endswith(".toml"):
        from ..sim.scenario import scenario_names

        names = scenario_names()
        if scenario not in names:
            refuse(PROG, f"no training scenario {scenario!r}; hamn train --list shows them: {', '.join(names)}")
    if audit_dir is not None and not audit_dir.strip():
        refuse(PROG, f"--audit-dir {audit_dir!r}: give a directory, or leave the flag out for $HAMN_AUDIT_DIR or ~/.local/state/hamn/runs")
    if key is not None and scenario is not None:
        refuse(PROG, "--key is not used with --training: a training run is signed with an ephemeral key")


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
@click.option("--answer", "answers", multiple=True, metavar="STEP=ACTION[:REASON]", help=f"Answer a failed or unknown step: done, fail, retry (at most {MAX_ANSWER_RETRIES} retries of that step, then the run waits), skip, rollback, abort.")
@click.option("--proceed-unwitnessed", "unwitnessed", multiple=True, metavar="STEP",
              help="Let this dangerous step run without a witness's cosignature (recorded; the run is marked degraded).")
@click.option("--approval", "approvals", multiple=True, metavar="STEP=FILE",
              help="A second operator's answer to this step's approval request, made elsewhere (hamn approve --request … --out FILE).")
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
        confirms: tuple[str, ...], attests: tuple[str, ...], chooses: tuple[str, ...], answers: tuple[str, ...],
        unwitnessed: tuple[str, ...], approvals: tuple[str, ...], on_failure: str,
        resume: bool, audit_dir: str | None, key: str | None, lock_dir: str, quiet_output: bool, scenario: str | None, seed: int,
        no_mouse: bool, ansi: bool) -> None:
    """Run one runbook: in the TUI, or with --headless printing progress.

    Headless exit status: 0 done, 1 failed, 2 bad input or a run that cannot start (another run
    of this runbook on this cluster is going on), 3 aborted, 4 waiting for an answer it was not
    given, 5 dry run: a gate or check would stop the real run.
    """
    import asyncio
    from pathlib import Path

    from ..app.session import RunRequest, RunSession, check_roles
    from ..app.targets import ClusterTarget, Target, TrainingTarget
    from ..audit.errors import AuditError
    from ..engine.operator import AutoOperator
    from ..record.redact import Redactor
    from ..runbook.library import open_procedure
    from ..settings import settings
    from ..textsafe import neutralise
    from .headless import HeadlessPrinter

    if not headless and not can_start(PROG):
        click.echo("hamn run: add --headless to run without the TUI (answers then come from --yes, --confirm, …)", err=True)
        sys.exit(2)
    check_flags(scenario, audit_dir, key)
    set_values, role_names = pairs(sets, "--set"), pairs(roles, "--role")
    target: Target
    if scenario is not None:
        with bad_input_exits(PROG, f"training scenario {scenario}: "):
            target = TrainingTarget.scenario(scenario, seed=seed)
    else:
        with bad_input_exits(PROG):
            target = ClusterTarget(cluster_path or settings().cluster_path)
    with bad_input_exits(PROG):
        check_roles(target.cluster, role_names)
    audit = Path(audit_dir) if audit_dir else None
    if not headless:
        start(target, audit_dir=audit, lock_dir=lock_dir, key=key, no_mouse=no_mouse, ansi=ansi, prog=PROG, open_runbook=runbook,
              sets=set_values, roles=role_names, dry_run=dry_run)
        return
    parsed_answers: dict[str, tuple[str, str]] = {}
    for k, v in pairs(answers, "--answer").items():
        action, _, reason = v.partition(":")
        parsed_answers[k] = (action, reason)
    operator = AutoOperator(yes=yes, confirms=pairs(confirms, "--confirm"), attests=set(attests), choices=pairs(chooses, "--choose"),
                            answers=parsed_answers, resume=resume, on_failure=on_failure,  # type: ignore[arg-type]
                            unwitnessed=set(unwitnessed))
    approval_files = {step: Path(path) for step, path in pairs(approvals, "--approval").items()}
    with bad_input_exits(PROG):
        procedure = open_procedure(runbook, target.cluster)
    if procedure is not None:  # else RunSession.open says there is no such runbook
        rb = procedure.runbook
        steps = {s.id for _, _, s in rb.all_steps()}
        problems = operator.problems(rb.runbook.id, steps)
        problems += [f"--approval {sid}: {rb.runbook.id} has no step {sid!r}" for sid in approval_files if sid not in steps]
        for problem in problems:
            click.echo(f"{PROG}: {problem}", err=True)
        if problems:
            sys.exit(BAD_INPUT)
    req = RunRequest(runbook, set_values, role_names, dry_run, audit, resume, lock_dir, key, approvals=approval_files)
    printer = HeadlessPrinter(show_output=not quiet_output)
    target.on_fault(lambda secs, text: printer.p(f"[bold magenta]fault at +{secs:g} s:[/] {text}"))
    with bad_input_exits(PROG):  # a run going on elsewhere (RunInProgress) is one line and exit 2 too: nothing ran
        session = RunSession.open(req, target, operator, [printer], interactive=sys.stdin.isatty(), procedure=procedure)
    printer.secrets = session.secrets
    try:
        outcome = asyncio.run(session.run())
    except AuditError as exc:
        click.echo(f"hamn run: {exc}", err=True)
        sys.exit(1)
    finally:
        if session.journal.fd is None and session.journal.log_id:
            click.echo(f"audit log: {session.journal.summary()}", err=True)
        if session.witnessing():
            click.echo(f"witnesses: {session.witnessing()}", err=True)
    stops = session.runner.would_stop
    if stops:
        redact = Redactor(session.secrets).text
        click.echo("dry run: the real run would stop at:")
        for step_id, why in stops:
            click.echo(f"  {step_id}: {neutralise(redact(why))}")
    sys.exit(DRY_RUN_WOULD_STOP if stops and outcome == "failed" else EXIT[outcome])
