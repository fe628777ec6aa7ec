"""One training session: a scenario's simulated cluster, its virtual clock and its faults.

Everything is virtual: `sleep` advances `clock` at once, so a run with 300 s waits takes
milliseconds and the same seed always gives the same run. The simulator sits behind the
transport interface: `transport` answers for every node, `local` (the console) included —
never put it behind a Router with a LocalTransport, or a training `rpower` would run on the
real console. The application layer (`app.targets.TrainingTarget`) puts the real probes and
the runner on top of it; `on_event` fires the faults tied to a run's steps.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..cluster.loader import load_cluster
from ..cluster.model import Cluster
from ..record.events import Answered, CommandSent, Event, RunStarted, StepFinished, StepStarted
from . import actions
from .build import build
from .clock import VirtualClock
from .errors import ScenarioError
from .scenario import Action, Fault, Scenario, load_scenario
from .shell import Shell
from .site import grown
from .transport import SimTransport

CLUSTER_FILE = Path(__file__).with_name("training_cluster.toml")
ON_EVENT = {"start": StepStarted, "command": CommandSent, "answer": Answered, "finish": StepFinished}


def on_platform(cluster: Cluster, platform: str | None) -> Cluster:
    """The cluster with every node on `platform` (None: unchanged)."""
    if platform is None:
        return cluster
    nodes = {name: n.model_copy(update={"platform": platform}) for name, n in cluster.nodes.items()}
    return cluster.model_copy(update={"nodes": nodes})


class Training:
    def __init__(self, scenario: str = "healthy", *, seed: int = 0, db2_level: str | None = None, platform: str | None = None):
        """`platform`: every node of the training cluster runs that operating system ("aix":
        SRC, ifconfig aliases and mktcpip instead of service and ip; default: the cluster file's)."""
        self.cluster_path = CLUSTER_FILE
        base = load_cluster(CLUSTER_FILE)
        self.scenario: Scenario = load_scenario(scenario, list(base.nodes))
        self.cluster = on_platform(grown(base, self.scenario.site.service_nodes), platform)
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

    # --- what a run needs ----------------------------------------------------------------------
    def clock(self) -> float:
        """Virtual epoch seconds (the Runner's and the db2 probes' `clock`)."""
        return self.vclock.now()

    async def sleep(self, seconds: float) -> None:
        await self.vclock.sleep(seconds)

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
        elif a.action in ("start_service", "stop_service", "fail_service"):
            actions.ACTIONS[a.action](sim, node, a.service)
        elif a.action == "hang_service":
            actions.hang_service(sim, node, a.service, a.seconds or 0.0)  # type: ignore[arg-type]
        else:
            actions.ACTIONS[a.action](sim, node)
