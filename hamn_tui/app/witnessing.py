"""Which witnesses a run sends its checkpoints to — the cluster file's `[witness]` hosts (by
default its management and service nodes), reached over plain ssh with host-key checking on —
and the wait of a dangerous step for a cosignature by one that is not a node it acts on
(docs/audit-log.md, Witnesses)."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, Callable, Collection

from ..audit.witness.check import WitnessKeysError, read_witness_keys
from ..audit.witness.checkpoint import origin_for
from ..audit.witness.client import SshTarget
from ..audit.witness.note import NoteError
from ..audit.witness.sender import WitnessSender, label
from ..audit.writer import AuditWriter
from ..cluster.model import Cluster
from .errors import SetupError


def targets_of(cluster: Cluster) -> list[SshTarget]:
    w = cluster.witness
    known = w.known_hosts or cluster.ssh.known_hosts
    out = []
    for spec in cluster.witness_hosts():
        user, host, port = cluster.witness_address(spec)
        out.append(SshTarget(host, user=user, port=port, identity=Path(w.identity) if w.identity else None,
                             known_hosts=Path(known) if known else None, connect_timeout_s=min(10, w.timeout_s)))
    return out


def sender_for(cluster: Cluster | None, segment: Path, training: bool) -> WitnessSender | None:
    """None when the cluster file names no witness (or in training: the simulator's run is nobody's record)."""
    if cluster is None or training or not cluster.witness_hosts():
        return None
    try:
        origin = origin_for(cluster.cluster.name, segment.parent.name, segment.name)
        keys = read_witness_keys(Path(cluster.witness.keys)) if cluster.witness.keys else None
    except NoteError as exc:
        raise SetupError(f"the run cannot be witnessed: {exc}") from None
    except WitnessKeysError as exc:
        raise SetupError(f"[witness] keys: {exc}") from None
    return WitnessSender(targets_of(cluster), segment, origin, float(cluster.witness.timeout_s), keys)


REOFFER_S = 3.0
"""While a step waits, the newest checkpoint is sent again this often (a witness that was down
is otherwise asked again only at the next checkpoint, and a waiting run makes none)."""


class RunWitnesses:
    """The engine's `Witnesses` for one run: its audit writer's checkpoints, the sender's
    cosignatures per witness, and which node each witness is on."""

    grace_s = 2.0

    def __init__(self, journal: AuditWriter, sender: WitnessSender, cluster: Cluster):
        self.journal = journal
        self.sender = sender
        self.nodes = {label(t): cluster.witness_nodes(spec) for t, spec in zip(sender.targets, cluster.witness_hosts())}
        """Witness (label) → the cluster nodes it is on (none: a host outside the cluster)."""
        self.unattended_s = float(sender.timeout_s)

    def _counting(self, exclude: Collection[str]) -> list[str]:
        return [who for who, nodes in self.nodes.items() if not nodes & set(exclude)]

    def begin(self) -> int:
        return self.journal.checkpoint_now()

    async def cosigned(self, upto: int, exclude: Collection[str]) -> str:
        counting = self._counting(exclude)
        offered = time.monotonic()
        while True:
            for who in counting:
                if self.sender.cosigned_upto(who) >= upto:
                    return who
            if time.monotonic() - offered >= REOFFER_S:
                self.sender.reoffer()
                offered = time.monotonic()
            await asyncio.sleep(0.1)

    def status(self, upto: int, exclude: Collection[str]) -> str:
        counting = self._counting(exclude)
        if not counting:
            return (f"no witness can count: every witness is on {', '.join(sorted(exclude))}, the node this step acts on "
                    f"(name another in the cluster file's [witness] hosts)")
        parts = []
        for who in counting:
            why = self.sender.why_down(who)
            parts.append(f"{who}: {why}" if why else f"{who}: asked, no cosignature of records 0–{upto - 1} yet")
        skipped = [who for who in self.nodes if who not in counting]
        return "; ".join(parts) + (f" (not counted: {', '.join(skipped)}, the node this step acts on)" if skipped else "")


def witnesses_for(journal: AuditWriter, cluster: Cluster | None) -> RunWitnesses | None:
    return RunWitnesses(journal, journal.witness, cluster) if journal.witness is not None and cluster is not None else None


class TrainingWitnesses:
    """The training cluster's witnesses, simulated: its management and service nodes, each
    cosigning at once while the console reaches it — so a trainee meets the wait (and the typed
    PROCEED UNWITNESSED) exactly when the scenario has cut them off. Nothing is signed."""

    grace_s = 1.0
    unattended_s = 0.0
    POLL_S = 0.25

    def __init__(self, training: Any, records: Callable[[], int]):
        self.training = training
        self.records = records
        """How many records the run's log has (what a cosignature would cover)."""
        cluster = training.cluster
        self.nodes = [name for name, node in cluster.nodes.items() if node.role in ("primary", "standby", "service")]

    def _answering(self, exclude: Collection[str]) -> list[str]:
        sim = self.training.sim
        return [n for n in self.nodes if n not in exclude and n in sim.nodes and sim.console_reaches(sim.nodes[n])]

    def begin(self) -> int:
        return self.records()

    async def cosigned(self, upto: int, exclude: Collection[str]) -> str:
        while True:  # real time: the simulated clock must not race ahead while the trainee reads
            answering = self._answering(exclude)
            if answering:
                return f"hamn-witness@{answering[0]} (simulated)"
            await asyncio.sleep(self.POLL_S)

    def status(self, upto: int, exclude: Collection[str]) -> str:
        sim = self.training.sim
        parts = [f"hamn-witness@{n}: " + ("the node this step acts on" if n in exclude else
                                          "does not answer (node down)" if not sim.nodes[n].up else "the console cannot reach it")
                 for n in self.nodes if n in sim.nodes]
        return "; ".join(parts) + " (simulated witnesses)"
