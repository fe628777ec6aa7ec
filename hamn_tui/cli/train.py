"""`hamn train`: the TUI on the simulated cluster (or, with --lab, on the real two-node lab).

`--list`, `--text` or no terminal print the scenarios, a scenario's story and the headless
commands that rehearse it (`hamn run RUNBOOK --training NAME --headless`).
"""
from __future__ import annotations

import sys

import click

from .errors import bad_input_exits, refuse
from .terminal import needs_terminal
from .tui import can_start, start, tui_options


def _rehearse_line(runbook: str, scenario: str, roles: dict[str, str]) -> str:
    flags = "".join(f" --role {r}={n}" for r, n in sorted(roles.items()))
    return f"hamn run {runbook} --training {scenario} --headless{flags}"


def _state_lines(t) -> list[str]:
    """One line per management node: what a trainee finds on arrival."""
    out = []
    for node in t.sim.mns():
        db = node.db
        if not node.up:
            out.append(f"{node.name}: down")
            continue
        if not node.instance_up:
            dbtext = f"DB2 instance stopped, database role {db.cfg.role} on disk"
        elif not db.active:
            dbtext = f"database not active, role {db.cfg.role} on disk"
        elif db.hadr is None:
            dbtext = f"database active, role {db.cfg.role}"
        else:
            dbtext = f"HADR {db.cfg.role} {db.hadr.state} {db.hadr.connect_status}"
        svc = node.services.get("xcatd")
        sip = " holds the service IP," if t.sim.holds(node, t.sim.service_ip) else ""
        out.append(f"{node.name}: up,{sip} {dbtext}, xcatd {'running' if svc and svc.running else 'stopped'}")
    return out


def _welcome(seed: int) -> None:
    """The built-in training cluster at a glance: the healthy pair, read through the real probes."""
    import asyncio

    from rich.console import Console

    from ..app.status import StatusReader
    from ..app.targets import TrainingTarget
    from .status import render

    target = TrainingTarget.scenario("healthy", seed=seed)
    console = Console(highlight=False)
    console.print("[bold magenta]TRAINING[/] — a simulated xCAT MN pair with DB2 HADR; nothing real is touched.\n")
    console.print(render(asyncio.run(StatusReader(target).read())))
    console.print("\nScenarios (`hamn train --scenario NAME`):")


@click.command()
@click.option("--list", "list_", is_flag=True, help="List the scenarios with a one-line description.")
@click.option("--scenario", metavar="NAME", help="The scenario to rehearse (default: the healthy pair).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the simulated workload.")
@click.option("--lab", is_flag=True, help="Rehearse on real software: the TUI against the two-node lab (`hamn lab up`).")
@click.option("--text", is_flag=True, help="No TUI: print the scenario's story and the headless commands that rehearse it.")
@tui_options
def train(list_: bool, scenario: str | None, seed: int, lab: bool, text: bool, no_mouse: bool, ansi: bool) -> None:
    """Training mode: rehearse the shipped runbooks against a simulated DB2 HADR pair with faults.

    In a terminal it opens the TUI on the simulated cluster (TRAINING banner, signed training
    audit logs); `--list`, `--text` or no terminal print the scenarios instead.
    """
    from ..app.targets import TrainingTarget
    from ..inputs.problems import InputError
    from ..sim.scenario import load_scenario, scenario_names

    if lab:
        from ..lab import LabError, cluster_file

        try:
            path = cluster_file()
        except LabError as exc:
            click.echo(f"hamn train --lab: {exc}", err=True)
            sys.exit(2)
        if not can_start("hamn train --lab"):
            sys.exit(2)
        start(cluster_path=str(path), label="the two-node lab (real sshd and PostgreSQL)", no_mouse=no_mouse, ansi=ansi, prog="hamn train")
        return
    if not list_ and not text and not needs_terminal():
        name = scenario or "healthy"
        if name not in scenario_names() and not name.endswith(".toml"):
            refuse("hamn train", f"no scenario {name!r}; `hamn train --list` shows them: {', '.join(scenario_names())}")
        with bad_input_exits("hamn train", f"scenario {name}: "):
            target = TrainingTarget.scenario(name, seed=seed)
        target.label = f"scenario {name}: {target.sim.scenario.scenario.title}"
        start(target, no_mouse=no_mouse, ansi=ansi, prog="hamn train")
        return
    welcome = not list_ and not scenario
    if welcome:
        _welcome(seed)
        list_ = True
    if list_:
        width = max(len(n) for n in scenario_names())
        from ..cluster.loader import load_cluster
        from ..sim.training import CLUSTER_FILE

        nodes = list(load_cluster(CLUSTER_FILE).nodes)
        for name in scenario_names():
            try:
                sc = load_scenario(name, nodes)
                click.echo(f"{name:<{width}}  {sc.scenario.summary}")
            except InputError as exc:
                for p in exc.problems:
                    click.echo(str(p), err=True)
        if welcome:
            click.echo("")
            click.echo("Rehearse one:  hamn train --scenario primary-node-crash   (its story and the exact commands)")
            click.echo("Or directly:   hamn run failover-planned --training healthy --headless --yes --confirm takeover=XCATDB")
        if not scenario:
            return
    if scenario and scenario not in scenario_names() and not scenario.endswith(".toml"):
        refuse("hamn train", f"no scenario {scenario!r}; `hamn train --list` shows them: {', '.join(scenario_names())}")
    with bad_input_exits("hamn train"):
        t = TrainingTarget.scenario(scenario or "", seed=seed).sim
    sc = t.scenario
    click.echo(f"{sc.scenario.title}  [{sc.name}, DB2 {t.sim.level}]\n")
    click.echo(sc.scenario.story.strip() + "\n")
    click.echo("When you arrive:")
    for line in _state_lines(t):
        click.echo(f"  {line}")
    if sc.faults:
        click.echo("\nWhat will happen:")
        for f in sc.faults:
            when = f"at t = {f.at_s:g} s" if f.at_s is not None else f"when step {f.at_step} reaches '{f.on}'"
            click.echo(f"  {when}: {f.note or f.action}")
    click.echo("\nRehearse it (`hamn train --scenario NAME` in a terminal does this in the TUI; headless, the run stops and tells you "
               "which --yes / --confirm / --attest / --choose answer it needs):")
    for r in sc.rehearse:
        click.echo(f"  {_rehearse_line(r.runbook, sc.name, r.roles)}")
        if r.note:
            click.echo(f"      {r.note}")
    click.echo(f"\nSee the simulated pair: hamn status --training {sc.name}")
