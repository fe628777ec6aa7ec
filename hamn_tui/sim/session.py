"""One training session: a scenario's simulated cluster and the pieces a run (or `hamn status`) needs.

`hamn run RUNBOOK --training SCENARIO --headless`:

    t = Training(scenario, seed=0)
    req = RunRequest(runbook, cluster_path=str(t.cluster_path), …)
    prepared = t.prepare(req, operator, [printer])   # engine.session.prepare with the simulator's pieces

`hamn status --training SCENARIO`: `snapshot(t.cluster, t.probes(t.status_context()))`, and
`t.sleep` between readings.

Everything is virtual: `t.sleep` advances `t.clock` at once, so a run with 300 s waits takes
milliseconds and the same seed always gives the same run. The probes are the real ones, over
the simulated transport, with their clock and sleep bound to the virtual clock. The transport
answers for every node, `local` (the console) included: never put it behind a Router with a
LocalTransport, or a training `rpower` would run on the real console.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from ..engine.events import Answered, CommandSent, Event, RunStarted, StepFinished, StepStarted
from ..inventory.loader import load_cluster
from ..probes.base import ProbeSet
from ..runbook.context import RunContext, bind_roles, resolve_params
from ..runbook.model import Runbook
from . import actions
from .build import build
from .clock import VirtualClock
from .scenario import Action, Fault, Scenario, load_scenario
from .shell import Shell
from .transport import SimTransport

CLUSTER_FILE = Path(__file__).with_name("training_cluster.toml")
ON_EVENT = {"start": StepStarted, "command": CommandSent, "answer": Answered, "finish": StepFinished}


class ScenarioError(Exception):
    """A scenario's setup or fault could not be applied (its command failed): a bug in the scenario."""


class Training:
    def __init__(self, scenario: str = "healthy", *, seed: int = 0, db2_level: str | None = None):
        self.cluster_path = CLUSTER_FILE
        self.cluster = load_cluster(CLUSTER_FILE)
        self.scenario: Scenario = load_scenario(scenario, list(self.cluster.nodes))
        self.seed = seed
        self.vclock = VirtualClock()
        meta, db2 = self.scenario.scenario, self.scenario.db2
        self.sim = build(self.cluster, clock=self.vclock, seed=seed, level=db2_level or meta.db2_level, start=meta.start,
                         autostart={n: s.autostart for n, s in self.scenario.nodes.items()},
                         skew={n: s.clock_skew_s for n, s in self.scenario.nodes.items()},
                         syncmode=db2.syncmode, hadr_timeout_s=db2.hadr_timeout_s, peer_window_s=db2.peer_window_s)
        self.transport = SimTransport(self.sim, {name: n.ssh_user for name, n in self.cluster.nodes.items()})
        self.happened: list[tuple[float, str]] = []
        """Faults as they fired: (seconds since the start, what the trainee is told)."""
        self.on_fault: list[Callable[[float, str], None]] = []
        """Called as each fault fires (seconds since the start, text): the headless printer or the TUI shows it."""
        for a in self.scenario.setup:
            self.apply(a, during_setup=True)
            if a.after_s:
                self.vclock.advance(a.after_s)
        self.t0 = self.vclock.now()
        self._pending: list[Fault] = []
        for f in self.scenario.faults:
            if f.at_s == 0:
                self.apply(f)  # the trainee arrives just as it happens
            elif f.at_s is not None:
                self.vclock.call_at(self.t0 + f.at_s, lambda f=f: self.apply(f))
            else:
                self._pending.append(f)
        self._runbook: str | None = None

    # --- what a run needs --------------------------------------------------------------------------
    def clock(self) -> float:
        """Virtual epoch seconds (the Runner's and the db2 probes' `clock`)."""
        return self.vclock.now()

    async def sleep(self, seconds: float) -> None:
        await self.vclock.sleep(seconds)

    def probes(self, ctx: RunContext | None = None) -> ProbeSet:
        """The real probes (`cluster_probes`) over the simulator, with their waits and clocks virtual."""
        from ..probes.db2.probe import db2_probes
        from ..probes.host import host_probes
        from ..probes.registry import cluster_probes

        probes = cluster_probes(self.transport, self.cluster, ctx)
        probes.probes.update(db2_probes(self.transport, self.cluster, ctx, sleep=self.sleep, clock=self.clock).probes)
        probes.probes["host.clock"] = host_probes(self.transport, self.cluster, clock=self.clock).probes["host.clock"]
        return probes

    def probes_factory(self, transport: Any, cluster: Any, ctx: RunContext) -> ProbeSet:
        """For `engine.session.prepare(probes_factory=…)`."""
        return self.probes(ctx)

    def transport_factory(self, cluster: Any) -> tuple[SimTransport, str]:
        """For `engine.session.prepare(transport_factory=…)`: every node, `local` included, is simulated."""
        return self.transport, "training"

    def runner_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `Runner(…)`: virtual sleep and clock, the audit log marked training."""
        return {"sleep": self.sleep, "clock": self.clock, "training": True, "transport_name": "training"}

    def status_context(self) -> RunContext:
        """For `hamn status --training`: roles as the cluster file binds them."""
        return RunContext({}, self.cluster, bind_roles(self.cluster))

    def context(self, runbook: Runbook, sets: Mapping[str, Any] | None = None, roles: Mapping[str, str] | None = None) -> RunContext:
        bound = bind_roles(self.cluster, roles)
        return RunContext(resolve_params(runbook, dict(sets or {}), self.cluster, bound), self.cluster, bound)

    def prepare(self, req: Any, operator: Any, subscribers: Iterable[Any] = (), **kw: Any) -> Any:
        """`engine.session.prepare` wired to this session: every node simulated, time virtual,
        faults fired by the run's events, a TRAINING log (the headless command and the TUI)."""
        from ..engine.session import prepare

        req.cluster_path = str(self.cluster_path)
        return prepare(req, operator, [self.on_event, *subscribers], transport_factory=self.transport_factory,
                       probes_factory=self.probes_factory, training=True, runner_kwargs=self.runner_kwargs(), **kw)

    def runner(self, runbook: Runbook, ctx: RunContext, operator: Any, *, run_id: str = "training", subscribers: Iterable[Any] = ()) -> Any:
        """A Runner wired to this session (used by the tests and the headless train command)."""
        from ..engine.runner import Runner

        return Runner(runbook, ctx, self.transport, self.probes(ctx), operator, run_id=run_id,
                      subscribers=[self.on_event, *subscribers], **self.runner_kwargs())

    # --- faults ----------------------------------------------------------------------------------
    def on_event(self, event: Event) -> None:
        """A run subscriber: fires the faults tied to a step (`at_step`, `on`)."""
        if isinstance(event, RunStarted):
            self._runbook = event.runbook_id
            return
        for f in list(self._pending):
            if f.at_step != getattr(event, "step_id", None) or not isinstance(event, ON_EVENT[f.on]):
                continue
            if f.runbook is not None and f.runbook != self._runbook:
                continue
            self._pending.remove(f)
            self.apply(f)

    def apply(self, a: Action, *, during_setup: bool = False) -> None:
        """Apply one action now (also usable by hand: `t.apply(Action(action="power_on", node="mn1"))`)."""
        sim = self.sim
        node = sim.nodes.get(a.node) if a.node else None
        when = self.vclock.now() - getattr(self, "t0", self.vclock.now())
        if not during_setup:
            text = a.note or f"{a.action} {a.node or ' / '.join(a.nodes or [])}".strip()
            self.happened.append((when, text))
            sim.note(f"fault: {text}")
            for listener in self.on_fault:
                listener(when, text)
        if a.action == "run":
            assert node is not None and a.command is not None
            status, out, err = Shell(sim, node, a.user or "root").run(a.command)
            if status not in a.expect_exit:
                raise ScenarioError(f"scenario {self.scenario.name}: {a.node} as {a.user or 'root'}: {a.command!r} -> exit {status}: {(out + err).strip()}")
        elif a.action in ("partition", "heal"):
            assert a.nodes is not None
            actions.ACTIONS[a.action](sim, sim.nodes[a.nodes[0]], sim.nodes[a.nodes[1]])
        elif a.action == "advance":
            actions.advance(sim, a.seconds or 0.0)
        elif a.action == "power_on":
            actions.power_on(sim, node, a.boot_s if a.boot_s is not None else actions.BOOT_S)  # type: ignore[arg-type]
        elif a.action in ("start_service", "stop_service"):
            actions.ACTIONS[a.action](sim, node, a.service)
        else:
            actions.ACTIONS[a.action](sim, node)
