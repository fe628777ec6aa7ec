"""Load a cluster file, or raise InputError with every located problem."""
from __future__ import annotations

import re
from pathlib import Path

from pydantic import ValidationError

from ..inputs.hosts import host_problem, interface_problem, ip_problem
from ..inputs.problems import InputError, Problems, did_you_mean
from ..inputs.schema_errors import add_validation_errors
from ..inputs.toml_file import TomlDocument, read_toml
from .model import Cluster


def check_cluster(c: Cluster, problems: Problems) -> None:
    for role in ("primary", "standby"):
        holders = [n for n, node in c.nodes.items() if node.role == role]
        if len(holders) != 1:
            problems.add(("nodes",), f'exactly one node must have role = "{role}" (found {len(holders)}: {", ".join(holders) or "none"})')
    kind = c.cluster.database
    if getattr(c, kind) is None:
        problems.add(("cluster", "database"), f'database = "{kind}" needs a [{kind}] table')
    for group, members in c.groups.items():
        for n, member in enumerate(members):
            if member not in c.nodes:
                problems.add(("groups", group, n), f'unknown node "{member}"{did_you_mean(member, c.nodes)}')
    _check_addresses(c, problems)
    if c.db2 is not None and c.db2.syncmode in ("ASYNC", "SUPERASYNC") and c.db2.peer_window_s:
        problems.add(("db2", "peer_window_s"), f"a peer window applies only to SYNC and NEARSYNC, not {c.db2.syncmode}")


def _check_addresses(c: Cluster, problems: Problems) -> None:
    """Every address, host name and interface has the shape of one: the shipped runbooks hand them
    to ssh, rsync, ip and ifconfig, where `-oProxyCommand=…` would be an option, not a host."""
    checks: list[tuple[tuple[str, ...], str | None]] = []
    for name, node in c.nodes.items():
        checks.append((("nodes", name, "address"), host_problem(node.address)))
        checks.append((("nodes", name, "hostname"), host_problem(node.hostname)))
        if node.interface:  # empty: not given
            checks.append((("nodes", name, "interface"), interface_problem(node.interface)))
    if c.service_ip is not None:
        checks.append((("service_ip", "address"), ip_problem(c.service_ip.address)))
        checks.append((("service_ip", "interface"), interface_problem(c.service_ip.interface)))
    if c.alerts is not None:
        checks.append((("alerts", "smtp_host"), host_problem(c.alerts.smtp_host)))
    for n, spec in enumerate(c.witness.hosts):
        checks.append((("witness", "hosts", n), _witness_host_problem(c, spec)))
    if c.witness.user and not _USER.fullmatch(c.witness.user):
        checks.append((("witness", "user"), f"{c.witness.user!r} is not a user name"))
    for path, problem in checks:
        if problem:
            problems.add(path, problem)


_USER = re.compile(r"[a-z_][a-z0-9_.-]{0,31}")


def _witness_host_problem(c: Cluster, spec: str) -> str | None:
    """A witness is a node of the cluster or "user@host[:port]" — never something ssh would read as an option."""
    if spec in c.nodes:
        return None
    if "@" not in spec:
        return f'{spec!r} is neither a node of this cluster nor "user@host[:port]"{did_you_mean(spec, c.nodes)}'
    user, host, port = c.witness_address(spec)
    if not _USER.fullmatch(user):
        return f"{spec!r}: {user!r} is not a user name"
    if not 1 <= port <= 65535:
        return f"{spec!r}: the port is not a number from 1 to 65535"
    return host_problem(host)


SERVICE_NODES = "service_nodes"
"""The group the runbooks fan out to for the service nodes (`node = "@service_nodes"`)."""


def cluster_from_document(doc: TomlDocument) -> Cluster:
    problems = Problems(doc.path, doc.locate)
    try:
        cluster = Cluster.model_validate(doc.data)
    except ValidationError as exc:
        add_validation_errors(problems, exc, Cluster)
        raise InputError(problems.sorted()) from None
    check_cluster(cluster, problems)
    if problems:
        raise InputError(problems.sorted())
    _anchor_paths(cluster, Path(doc.path).parent)
    if SERVICE_NODES not in cluster.groups:
        # every hierarchical xCAT cluster has service nodes: a file that does not list the group
        # means the nodes of role "service" (none: an empty group, whose steps are skipped, saying so)
        cluster.groups[SERVICE_NODES] = [name for name, node in cluster.nodes.items() if node.role == "service"]
    return cluster


def _anchor_paths(c: Cluster, base: Path) -> None:
    """Relative key and known_hosts paths mean "beside the cluster file", wherever hamn is started
    from (at 3 a.m. nobody should have to cd first); `~` is the operator's home."""

    def anchor(value: str | None) -> str | None:
        if not value:
            return value
        p = Path(value).expanduser()
        return str(p if p.is_absolute() else (base / p).resolve())

    c.ssh.known_hosts = anchor(c.ssh.known_hosts)
    c.ssh.identity = anchor(c.ssh.identity)
    if c.signing is not None:
        c.signing.key = anchor(c.signing.key)
    c.witness.identity = anchor(c.witness.identity)
    c.witness.known_hosts = anchor(c.witness.known_hosts)
    c.witness.keys = anchor(c.witness.keys)
    c.approval.approvers = anchor(c.approval.approvers)
    c.approval.spool = anchor(c.approval.spool)


def load_cluster(path: str | Path) -> Cluster:
    return cluster_from_document(read_toml(path))
