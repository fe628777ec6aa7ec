"""What a run or a status reading talks to: a real cluster over SSH (the lab is one), or the
training simulator. The one place transports and probes are built for each.

A target hands out a transport (and says whether the caller must close it), the probes over
it, and what a runner on it needs (the simulator's virtual clock and sleep, its fault trigger).
"""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from ..cluster.loader import load_cluster
from ..cluster.model import Cluster
from ..engine.operator import Operator
from ..engine.runner import Runner
from ..probes.base import ProbeSet
from ..probes.registry import cluster_probes
from ..record.events import Subscriber
from ..runbook.context import RunContext, bind_roles, resolve_params
from ..runbook.model import Runbook
from ..transport.base import Transport


def connect(cluster: Cluster | None) -> Transport:
    """The real transport: `local` on this machine, every other node over SSH (host keys checked)."""
    from ..transport.local import LocalTransport

    if cluster is None:
        return LocalTransport()
    from ..transport.router import Router
    from ..transport.ssh import SshTransport

    return Router(LocalTransport(), SshTransport(cluster))


class ClusterTarget:
    """A real cluster from its cluster file (None: only `local` steps can run)."""

    training = False
    scenario_name: str | None = None
    """Only training rehearses a scenario."""

    def __init__(self, cluster_path: str | Path | None, label: str = ""):
        self.cluster_path = str(cluster_path) if cluster_path else None
        self.cluster: Cluster | None = load_cluster(self.cluster_path) if self.cluster_path else None
        self.label = label
        """Shown in the TUI's banner (the lab says what it is)."""

    @property
    def transport_name(self) -> str:
        return "ssh" if self.cluster is not None else "local"

    def transport(self) -> tuple[Transport, bool]:
        """A new transport, and True: the caller closes it."""
        return connect(self.cluster), True

    def probes(self, transport: Transport, ctx: RunContext | None) -> ProbeSet:
        return cluster_probes(transport, self.cluster, ctx)

    def runner_options(self) -> dict[str, Any]:
        return {"sleep": asyncio.sleep, "clock": time.monotonic}

    def subscribers(self) -> list[Subscriber]:
        return []

    def on_fault(self, listener: Callable[[float, str], None]) -> None:
        """Only training has scripted faults."""


class TrainingTarget:
    """The simulated cluster of one training session: every node, `local` included, is simulated,
    time is virtual, faults fire on the run's events. Held for a whole TUI session, so runbooks
    chain (fail over, then fail back, on the same pair)."""

    training = True
    transport_name = "training"

    def __init__(self, training: Any, label: str = ""):
        self.sim = training
        """The `sim.training.Training` session."""
        self.cluster_path = str(training.cluster_path)
        self.cluster: Cluster = training.cluster
        self.label = label

    @classmethod
    def scenario(cls, name: str, *, seed: int = 0, db2_level: str | None = None, label: str | None = None) -> TrainingTarget:
        """A new session on a scenario; raises InputError (a bad scenario file) or ScenarioError."""
        from ..sim.training import Training

        t = Training(name, seed=seed, db2_level=db2_level)
        return cls(t, f"scenario {name}" if label is None else label)

    @property
    def scenario_name(self) -> str:
        """The scenario rehearsed: the run's log names it, and a resume must use the same."""
        return str(self.sim.scenario.name)

    def transport(self) -> tuple[Transport, bool]:
        """The simulator's transport, shared by every run and reading of the session: not closed by them."""
        return self.sim.transport, False

    def probes(self, transport: Transport | None = None, ctx: RunContext | None = None) -> ProbeSet:
        """The real probes over the simulator, with their waits and clocks virtual."""
        from ..probes.db2.probe import db2_probes
        from ..probes.host import host_probes

        t = self.sim
        probes = cluster_probes(t.transport, self.cluster, ctx)
        probes.probes.update(db2_probes(t.transport, self.cluster, ctx, sleep=t.sleep, clock=t.clock).probes)
        probes.probes["host.clock"] = host_probes(t.transport, self.cluster, clock=t.clock).probes["host.clock"]
        return probes

    def runner_options(self) -> dict[str, Any]:
        return {"sleep": self.sim.sleep, "clock": self.sim.clock}

    def subscribers(self) -> list[Subscriber]:
        return [self.sim.on_event]

    def on_fault(self, listener: Callable[[float, str], None]) -> None:
        self.sim.on_fault.append(listener)

    # --- for the simulator's own tests: a runner with no audit log ----------------------------------
    def context(self, runbook: Runbook, sets: Mapping[str, Any] | None = None, roles: Mapping[str, str] | None = None) -> RunContext:
        bound = bind_roles(self.cluster, roles)
        return RunContext(resolve_params(runbook, dict(sets or {}), self.cluster, bound), self.cluster, bound)

    def guards(self, records: Callable[[], int]) -> dict[str, Any]:
        """What a dangerous step waits for in a rehearsal: simulated witnesses, and a simulated
        colleague who takes a few real seconds to approve (the trainee sees the wait and the code;
        in the simulator's time it would be over before the dialog opened)."""
        from .approvals import TrainingDesk
        from .witnessing import TrainingWitnesses

        return {"witnesses": TrainingWitnesses(self.sim, records), "second_operator": TrainingDesk(asyncio.sleep, TRAINING_APPROVAL_S)}

    def runner(self, runbook: Runbook, ctx: RunContext, operator: Operator, *, run_id: str = "training",
               subscribers: Iterable[Subscriber] = ()) -> Runner:
        from .approvals import TrainingDesk
        from .witnessing import TrainingWitnesses

        seen: list[Any] = []  # the simulator's own tests: the colleague answers in the simulator's time
        return Runner(runbook, ctx, self.sim.transport, self.probes(None, ctx), operator, run_id=run_id, training=True,
                      transport_name=self.transport_name, subscribers=[*self.subscribers(), seen.append, *subscribers],
                      witnesses=TrainingWitnesses(self.sim, lambda: len(seen)), second_operator=TrainingDesk(self.sim.sleep),
                      **self.runner_options())


Target = ClusterTarget | TrainingTarget

TRAINING_APPROVAL_S = 4.0
"""How long the simulated second operator takes to approve, in real seconds."""


def status_context(cluster: Cluster) -> RunContext:
    """For status readings: roles as the cluster file binds them, no parameters."""
    return RunContext({}, cluster, bind_roles(cluster))
