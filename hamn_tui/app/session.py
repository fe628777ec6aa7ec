"""A run from setup to close: runbook, cluster, parameters and secrets, roles, transport,
probes, lock, audit log and runner — built once, whatever drives the run (the headless
command or the TUI), for a real cluster, the lab or the training simulator.

    session = RunSession.open(RunRequest("failover-planned"), target, operator, [printer])
    outcome = await session.run()      # always closes the transport and the audit log

`open` blocks (it reads files, asks ssh-agent for a key, writes the log's first record): the
TUI calls it in a thread.
"""
from __future__ import annotations

import asyncio
import getpass
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..audit import segment_name
from ..audit.errors import AuditError
from ..audit.keys import SigningKeyError, resolve_signer
from ..audit.writer import AuditWriter
from ..cluster.model import Cluster
from ..engine.operator import Operator
from ..engine.runner import SCENARIO_NOTE, Runner
from ..record.events import RunOutcome, Subscriber
from ..record.redact import secret_texts
from ..runbook.context import ParamError, RunContext, bind_roles, resolve_params
from ..runbook.library import Procedure, open_procedure
from ..runbook.model import Runbook
from ..runbook.template import Secret
from ..settings import settings, os_user
from ..transport.base import Transport
from .errors import SetupError
from .runs import RunContents, RunInProgress, StartLock, find_unfinished, new_run_id, run_dir, running_run, still_running
from .targets import Target, TrainingTarget
from .approvals import desk_for
from .witnessing import sender_for, witnesses_for

ROLES = ("primary", "standby")


@dataclass
class RunRequest:
    runbook: str
    sets: dict[str, str] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False
    audit_dir: Path | None = None
    """Default: the settings' audit directory ($HAMN_AUDIT_DIR, ~/.local/state/hamn/runs)."""
    resume: bool = False
    lock_dir: str | None = None
    """Default: the settings' lock directory (/var/lock)."""
    key: str | None = None
    """The operator's SSH key file that signs the audit log (else ssh-agent, the cluster file's, the installation key)."""
    approvals: dict[str, Path] = field(default_factory=dict)
    """`--approval STEP=FILE`: a second operator's answer made elsewhere."""


class RunSession:
    def __init__(self, runner: Runner, journal: AuditWriter, runbook: Runbook, cluster: Cluster | None,
                 resumed_from: RunContents | None, transport: Transport, owns_transport: bool, secrets: list[str],
                 start_lock: StartLock | None = None):
        self.runner = runner
        self.journal = journal
        """The audit writer: a subscriber of the runner, closed with the session."""
        self.runbook = runbook
        self.cluster = cluster
        self.resumed_from = resumed_from
        self.transport = transport
        self._owns_transport = owns_transport
        self.secrets = secrets
        """What every display of this run must redact: the secret values and their quoted forms."""
        self.start_lock = start_lock
        """Held from before the search for unfinished runs until the run's first record is written."""
        self.closed = False

    # --- setting up --------------------------------------------------------------------------------
    @classmethod
    def open(cls, req: RunRequest, target: Target, operator: Operator, subscribers: Iterable[Subscriber] = (),
             interactive: bool = False, procedure: Procedure | None = None) -> RunSession:
        """`procedure`: the runbook already loaded for this target (the TUI's plan), else it is loaded here."""
        cluster = target.cluster
        procedure = procedure or open_procedure(req.runbook, cluster)
        if procedure is None:
            raise SetupError(f"no runbook {req.runbook!r}: give a file or one of the ids `hamn runbooks` lists")
        rb = procedure.runbook
        if cluster is not None and cluster.cluster.database not in rb.runbook.databases:
            raise SetupError(f"runbook {rb.runbook.id} is for {', '.join(rb.runbook.databases)}; cluster {cluster.cluster.name} runs {cluster.cluster.database}")
        uses_nodes = any(s.node != "local" or any(c.node != "local" for c in (*s.require, *s.verify, *s.until)) for _, _, s in rb.all_steps())
        if uses_nodes and cluster is None:
            raise SetupError("this runbook runs on cluster nodes: give --cluster FILE (or set HAMN_CLUSTER)")
        check_roles(cluster, req.roles)

        directory = req.audit_dir or settings().audit_dir
        cluster_name = cluster.cluster.name if cluster else None
        # taken before looking for unfinished runs, held until this run's first record is on disk
        start_lock = StartLock(directory, rb.runbook.id, cluster_name)
        try:
            if start_lock.started_meanwhile is not None:
                raise running_run(directory, rb.runbook.id, cluster_name) or start_lock.started_meanwhile
            return cls._open(req, target, operator, subscribers, interactive, procedure, directory, start_lock)
        except BaseException:
            start_lock.release()
            raise

    @classmethod
    def _open(cls, req: RunRequest, target: Target, operator: Operator, subscribers: Iterable[Subscriber], interactive: bool,
              procedure: Procedure, directory: Path, start_lock: StartLock) -> RunSession:
        cluster = target.cluster
        path, rb, sha = procedure.path, procedure.runbook, procedure.sha256
        previous = _previous_run(req, rb, path, sha, directory, cluster, target)
        given: dict[str, Any] = dict(req.sets)
        roles_wanted = dict(req.roles)
        if previous is not None:
            for k, v in previous.started.get("params", {}).items():
                if rb.params.get(k) is not None and rb.params[k].type != "secret":
                    if k in given and str(given[k]) != str(v):
                        raise SetupError(f"parameter {k} was {v!r} when the run started; a resumed run keeps its parameters")
                    given[k] = v
            roles_wanted = dict(previous.started.get("roles", {})) or roles_wanted
        _ask_secrets(rb, given, interactive)
        try:
            roles = bind_roles(cluster, roles_wanted) if cluster else {}
            params = resolve_params(rb, given, cluster, roles)  # nodes.* defaults follow the run's binding
        except ParamError as exc:
            raise SetupError(str(exc)) from None
        ctx = RunContext(params, cluster, roles)
        secrets = secret_texts(p.reveal() for p in params.values() if isinstance(p, Secret))

        transport, owned = target.transport()
        probes = target.probes(transport, ctx)
        run_id = previous.started["run_id"] if previous else new_run_id()
        signing = cluster.signing if cluster is not None else None
        try:
            signer = resolve_signer(key=req.key, cluster_key=signing.key if signing else None, principal=signing.principal if signing else None,
                                    training=target.training)
            segment = previous.next_segment if previous else run_dir(directory, rb.runbook.id, run_id) / segment_name(0)
            journal = AuditWriter(segment, signer=signer, secrets=secrets, previous=previous.head if previous else None, group_commit=True,
                                  witness=sender_for(cluster, segment, target.training))
        except (SigningKeyError, AuditError) as exc:
            raise SetupError(str(exc)) from None
        lock = holder = None
        if cluster is not None and not req.dry_run and not target.training:
            from datetime import datetime, timezone

            from ..engine.lock import ClusterLock, Holder

            nodes = sorted({roles[r] for r in ("primary", "standby") if r in roles})
            lock = ClusterLock(transport, nodes, cluster.cluster.name, lock_dir=req.lock_dir or settings().lock_dir)
            holder = Holder(user=os_user(), host=socket.gethostname(), run_id=run_id, since=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        from ..audit.approval.request import LogHead, requester_for

        def head() -> LogHead:
            return LogHead(run_id, journal.path.name, journal.head)

        if isinstance(target, TrainingTarget):
            guards = target.guards(lambda: journal.seq)
        else:
            guards = {"witnesses": witnesses_for(journal, cluster),
                      "second_operator": desk_for(cluster, lambda: requester_for(signer), head, journal.path.parent, req.approvals)}
        runner = Runner(
            rb, ctx, transport, probes, operator, run_id=run_id, runbook_path=str(path), runbook_sha256=sha,
            operator_name=os_user(), dry_run=req.dry_run, training=target.training,
            subscribers=[journal, start_lock, *target.subscribers(), *subscribers],
            state=previous.state if previous else None, lock=lock, lock_holder=holder, transport_name=target.transport_name,
            scenario=target.scenario_name, **guards, **target.runner_options(),
        )
        return cls(runner, journal, rb, cluster, previous, transport, owned, secrets, start_lock)

    # --- what the caller shows -----------------------------------------------------------------------
    @property
    def ctx(self) -> RunContext:
        return self.runner.ctx

    @property
    def log_dir(self) -> Path:
        return Path(self.journal.path).parent

    def witnessing(self) -> str:
        """"unwitnessed: N records, T s" (after the last cosigned checkpoint), "fully witnessed",
        or "" when the cluster file names no witness."""
        w = self.journal.witness
        return w.status(self.journal.seq).line() if w is not None else ""

    def rollback_plan(self) -> list[tuple[str, str]]:
        """What a rollback now would undo: (step, command as shown), newest first."""
        return self.runner.rollback_plan()

    # --- the run's life --------------------------------------------------------------------------------
    async def run(self) -> RunOutcome:
        """Drive the runbook to its end; the transport and the audit log are closed whatever happens."""
        try:
            return await self.runner.run()
        finally:
            await self.close()

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.start_lock is not None:
            self.start_lock.release()  # a run closed before its first record
        try:
            if self._owns_transport:
                await self.transport.close()
        finally:
            self.journal.close()  # offers the last checkpoint, closing record included
            w = self.journal.witness
            if w is not None:  # bounded: a witness that does not answer never holds the console
                await asyncio.to_thread(w.drain, w.timeout_s * (2 * len(w.targets) + 1))

    async def __aenter__(self) -> RunSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def check_roles(cluster: Cluster | None, roles: Mapping[str, str]) -> None:
    """A role given for a run names primary or standby, and a management node of the cluster:
    binding the primary to a service node would send takeover commands to the wrong machine."""
    for role, node in roles.items():
        if role not in ROLES:
            raise SetupError(f"--role {role}: no role {role!r}; roles: {', '.join(ROLES)}")
        if cluster is None:
            continue
        managers = [n for n, spec in cluster.nodes.items() if spec.role in ROLES]
        if node not in managers:
            raise SetupError(f"--role {role}={node}: {node} is not a management node of cluster {cluster.cluster.name}; "
                             f"management nodes: {', '.join(managers)}")


def _recorded_scenario(previous: RunContents) -> str | None:
    """The training scenario the run's log names (its first such note), if any."""
    for rec in previous.records:
        text = rec.get("data", {}).get("text", "") if rec.get("type") == "note" else ""
        if isinstance(text, str) and text.startswith(SCENARIO_NOTE):
            return text.removeprefix(SCENARIO_NOTE)
    return None


def _previous_run(req: RunRequest, rb: Runbook, path: Path, sha: str, directory: Path, cluster: Cluster | None,
                  target: Target) -> RunContents | None:
    """The unfinished run this one continues (--resume), after checking it may be continued;
    RunInProgress if another process runs this runbook on this cluster now."""
    name = cluster.cluster.name if cluster else None
    running = running_run(directory, rb.runbook.id, name)
    if running is not None:
        raise running
    previous = find_unfinished(directory, rb.runbook.id, name)
    if previous is not None and not req.resume:
        raise SetupError(f"an unfinished run of {rb.runbook.id} exists ({previous.path}); continue it with --resume, or look at it first")
    if previous is None and req.resume:
        raise SetupError(f"no unfinished run of {rb.runbook.id} to resume in {directory}")
    if previous is not None and previous.started.get("runbook_sha256") != sha:
        raise SetupError(f"the runbook changed since run {previous.started['run_id']} started ({path}); it cannot be resumed with another runbook")
    if previous is not None and still_running(previous):
        raise RunInProgress(f"run {previous.started['run_id']} is still going on in another hamn process ({previous.segments[-1]} is held); it cannot be resumed twice")
    if previous is not None:
        run_id = previous.started.get("run_id")
        if bool(previous.started.get("training")) != target.training:
            raise SetupError(f"run {run_id} was a training run: resume it with --training SCENARIO" if previous.started.get("training")
                             else f"run {run_id} ran on the real cluster: it cannot be resumed in training")
        rehearsed = _recorded_scenario(previous)
        if rehearsed is not None and target.scenario_name is not None and rehearsed != target.scenario_name:
            raise SetupError(f"run {run_id} rehearsed scenario {rehearsed!r}; it resumes only with --training {rehearsed}, "
                             f"not {target.scenario_name}")
    return previous


def _ask_secrets(rb: Runbook, given: dict[str, Any], interactive: bool) -> None:
    """Secrets come from HAMN_SECRET_<NAME> or a no-echo prompt, never from a file or the log."""
    for name, param in rb.params.items():
        if param.type != "secret" or name in given:
            continue
        env = settings().secret(name)
        if env is not None:
            given[name] = Secret(env)
        elif interactive and param.required:
            given[name] = Secret(getpass.getpass(f"{param.description} ({name}): "))
