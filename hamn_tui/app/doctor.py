"""`hamn doctor`: is this console ready before the outage? Each check answers ok, failed (with
what to do) or unknown (it could not tell — a node did not answer — which is never passed off
as a failure with a wrong reason, nor as ok).

What is checked comes from the cluster file and the runbooks that apply to its database: the
nodes the runbooks reach, the users their steps run as, the commands they call. Nodes are
examined concurrently over the one SSH transport (`ClusterTarget.transport()`), so a dead node
costs the connect timeout, not the others' time.
"""
from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Mapping

from ..audit.keys import SigningKeyError, agent_keys, load_key_file, resolve_signer
from ..cluster.model import Cluster
from ..inputs.problems import InputError, Problem
from ..probes.host import host_probes, run_collect
from ..runbook.context import RunContext, bind_roles
from ..runbook.library import shipped_runbooks
from ..runbook.loader import load_runbook
from ..runbook.model import Check, Runbook
from ..runbook.template import TemplateError
from ..settings import settings
from ..transport.base import Transport, TransportError
from ..transport.ssh import known_host_listed
from .targets import ClusterTarget

CLOCK_SKEW_MAX_S = 5.0
"""A node's clock may differ from this console's by at most this much: audit records, DB2's
peer window and HADR timestamps are compared across machines."""
AUDIT_MIN_FREE_BYTES = 100 * 1024 * 1024
"""Room a failover's audit log and its stored outputs need, with margin."""
COMMAND_TIMEOUT_S = 20.0
"""For each small command the doctor runs on a node (connecting has the cluster file's own timeout)."""

Verdict = Literal["ok", "failed", "unknown"]
DB2_TOOLS = ("db2", "db2pd")
"""How the DB2 runbooks and probes call DB2: by name, on the instance owner's PATH (its profile
sources sqllib/db2profile)."""
PG_TOOLS = ("psql", "pg_ctl")
"""Always expected in [pg].bin_dir; any other `{{ cluster.pg.bin_dir }}/X` the runbooks call is added."""
_PG_BIN = re.compile(r"\{\{\s*cluster\.pg\.bin_dir\s*\}\}/([A-Za-z0-9_.-]+)")
_MARK = "hamn-doctor:"


@dataclass(frozen=True)
class Finding:
    """One node's (or this console's) answer to a check; the detail names the node."""

    subject: str
    verdict: Verdict
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class CheckResult:
    id: str
    title: str
    verdict: Verdict
    detail: str
    """One line: what was found."""
    fix: str = ""
    """One line: what to do (empty when ok)."""
    findings: tuple[Finding, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "verdict": self.verdict, "detail": self.detail, "fix": self.fix,
                "findings": [{"subject": f.subject, "verdict": f.verdict, "detail": f.detail, "fix": f.fix} for f in self.findings]}


def merged(findings: Iterable[Finding]) -> str:
    """What several nodes said, each thing once: "mn1, mn2: not checked: no SSH login"."""
    said: dict[str, list[str]] = {}
    for f in findings:
        prefix = f"{f.subject}: "
        said.setdefault(f.detail.removeprefix(prefix), []).append(f.subject if f.detail.startswith(prefix) else "")
    return "; ".join(f"{', '.join(s for s in subjects if s)}: {rest}" if any(subjects) else rest for rest, subjects in said.items())


def combine(check_id: str, title: str, findings: Iterable[Finding], ok_suffix: str = "") -> CheckResult:
    """Failed if any finding failed, else unknown if any is unknown, else ok; the problems lead."""
    found = tuple(findings)
    bad = [f for f in found if f.verdict == "failed"] + [f for f in found if f.verdict == "unknown"]
    if not bad:
        return CheckResult(check_id, title, "ok", merged(found) + ok_suffix, "", found)
    fixes = "; ".join(dict.fromkeys(f.fix for f in bad if f.fix))
    return CheckResult(check_id, title, bad[0].verdict, merged(bad), fixes, found)


@dataclass(frozen=True)
class Report:
    cluster_path: str
    checks: tuple[CheckResult, ...]

    @property
    def problems(self) -> list[CheckResult]:
        return [c for c in self.checks if c.verdict != "ok"]

    @property
    def ready(self) -> bool:
        """Ready only when every check passed: an unknown is not ready."""
        return not self.problems

    def line(self) -> str:
        """The home screen's one line."""
        if self.ready:
            return f"ready · {len(self.checks)} checks"
        # a failure (something to fix) before an unknown (a node that did not answer), in check order
        first = min(self.problems, key=lambda c: c.verdict != "failed")
        more = f" (+{len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        return f"not ready: {first.title}: {first.detail}{more} — run hamn doctor"

    def to_json(self) -> dict[str, Any]:
        return {"cluster": self.cluster_path, "ready": self.ready, "problems": len(self.problems),
                "checks": [c.to_json() for c in self.checks]}


# --- who runs what where, from the runbooks ---------------------------------------------------------
@dataclass
class Plan:
    """What the runbooks for this cluster need from its nodes."""

    nodes: list[str]
    """Every node the runbooks reach (the primary and standby always)."""
    pair: list[str]
    """The management nodes: the run lock and the database commands live there."""
    users: dict[str, dict[str, str]] = field(default_factory=dict)
    """node → user the runbooks run as there → where the name comes from (`cluster.pg.os_user`, a runbook)."""
    tools: dict[str, list[str]] = field(default_factory=dict)
    """User → the database commands the runbooks and probes run as that user."""


def _origin(text: str) -> str:
    m = re.fullmatch(r"\{\{\s*(\S+)\s*\}\}", text.strip())
    return m.group(1) if m else "the runbooks"


def plan_for(cluster: Cluster, runbooks: Iterable[Runbook]) -> Plan:
    """The nodes and users the runbooks' commands and checks use. Roles swap after a failover, so a
    user a step needs on "primary" is needed on both management nodes."""
    roles = bind_roles(cluster)
    pair = [roles[r] for r in ("primary", "standby") if r in roles]
    ctx = RunContext({}, cluster, roles)
    users: dict[str, dict[str, str]] = {n: {} for n in pair}
    books = list(runbooks)

    def reach(ref: str | None) -> list[str]:
        if not ref or ref == "local":
            return []
        if ref.startswith("@"):
            return [n for n in cluster.groups.get(ref[1:], []) if n in cluster.nodes]
        if ref in ("primary", "standby"):
            return pair
        return [ref] if ref in cluster.nodes else []

    def need(ref: str | None, user: str | None) -> None:
        for name in reach(ref):
            wanted = users.setdefault(name, {})
            login = cluster.nodes[name].ssh_user
            if not user:
                wanted.setdefault(login, "the login user")
                continue
            try:
                resolved = ctx.prose(user, name)
            except TemplateError:
                continue  # set by a run's parameter: known only at run time
            wanted.setdefault(resolved, _origin(user))

    def checks(items: Iterable[Check]) -> None:
        for c in items:
            need(c.node, c.user)

    for rb in books:
        for _, _, step in rb.all_steps():
            if step.kind == "command":
                need(step.node, step.user)
            if step.rollback is not None:
                need(step.rollback.node or step.node, step.rollback.user or step.user)
            checks(step.require)
            checks(step.verify)
            checks(step.until)
    tools: dict[str, list[str]] = {}
    if cluster.cluster.database == "db2" and cluster.db2 is not None:
        tools[cluster.db2.instance] = list(DB2_TOOLS)
    elif cluster.pg is not None:
        called = {m.group(1) for rb in books for _, _, s in rb.all_steps() for text in s.commands() for m in _PG_BIN.finditer(text)}
        bin_dir = cluster.pg.bin_dir.rstrip("/")
        tools[cluster.pg.os_user] = [f"{bin_dir}/{t}" for t in (*PG_TOOLS, *sorted(called - set(PG_TOOLS)))]
    nodes = list(dict.fromkeys([*pair, *sorted(n for n in users if n not in pair)]))
    return Plan(nodes, pair, {n: users.get(n, {}) for n in nodes}, tools)


# --- the cluster file with the runbooks -----------------------------------------------------------------
def check_runbooks(cluster: Cluster, cluster_path: str) -> tuple[CheckResult, list[Runbook]]:
    """What `hamn validate --cluster FILE` says of the runbooks for this cluster's database."""
    title = "cluster file and runbooks"
    kind = cluster.cluster.database
    good, bad = shipped_runbooks()
    problems: list[Problem] = [p for exc in bad for p in exc.problems]
    books: list[Runbook] = []
    for path, rb in good:
        if kind not in rb.runbook.databases:
            continue
        try:
            books.append(load_runbook(path, cluster))
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return CheckResult("cluster", title, "failed", f"{problems[0]}{more}",
                           f"fix the line named (see all: hamn validate --cluster {cluster_path} {problems[0].file})"), books
    if not books:
        dirs = ", ".join(str(d) for d in settings().runbook_dirs) or "none"
        return CheckResult("cluster", title, "failed", f"no runbook for database {kind} in the runbook directories ({dirs})",
                           "install hamn's runbooks, or point HAMN_RUNBOOKS at them"), books
    return CheckResult("cluster", title, "ok", f'cluster "{cluster.cluster.name}" ({kind}), {len(cluster.nodes)} nodes; '
                                                f"{len(books)} runbooks for {kind} validate against it"), books


# --- this console -----------------------------------------------------------------------------------------
def check_signing(cluster: Cluster, key: str | None = None) -> CheckResult:
    """The operator key that signs a log's opening and closing records (audit/keys.py's order),
    without falling back to the installation key: that one proves only "someone root here"."""
    title = "signing key"
    fix_none = ("set [signing].key in the cluster file to your private key (Ed25519), or start ssh-agent and "
                "ssh-add your key, or pass --key FILE")
    try:
        if key:
            signer = resolve_signer(key=key, principal=cluster.signing.principal)
            return CheckResult("signing", title, "ok", f"--key {key} ({signer.source}, {signer.fingerprint})")
        held = agent_keys()
        if held:
            return CheckResult("signing", title, "ok", f"ssh-agent holds {len(held)} usable key(s)")
        if cluster.signing.key:
            signer = load_key_file(cluster.signing.key, "operator", "")
            return CheckResult("signing", title, "ok", f"[signing].key {cluster.signing.key} ({signer.fingerprint})")
    except SigningKeyError as exc:
        return CheckResult("signing", title, "failed", str(exc), fix_none)
    agent = "ssh-agent has no Ed25519 or RSA key" if settings().ssh_agent else "no ssh-agent (SSH_AUTH_SOCK unset)"
    return CheckResult("signing", title, "failed", f"no signing key: {agent} and the cluster file has no [signing].key; "
                                                   "logs would be signed only by this machine's installation key", fix_none)


def check_audit_dir(path: Path, min_free: int = AUDIT_MIN_FREE_BYTES) -> CheckResult:
    """The audit directory exists (or can be made), takes a new file, and has room."""
    title = "audit directory"
    elsewhere = "or choose another directory with --audit-dir or HAMN_AUDIT_DIR"
    path = path.expanduser()
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        what = f"{path} is not a directory" if existing == path else f"{path} cannot be made: {existing} is not a directory"
        return CheckResult("audit_dir", title, "failed", what, f"move {existing} away, {elsewhere}")
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".hamn-doctor-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        what = f"{path} is not writable" if existing == path else f"{path} cannot be made in {existing}"
        return CheckResult("audit_dir", title, "failed", f"{what}: {exc.strerror}",
                           f"make {existing} writable for the user who runs hamn, {elsewhere}")
    free = shutil.disk_usage(existing).free
    if free < min_free:
        return CheckResult("audit_dir", title, "failed", f"{path}: {free // 2**20} MiB free, fewer than {min_free // 2**20} MiB",
                           f"free space on {existing}'s file system, {elsewhere}")
    where = f"{path}: writable" if existing == path else f"{path}: not there yet, can be made in {existing}"
    return CheckResult("audit_dir", title, "ok", f"{where}, {free // 2**20} MiB free")


# --- the nodes --------------------------------------------------------------------------------------------
def judge_clock(node: str, skew_s: float | None, error: str | None = None, limit_s: float = CLOCK_SKEW_MAX_S) -> Finding:
    """A node's clock against this console's: unknown when it could not be read."""
    if skew_s is None:
        return Finding(node, "unknown", f"{node}: clock not read: {error or 'no reading'}",
                       "make the node answer over SSH, then run hamn doctor again")
    if abs(skew_s) > limit_s:
        side = "ahead of" if skew_s > 0 else "behind"
        return Finding(node, "failed", f"{node}: {abs(skew_s):.1f} s {side} this console (at most {limit_s:g} s)",
                       "synchronise the nodes' and this console's clocks (chrony or ntpd)")
    return Finding(node, "ok", f"{node}: {skew_s:+.1f} s")


@dataclass
class _Login:
    """How the login to one node went: `reason` empty when it worked (TransportError's reasons,
    or "shell": logged in, but the shell failed; "unknown": the command's end was not seen)."""

    connected: bool = False
    reason: str = ""
    message: str = ""


class _Nodes:
    """The per-node checks over one transport."""

    def __init__(self, cluster: Cluster, transport: Transport, plan: Plan, lock_dir: str, clock: Callable[[], float]):
        self.cluster = cluster
        self.transport = transport
        self.plan = plan
        self.lock_dir = lock_dir
        self.clock = clock
        self.known_hosts = os.path.expanduser(cluster.ssh.known_hosts or "~/.ssh/known_hosts")
        identity = cluster.ssh.identity
        self.identity_missing = bool(identity) and not os.path.isfile(os.path.expanduser(identity or ""))

    async def _run(self, node: str, command: str, user: str | None = None) -> tuple[Any, str, str]:
        """(result, stdout, stderr); result None when the command could not be sent (stderr says why)."""
        try:
            return await run_collect(self.transport, node, command, user, timeout_s=COMMAND_TIMEOUT_S)
        except TransportError as exc:  # the connection went away since the login
            return None, "", str(exc)
        except ValueError as exc:  # a user name that would be an option
            return None, "", str(exc)

    def _listed(self, node: str) -> tuple[bool | None, str]:
        """Whether known_hosts has a key for the node's address and port (None: the file is unusable)."""
        n = self.cluster.nodes[node]
        if not os.path.isfile(self.known_hosts):
            return None, f"known_hosts file {self.known_hosts} does not exist"
        try:
            return known_host_listed(self.known_hosts, n), ""
        except Exception as exc:  # a malformed file: say so, do not crash
            return None, f"known_hosts file {self.known_hosts} cannot be read: {exc}"

    async def examine(self, node: str) -> dict[str, Finding]:
        n = self.cluster.nodes[node]
        where = f"{n.address}:{n.port}"
        out: dict[str, Finding] = {}
        listed, unusable = self._listed(node)
        login = _Login()
        if self.identity_missing:
            login.reason = "auth"
            login.message = f"{node}: identity file {self.cluster.ssh.identity} ([ssh].identity) does not exist"
        elif listed is not None:
            try:
                result, _, err = await run_collect(self.transport, node, "true", timeout_s=COMMAND_TIMEOUT_S)
                login.connected = True  # a result at all: the host key was verified and the login accepted
                if not result.ok:
                    login.reason = "unknown" if result.unknown else "shell"
                    login.message = (f"{node}: `true` after login ended {result.ending}"
                                     f"{f' {result.exit_status}' if result.exit_status is not None else ''}: "
                                     f"{result.error or err.strip()[-200:] or 'no message'}")
            except TransportError as exc:
                login.reason, login.message = exc.reason, str(exc)
        out["host_keys"] = self._host_key(node, where, listed, unusable, login)
        out["ssh_login"] = self._login(node, login)
        checks = ["run_as", "clock"] + (["lock_dir", "binaries"] if node in self.plan.pair else [])
        if out["ssh_login"].verdict != "ok":
            for cid in checks:
                out[cid] = Finding(node, "unknown", f"{node}: not checked: no SSH login", "fix the SSH login first")
            return out
        found = await asyncio.gather(self._run_as(node), self._clock(node),
                                     *([self._lock_dir(node), self._binaries(node)] if node in self.plan.pair else []))
        out.update(zip(checks, found))
        return out

    async def examine_safely(self, node: str) -> dict[str, Finding]:
        """A bug in a check makes that node's checks unknown, never a traceback or a pass."""
        try:
            return await self.examine(node)
        except Exception as exc:
            ids = [cid for cid, _ in NODE_CHECKS if node in self.plan.pair or cid not in ("lock_dir", "binaries")]
            why = f"{node}: not checked: the doctor failed ({type(exc).__name__}: {exc})"
            return {cid: Finding(node, "unknown", why, "run hamn doctor again; report it if it stays") for cid in ids}

    def _host_key(self, node: str, where: str, listed: bool | None, unusable: str, login: _Login) -> Finding:
        kh = self.known_hosts
        spec = self.cluster.nodes[node]
        entry = spec.address if spec.port == 22 else f"[{spec.address}]:{spec.port}"
        fix_add = (f"check each node's key fingerprint on its own console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), "
                   f"then add it to {kh}")
        if listed is None:
            return Finding(node, "failed", unusable, fix_add)
        if not listed:
            return Finding(node, "failed", f"{node}: {kh} has no key for {entry}", fix_add)
        if login.reason == "host_key":
            presented = re.search(r"It presented (\S+ \S+)\.", login.message)
            seen = f" (it presented {presented.group(1)})" if presented else ""
            return Finding(node, "failed", f"{node}: the host key at {where} does not match the one in {kh}{seen}",
                           "only if the node was reinstalled (check its fingerprint on its console): "
                           f"ssh-keygen -R {shlex.quote(entry)} -f {shlex.quote(kh)}, then add its new key")
        if login.connected or (login.reason == "auth" and not self.identity_missing):
            return Finding(node, "ok", f"{node}: match {kh}")  # key exchange, where the key is checked, comes before the login
        return Finding(node, "unknown", f"{node}: listed in {kh}, but the key it presents was not seen (no answer)",
                       "make the node answer over SSH, then run hamn doctor again")

    def _login(self, node: str, login: _Login) -> Finding:
        user = self.cluster.nodes[node].ssh_user
        if login.connected and not login.reason:
            return Finding(node, "ok", f"{node}: as {user}")
        if login.reason == "host_key" or not (login.connected or login.reason):
            return Finding(node, "unknown", f"{node}: login not tried: the host key is not verified", "fix the host key first")
        if login.reason == "auth":
            return Finding(node, "failed", login.message,
                           f"put this console's public key in ~{user}/.ssh/authorized_keys on the node, or set [ssh].identity "
                           "in the cluster file, or load the key into ssh-agent")
        if login.reason == "shell":
            return Finding(node, "failed", login.message, f"check {user}'s login shell and profile on the node")
        return Finding(node, "unknown", login.message, "check that the node is up and its sshd listens where the cluster file says, "
                                                       "then run hamn doctor again")

    async def _run_as(self, node: str) -> Finding:
        spec = self.cluster.nodes[node]
        wanted = {u: src for u, src in self.plan.users.get(node, {}).items() if u != spec.ssh_user}
        if not wanted:
            return Finding(node, "ok", f"{node}: only {spec.ssh_user}")
        bad: list[Finding] = []
        for user, source in wanted.items():
            result, out, err = await self._run(node, f"printf '{_MARK}%s\\n' \"$(id -un)\"", user)
            got = [line[len(_MARK):] for line in out.splitlines() if line.startswith(_MARK)]
            if got and got[-1] == user:
                continue
            if result is not None and result.unknown:
                bad.append(Finding(node, "unknown", f"{node}: switching to {user} did not finish ({result.ending})",
                                   "run hamn doctor again"))
                continue
            why = (err.strip().splitlines() or [f"it ran as {got[-1]}" if got else f"exit {getattr(result, 'exit_status', '?')}"])[-1]
            where = f"correct {source} in the cluster file" if source.startswith("cluster.") else "correct the runbook"
            bad.append(Finding(node, "failed", f"{node}: cannot switch from {spec.ssh_user} to {user} ({source}) with {spec.run_as}: {why}",
                               f"create the user on the node, or {where}; or change the node's run_as"))
        if bad:
            verdict: Verdict = "failed" if any(b.verdict == "failed" for b in bad) else "unknown"
            return Finding(node, verdict, "; ".join(b.detail for b in bad), "; ".join(dict.fromkeys(b.fix for b in bad)))
        return Finding(node, "ok", f"{node}: {', '.join(wanted)}")

    async def _clock(self, node: str) -> Finding:
        reading = await host_probes(self.transport, self.cluster, clock=self.clock).read(node, "host.clock", {})
        skew = reading.fields.get("skew_s")
        return judge_clock(node, float(skew) if skew is not None else None, reading.error)

    async def _lock_dir(self, node: str) -> Finding:
        d = self.lock_dir.rstrip("/") or "/"
        script = (f"d={shlex.quote(d)}\n"
                  f'if [ ! -e "$d" ]; then echo {_MARK}missing; elif [ ! -d "$d" ]; then echo {_MARK}notdir; '
                  f'elif [ -w "$d" ] && [ -x "$d" ]; then echo {_MARK}ok; else echo {_MARK}readonly; fi')
        result, out, err = await self._run(node, script)
        state = next((line[len(_MARK):] for line in out.splitlines() if line.startswith(_MARK)), None)
        user = self.cluster.nodes[node].ssh_user
        fix = f"mkdir -p {shlex.quote(d)} on the node (writable by {user}), or run with --lock-dir DIR"
        if state == "ok":
            return Finding(node, "ok", f"{node}: {d}")
        if state == "missing":
            return Finding(node, "failed", f"{node}: the lock directory {d} does not exist", fix)
        if state == "notdir":
            return Finding(node, "failed", f"{node}: the lock directory {d} is not a directory", fix)
        if state == "readonly":
            return Finding(node, "failed", f"{node}: {user} cannot create the lock in {d}", fix)
        why = f"{result.ending}: {result.error or err.strip()[-200:]}" if result is not None else err
        return Finding(node, "unknown", f"{node}: lock directory not read ({why})", "run hamn doctor again")

    async def _binaries(self, node: str) -> Finding:
        found: list[str] = []
        for user, tools in self.plan.tools.items():
            lines = []
            for i, tool in enumerate(tools):
                test = f"test -x {shlex.quote(tool)}" if "/" in tool else f"command -v {shlex.quote(tool)} >/dev/null 2>&1"
                lines.append(f"if {test}; then echo {_MARK}{i}:ok; else echo {_MARK}{i}:missing; fi")
            result, out, err = await self._run(node, "\n".join(lines), user)
            states = dict(line[len(_MARK):].split(":", 1) for line in out.splitlines() if line.startswith(_MARK) and ":" in line[len(_MARK):])
            if len(states) < len(tools):
                why = (err.strip().splitlines() or [getattr(result, "error", None) or "no answer"])[-1]
                what = ", ".join(tools) if len(tools) <= 2 else f"the {len(tools)} commands the runbooks call"
                return Finding(node, "unknown", f"{node}: could not look for {what} as {user}: {why}",
                               f"make the switch to {user} work (see runbook users), then run hamn doctor again")
            missing = [t for i, t in enumerate(tools) if states.get(str(i)) != "ok"]
            if missing:
                how = "not executable" if "/" in missing[0] else f"not on {user}'s PATH (login environment)"
                fix = (f"install PostgreSQL there, or set [pg].bin_dir in the cluster file" if "/" in missing[0]
                       else f"install DB2 on the node, or source sqllib/db2profile from {user}'s login profile")
                return Finding(node, "failed", f"{node}: {', '.join(missing)} {how}", fix)
            names = [os.path.basename(t) for t in tools]
            found.append(f"{', '.join(names[:3])}{f' and {len(names) - 3} more' if len(names) > 3 else ''} as {user}")
        return Finding(node, "ok", f"{node}: {'; '.join(found) or 'none needed'}")


NODE_CHECKS = (("host_keys", "SSH host keys known"), ("ssh_login", "SSH login"), ("run_as", "runbook users"),
               ("binaries", "database commands"), ("lock_dir", "lock directory"), ("clock", "clocks agree"))


async def diagnose(target: ClusterTarget, *, audit_dir: Path | None = None, lock_dir: str | None = None, key: str | None = None,
                   clock: Callable[[], float] = time.time, min_free: int = AUDIT_MIN_FREE_BYTES) -> Report:
    """Every check on a real cluster; nodes concurrently. `clock` is this console's (compared with the nodes')."""
    cluster = target.cluster
    if cluster is None or target.cluster_path is None:
        raise ValueError("the doctor checks a cluster file's cluster")
    config = settings()
    audit = audit_dir or config.audit_dir
    locks = lock_dir or config.lock_dir
    runbooks_result, books = await asyncio.to_thread(check_runbooks, cluster, target.cluster_path)
    plan = plan_for(cluster, books)
    from .doctor_guards import check_approvers, check_witnesses

    transport, owned = target.transport()
    try:
        nodes = _Nodes(cluster, transport, plan, locks, clock)
        per_node, signing, audit_result, approvers, witnesses = await asyncio.gather(
            asyncio.gather(*(nodes.examine_safely(n) for n in plan.nodes)),
            asyncio.to_thread(check_signing, cluster, key),
            asyncio.to_thread(check_audit_dir, Path(audit), min_free),
            asyncio.to_thread(check_approvers, cluster, books),
            check_witnesses(cluster))
    finally:
        if owned:
            await transport.close()
    by_node: Mapping[str, dict[str, Finding]] = dict(zip(plan.nodes, per_node))
    checks = [runbooks_result]
    for cid, title in NODE_CHECKS:
        findings = [f[cid] for f in by_node.values() if cid in f]
        checks.append(combine(cid, title, findings, f" (at most {CLOCK_SKEW_MAX_S:g} s from this console)" if cid == "clock" else ""))
    checks += [signing, audit_result]
    checks += [c for c in (approvers, witnesses) if c is not None]  # only where a runbook or the cluster file asks for them
    return Report(target.cluster_path, tuple(checks))
