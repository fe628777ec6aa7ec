"""Running the real engine (Runner, loaded runbooks, real probes, AutoOperator) against a training scenario."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from hamn_tui.record.events import CommandSent, Event, OutputChunk, StepFinished, StepSkipped
from hamn_tui.engine.operator import AutoOperator
from hamn_tui.runbook.loader import load_runbook
from hamn_tui.app.targets import TrainingTarget
from hamn_tui.sim.training import Training

from .conftest import REPO


@dataclass
class Run:
    training: Training
    outcome: str
    events: list[Event] = field(default_factory=list)

    @property
    def sent(self) -> list[tuple[str, str, str]]:
        """(step, node, command) of every command the runner sent, in order."""
        return [(e.step_id, e.node, e.command) for e in self.events if isinstance(e, CommandSent)]

    def commands(self, step: str | None = None) -> list[str]:
        return [c for s, _, c in self.sent if step is None or s == step]

    @property
    def steps(self) -> dict[str, str]:
        """Step id -> final outcome ("skipped" for a step whose `when` did not hold)."""
        return {e.step_id: "skipped" if isinstance(e, StepSkipped) else e.outcome
                for e in self.events if isinstance(e, (StepFinished, StepSkipped))}

    def output(self, step: str) -> str:
        return "".join(e.data.decode() for e in self.events if isinstance(e, OutputChunk) and e.step_id == step)


def run(scenario: str | Training, runbook: str, *, roles: dict[str, str] | None = None, sets: dict[str, Any] | None = None,
        seed: int = 0, **answers: Any) -> Run:
    """Run a shipped runbook headless on a scenario; `answers` are AutoOperator's (yes, confirms, attests, choices, answers)."""
    t = scenario if isinstance(scenario, Training) else Training(scenario, seed=seed)
    rb = load_runbook(REPO / "runbooks" / f"{runbook}.toml", t.cluster)
    target = TrainingTarget(t)
    ctx = target.context(rb, sets, roles)
    events: list[Event] = []
    if "attests" in answers:
        answers["attests"] = set(answers["attests"])
    runner = target.runner(rb, ctx, AutoOperator(**answers), run_id=f"{runbook}-test", subscribers=[events.append])
    outcome = asyncio.run(runner.run())
    return Run(t, outcome, events)


def sh(t: Training, node: str, command: str, user: str = "root") -> tuple[int, str, str]:
    """A command typed on a simulated node, as a trainee would."""
    from hamn_tui.sim.shell import Shell

    return Shell(t.sim, t.sim.nodes[node], user).run(command)
