"""Which witnesses a run sends its checkpoints to: the cluster file's `[witness]` hosts, reached
over plain ssh with host-key checking on (docs/audit-log.md, Witnesses)."""
from __future__ import annotations

from pathlib import Path

from ..audit.witness.check import WitnessKeysError, read_witness_keys
from ..audit.witness.checkpoint import origin_for
from ..audit.witness.client import SshTarget
from ..audit.witness.note import NoteError
from ..audit.witness.sender import WitnessSender
from ..cluster.model import Cluster
from .errors import SetupError


def targets_of(cluster: Cluster) -> list[SshTarget]:
    w = cluster.witness
    known = w.known_hosts or cluster.ssh.known_hosts
    out = []
    for spec in w.hosts:
        user, host, port = cluster.witness_address(spec)
        out.append(SshTarget(host, user=user, port=port, identity=Path(w.identity) if w.identity else None,
                             known_hosts=Path(known) if known else None, connect_timeout_s=min(10, w.timeout_s)))
    return out


def sender_for(cluster: Cluster | None, segment: Path, training: bool) -> WitnessSender | None:
    """None when the cluster file names no witness (or in training: the simulator's run is nobody's record)."""
    if cluster is None or training or not cluster.witness.hosts:
        return None
    try:
        origin = origin_for(cluster.cluster.name, segment.parent.name, segment.name)
        keys = read_witness_keys(Path(cluster.witness.keys)) if cluster.witness.keys else None
    except NoteError as exc:
        raise SetupError(f"the run cannot be witnessed: {exc}") from None
    except WitnessKeysError as exc:
        raise SetupError(f"[witness] keys: {exc}") from None
    return WitnessSender(targets_of(cluster), segment, origin, float(cluster.witness.timeout_s), keys)
