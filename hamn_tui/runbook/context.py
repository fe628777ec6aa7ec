"""The values a run's templates see: parameters (typed, defaulted), cluster values, bound nodes."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ..cluster.model import LOCAL_PLATFORM, Cluster, Node
from .model import Runbook, RunSpec, run_for
from .names import cluster_values
from .params import check_value
from .template import lookup_in, render


class ParamError(ValueError):
    """A parameter value that cannot be used; the message names the parameter."""


class PlatformError(ValueError):
    """A step has no command for the platform of the node it would run on (a runbook checked
    without the cluster file: validation against the cluster refuses it first)."""


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

    def platform(self, node: str | None) -> str:
        """The platform of the node a step runs on (a role or a node name); `local` is hamn's own."""
        name = self.roles.get(node, node) if node else None
        if self.cluster is not None and name in self.cluster.nodes:
            return self.cluster.nodes[name].platform
        return LOCAL_PLATFORM

    def commands_for(self, run: RunSpec | None, node: str | None) -> list[str]:
        """The command templates `node` runs: its platform's, from a per-platform table."""
        picked = run_for(run, self.platform(node))
        if picked is None:
            platforms = ", ".join(run) if isinstance(run, dict) else ""
            raise PlatformError(f"no command for {self.roles.get(node or '', node)} ({self.platform(node)}); the step has one for: {platforms}")
        return picked

    def shown_commands(self, run: RunSpec | None, node: str) -> tuple[str, ...]:
        """The commands as the operator sees them before they run on `node` (a role, a node, or
        `@group`: the command of each platform among its members, once), secrets as ******."""
        target = self.roles.get(node, node)
        if node.startswith("@") and self.cluster is not None:
            members = self.cluster.groups.get(node[1:], [])
            platforms = list(dict.fromkeys(self.platform(m) for m in members)) or [LOCAL_PLATFORM]
        else:
            platforms = [self.platform(node)]
        shown: list[str] = []
        for platform in platforms:
            for text in run_for(run, platform) or []:
                line = self.shown(text, target)
                if line not in shown:
                    shown.append(line)
        return tuple(shown)

    def pick(self, value: Any, node: str | None) -> Any:
        """A probe argument as `node` sees it: its platform's entry of a per-platform table."""
        if isinstance(value, dict):
            platform = self.platform(node)
            if platform not in value:
                raise PlatformError(f"no probe argument for {self.roles.get(node or '', node)} ({platform}); it has one for: {', '.join(value)}")
            return value[platform]
        return value

    def command(self, text: str, node: str | None = None) -> str:
        """The shell text to run: every value one quoted word."""
        return render(text, self.lookup(node), shell=True)

    def shown(self, text: str, node: str | None = None) -> str:
        """The same command as shown on screen and in the log: secrets as ******."""
        return render(text, self.lookup(node), shell=True, redact=True)

    def prose(self, text: str, node: str | None = None) -> str:
        """Explanations and titles: values unquoted, secrets redacted."""
        return render(text, self.lookup(node), shell=False, redact=True)
