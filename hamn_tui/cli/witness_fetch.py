"""`hamn audit verify … --witness HOST`: where the witnesses are and which of their logs to ask
for. HOST is `user@host[:port]` (user defaults to hamn-witness), or with `--cluster FILE` a node
name (then its [witness] user, identity and known_hosts apply, as a run's sender uses them).
Host-key checking stays on; the auditor may bring their own key and known_hosts."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..audit.canon import CanonError, parse_line
from ..audit.files import read_regular
from ..audit.verify import segments_of
from ..audit.witness.checkpoint import parse_origin
from ..audit.witness.client import SshTarget
from ..audit.witness.note import NoteError, parse_note
from ..cluster.model import Cluster

HOST = re.compile(r"\A(?:([A-Za-z0-9._][A-Za-z0-9._-]*)@)?([A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?\Z")


class WitnessHostError(ValueError):
    """A --witness HOST, or the logs' cluster, that cannot be worked out; one line."""


@dataclass
class Where:
    cluster: Cluster | None
    identity: Path | None
    known_hosts: Path | None


def target_of(spec: str, where: Where) -> SshTarget:
    """The ssh target of one `--witness` value."""
    c = where.cluster
    if c is not None and spec in c.nodes:
        user, host, port = c.witness_address(spec)
    else:
        m = HOST.match(spec)
        if not m or spec.startswith("-"):
            raise WitnessHostError(f"--witness {spec!r}: want user@host[:port]" + (" or a node of the cluster file" if c else ""))
        user, host, port = m[1] or (c.witness.user if c else "hamn-witness"), m[2].strip("[]"), int(m[3] or 22)
    if not 1 <= port <= 65535:
        raise WitnessHostError(f"--witness {spec!r}: port {port} is not 1–65535")
    identity = where.identity or (Path(c.witness.identity) if c and c.witness.identity else None)
    known = where.known_hosts or (Path(k) if c and (k := c.witness.known_hosts or c.ssh.known_hosts) else None)
    timeout = min(10, c.witness.timeout_s) if c else 10
    return SshTarget(host, user=user, port=port, identity=identity, known_hosts=known, connect_timeout_s=timeout)


def _cluster_names(path: Path) -> set[str]:
    """The clusters named by the origins of the cosignatures kept beside these logs."""
    if path.is_file():
        cosigs = [Path(f"{path}.cosig")]
    elif segments_of(path):
        cosigs = sorted(path.glob("audit-*.jsonl.cosig"))
    else:
        cosigs = sorted(path.glob("*/audit-*.jsonl.cosig"))
    names: set[str] = set()
    for f in cosigs[:10_000]:
        try:
            first = read_regular(f, 1 << 26, "a cosignature file may").partition(b"\n")[0]
            names.add(parse_origin(parse_note(parse_line(first)["note"].encode()).text.partition("\n")[0])[0])
        except (OSError, CanonError, NoteError, KeyError, TypeError, AttributeError):
            continue  # verify --witness-keys judges the file; here it only names a cluster
    return names


def prefix_of(path: Path, cluster: Cluster | None) -> str:
    """`hamn/<cluster>/` (the directory of all runs), or `hamn/<cluster>/<run>/` (one run's logs)."""
    if cluster is not None:
        name = cluster.cluster.name or "none"
    else:
        names = _cluster_names(path)
        if len(names) != 1:
            raise WitnessHostError("--witness needs the logs' cluster name: give --cluster FILE"
                                   + (f" (their cosignatures name {', '.join(sorted(names))})" if names else
                                      " (no cosignature beside them names it)"))
        name = names.pop()
    if path.is_file():
        return f"hamn/{name}/{path.parent.name}/"
    if segments_of(path):
        return f"hamn/{name}/{path.name}/"
    return f"hamn/{name}/"
