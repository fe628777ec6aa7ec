"""The values a run's templates see: parameters (typed, defaulted), cluster values, bound nodes."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ..cluster.model import Cluster, Node
from .model import Runbook
from .names import cluster_values
from .params import check_value
from .template import lookup_in, render


class ParamError(ValueError):
    """A parameter value that cannot be used; the message names the parameter."""


def node_values(name: str, node: Node) -> dict[str, Any]:
    return {"name": name, **node.model_dump()}


def bind_roles(cluster: Cluster, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """Role -> node name: the cluster file's roles, unless a run rebinds them (after a failover)."""
    roles: dict[str, str] = {}
    for role in ("primary", "standby"):
        found = cluster.node_with_role(role)
        if found:
            roles[role] = found[0]
    for role, name in (overrides or {}).items():
        if name not in cluster.nodes:
            raise ParamError(f"cannot bind {role} to unknown node {name!r}; nodes: {', '.join(cluster.nodes)}")
        roles[role] = name
    if roles.get("primary") == roles.get("standby"):
        raise ParamError(f"primary and standby are both bound to {roles.get('primary')!r}")
    return roles


def resolve_params(rb: Runbook, given: Mapping[str, Any], cluster: Cluster | None,
                   roles: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every parameter's value: given (parsed to its type), else its default, else from the cluster file.

    `default_from` may name `cluster.…` or a bound node's value `nodes.primary.…` / `nodes.standby.…`
    (with `roles` as the run binds them; the cluster file's roles when not given).
    A secret is never defaulted; a required parameter with no value is an error naming it.
    """
    unknown = [k for k in given if k not in rb.params]
    if unknown:
        raise ParamError(f"unknown parameter {unknown[0]!r}; this runbook takes: {', '.join(rb.params) or 'none'}")
    values: dict[str, Any] = {}
    lookup = None
    if cluster is not None:
        bound = dict(roles) if roles is not None else bind_roles(cluster)
        lookup = lookup_in({"cluster": cluster_values(cluster),
                            "nodes": {role: node_values(n, cluster.nodes[n]) for role, n in bound.items() if n in cluster.nodes}})
    for name, param in rb.params.items():
        if name in given:
            raw = given[name]
        elif param.default is not None:
            raw = param.default
        elif param.default_from and lookup is not None and param.default_from.startswith(("cluster.", "nodes.")):
            try:
                raw = lookup(param.default_from)
            except KeyError:
                raw = None
        else:
            raw = None
        if raw is None:
            if param.required:
                raise ParamError(f"parameter {name!r} needs a value ({param.description})")
            continue
        try:
            values[name] = check_value(param, raw)
        except ValueError as exc:
            raise ParamError(f"parameter {name!r}: {exc}") from None
    return values


@dataclass
class RunContext:
    """What `{{ names }}` resolve to during one run."""

    params: dict[str, Any]
    cluster: Cluster | None = None
    roles: dict[str, str] = field(default_factory=dict)
    captured: dict[str, str] = field(default_factory=dict)
    outcomes: dict[str, str] = field(default_factory=dict)
    """Step outcomes so far (the runner shares its own dict): probes may read facts such as
    an attested fencing step."""

    def lookup(self, node: str | None = None) -> Callable[[str], Any]:
        values: dict[str, Any] = {"params": self.params, "captured": self.captured}
        if self.cluster is not None:
            values["cluster"] = cluster_values(self.cluster)
            values["nodes"] = {role: node_values(n, self.cluster.nodes[n]) for role, n in self.roles.items()}
            name = self.roles.get(node, node) if node else None
            if name in self.cluster.nodes:
                values["node"] = node_values(name, self.cluster.nodes[name])
        return lookup_in(values)

    def command(self, text: str, node: str | None = None) -> str:
        """The shell text to run: every value one quoted word."""
        return render(text, self.lookup(node), shell=True)

    def shown(self, text: str, node: str | None = None) -> str:
        """The same command as shown on screen and in the log: secrets as ******."""
        return render(text, self.lookup(node), shell=True, redact=True)

    def prose(self, text: str, node: str | None = None) -> str:
        """Explanations and titles: values unquoted, secrets redacted."""
        return render(text, self.lookup(node), shell=False, redact=True)
