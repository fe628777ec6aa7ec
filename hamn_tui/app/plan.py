"""A run's plan before it starts: each step's row with its commands resolved for the nodes and
roles the run will use (secrets shown as ******), ready for the one fold of its events."""
from __future__ import annotations

from typing import Any

from ..record.fold import RunFold, StepRow
from ..runbook.context import RunContext
from ..runbook.model import Runbook, Step
from ..textsafe import reflow


def plan(runbook: Runbook | None = None, ctx: RunContext | None = None) -> RunFold:
    """A fold whose rows are the runbook's steps (main section, then always), not yet run."""
    if runbook is None:
        return RunFold()
    rows = [step_row(step, section, ctx) for section, steps in (("steps", runbook.steps), ("always", runbook.always)) for step in steps]
    return RunFold(rows, ctx.roles if ctx is not None else None, runbook.runbook.id, runbook.runbook.title)


def step_row(step: Step, section: str, ctx: Any) -> StepRow:
    node = ctx.roles.get(step.node, step.node) if ctx is not None else step.node
    role = step.node if node != step.node else ""
    if ctx is not None:
        try:
            planned = ctx.shown_commands(step.run, step.node)  # each node runs its own platform's command
            title, explain = ctx.prose(step.title), ctx.prose(step.explain, node)
            user = ctx.prose(step.user, node) if step.user else None
        except Exception:  # a placeholder from a capture not made yet: show the template
            planned, title, explain, user = tuple(step.commands()), step.title, step.explain, step.user
    else:
        planned, title, explain, user = tuple(step.commands()), step.title, step.explain, step.user
    cluster = getattr(ctx, "cluster", None)
    targets = tuple(cluster.groups.get(step.node[1:], ())) if cluster is not None and step.node.startswith("@") else ()
    return StepRow(step.id, title, step.kind, node, section, role=role, explain=reflow(explain), doc=step.doc, user=user, planned=planned,
                   targets=targets)


