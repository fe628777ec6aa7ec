"""Put a run together: runbook, cluster, parameters, roles, transports, probes, lock, audit log.

The headless command and the TUI both start runs through here, so a run is built the same
way whatever drives it.
"""
from __future__ import annotations

import getpass
import hashlib
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from ..catalog import find_runbook
from ..inventory.loader import load_cluster
from ..inventory.model import Cluster
from ..probes.registry import cluster_probes
from ..runbook.context import ParamError, RunContext, bind_roles, resolve_params
from ..runbook.loader import load_runbook
from ..runbook.model import Runbook
from ..runbook.template import Secret
from ..transport.base import Transport
from .events import Subscriber
from .journal import Journal, JournalContents, JournalError, default_dir, find_unfinished, new_run_id, run_dir, secret_values, still_running
from .operator import Operator
from .runner import Runner


class SetupError(Exception):
    """The run cannot start; the message says why and what to do."""


@dataclass
class RunRequest:
    runbook: str
    cluster_path: str | None = None
    sets: dict[str, str] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False
    audit_dir: Path | None = None
    resume: bool = False
    lock_dir: str = "/var/lock"
    key: str | None = None
    """The operator's SSH key file that signs the audit log (else ssh-agent, the cluster file's, the installation key)."""


@dataclass
class Prepared:
    runner: Runner
    journal: Journal
    """The audit writer (`hamn_tui.audit.writer.AuditWriter`): a subscriber; close() it after the run."""
    runbook: Runbook
    cluster: Cluster | None
    resumed_from: JournalContents | None
    transport: Transport


def default_cluster_path() -> str | None:
    for candidate in (os.environ.get("HAMN_CLUSTER"), "/etc/hamn/cluster.toml"):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def _secret_values(rb: Runbook, given: dict[str, Any], interactive: bool) -> None:
    """Secrets come from HAMN_SECRET_<NAME> or a no-echo prompt, never from a file or the log."""
    for name, param in rb.params.items():
        if param.type != "secret" or name in given:
            continue
        env = os.environ.get(f"HAMN_SECRET_{name.upper()}")
        if env is not None:
            given[name] = Secret(env)
        elif interactive and param.required:
            given[name] = Secret(getpass.getpass(f"{param.description} ({name}): "))


def prepare(
    req: RunRequest,
    operator: Operator,
    subscribers: Iterable[Subscriber] = (),
    transport_factory: Callable[[Cluster | None], tuple[Transport, str]] | None = None,
    probes_factory: Callable[[Transport, Cluster | None, RunContext], Any] | None = None,
    training: bool = False,
    interactive: bool = False,
    runner_kwargs: dict[str, Any] | None = None,
) -> Prepared:
    """runner_kwargs: extra Runner arguments (training passes its virtual `sleep` and `clock`)."""
    path = find_runbook(req.runbook)
    if path is None:
        raise SetupError(f"no runbook {req.runbook!r}: give a file or one of the ids `hamn runbooks` lists")
    cluster_path = req.cluster_path or default_cluster_path()
    cluster = load_cluster(cluster_path) if cluster_path else None
    rb = load_runbook(path, cluster)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    if cluster is not None and cluster.cluster.database not in rb.runbook.databases:
        raise SetupError(f"runbook {rb.runbook.id} is for {', '.join(rb.runbook.databases)}; cluster {cluster.cluster.name} runs {cluster.cluster.database}")
    uses_nodes = any(s.node != "local" or any(c.node != "local" for c in (*s.require, *s.verify, *s.until)) for _, _, s in rb.all_steps())
    if uses_nodes and cluster is None:
        raise SetupError("this runbook runs on cluster nodes: give --cluster FILE (or set HAMN_CLUSTER)")

    directory = req.audit_dir or default_dir()
    previous = find_unfinished(directory, rb.runbook.id, cluster.cluster.name if cluster else None)
    if previous is not None and not req.resume:
        raise SetupError(f"an unfinished run of {rb.runbook.id} exists ({previous.path}); continue it with --resume, or look at it first")
    if previous is None and req.resume:
        raise SetupError(f"no unfinished run of {rb.runbook.id} to resume in {directory}")
    if previous is not None and previous.started.get("runbook_sha256") != sha:
        raise SetupError(f"the runbook changed since run {previous.started['run_id']} started ({path}); it cannot be resumed with another runbook")
    if previous is not None and still_running(previous):
        raise SetupError(f"run {previous.started['run_id']} is still going on in another hamn process ({previous.segments[-1]} is held); it cannot be resumed twice")

    given: dict[str, Any] = dict(req.sets)
    roles_wanted = dict(req.roles)
    if previous is not None:
        for k, v in previous.started.get("params", {}).items():
            if rb.params.get(k) is not None and rb.params[k].type != "secret":
                if k in given and str(given[k]) != str(v):
                    raise SetupError(f"parameter {k} was {v!r} when the run started; a resumed run keeps its parameters")
                given[k] = v
        roles_wanted = dict(previous.started.get("roles", {})) or roles_wanted
    _secret_values(rb, given, interactive)
    try:
        roles = bind_roles(cluster, roles_wanted) if cluster else {}
        params = resolve_params(rb, given, cluster, roles)  # nodes.* defaults follow the run's binding
    except ParamError as exc:
        raise SetupError(str(exc)) from None
    ctx = RunContext(params, cluster, roles)

    if transport_factory is not None:
        transport, tname = transport_factory(cluster)
    else:
        from ..transport.local import LocalTransport
        from ..transport.router import Router
        from ..transport.ssh import SshTransport

        transport, tname = (Router(LocalTransport(), SshTransport(cluster)), "ssh") if cluster else (LocalTransport(), "local")
    probes = probes_factory(transport, cluster, ctx) if probes_factory else cluster_probes(transport, cluster, ctx)

    run_id = previous.started["run_id"] if previous else new_run_id()
    from ..audit import segment_name
    from ..audit.keys import SigningKeyError, resolve_signer

    signing = cluster.signing if cluster is not None else None
    try:
        signer = resolve_signer(key=req.key, cluster_key=signing.key if signing else None, principal=signing.principal if signing else None,
                                training=training)
        journal = Journal(previous.next_segment if previous else run_dir(directory, rb.runbook.id, run_id) / segment_name(0),
                          signer=signer, secrets=secret_values(params.values()), previous=previous.head if previous else None)
    except (SigningKeyError, JournalError) as exc:
        raise SetupError(str(exc)) from None
    lock = holder = None
    if cluster is not None and not req.dry_run and not training:
        from datetime import datetime, timezone

        from .lock import ClusterLock, Holder

        nodes = sorted({roles[r] for r in ("primary", "standby") if r in roles})
        lock = ClusterLock(transport, nodes, cluster.cluster.name, lock_dir=req.lock_dir)
        holder = Holder(user=_whoami(), host=socket.gethostname(), run_id=run_id, since=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    runner = Runner(
        rb, ctx, transport, probes, operator, run_id=run_id, runbook_path=str(path), runbook_sha256=sha,
        operator_name=_whoami(), dry_run=req.dry_run, training=training, subscribers=[journal, *subscribers],
        state=previous.state if previous else None, lock=lock, lock_holder=holder, transport_name=tname,
        **{k: v for k, v in (runner_kwargs or {}).items() if k in ("sleep", "clock")},
    )
    return Prepared(runner, journal, rb, cluster, previous, transport)


def _whoami() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return str(os.getuid())


