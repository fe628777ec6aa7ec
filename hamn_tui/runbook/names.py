"""Which `{{ names }}` a runbook may use, decided from the schemas, not from a live cluster.

Namespaces:
- `params.NAME`: a declared parameter;
- `captured.NAME`: captured from an earlier step's output;
- `cluster.SECTION.KEY`: a scalar of the cluster file (`cluster.db2.instance`, `cluster.name`);
- `nodes.primary.KEY`, `nodes.standby.KEY`: the node bound to that role (`name`, `address`, `hostname`, …);
- `node.KEY`: the node the step runs on (useful in group steps).
"""
from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel

from ..cluster.model import Cluster, ClusterMeta, Node

NAMESPACES = ("params", "captured", "cluster", "nodes", "node")
ROLES = ("primary", "standby")


def _scalar_annotation(ann: Any) -> bool:
    origin = typing.get_origin(ann)
    if origin is typing.Literal:
        return True
    if origin in (typing.Union, types.UnionType):
        return all(_scalar_annotation(a) for a in typing.get_args(ann) if a is not type(None))
    return ann in (str, int, float, bool)


def _model_of(ann: Any) -> type[BaseModel] | None:
    for a in (ann, *typing.get_args(ann)):
        if isinstance(a, type) and issubclass(a, BaseModel):
            return a
    return None


def node_keys() -> list[str]:
    return ["name", *Node.model_fields]


def cluster_paths() -> list[str]:
    """Every scalar path under `cluster.` that a template may name."""
    paths = [f"cluster.{k}" for k in ClusterMeta.model_fields]
    for section, field in Cluster.model_fields.items():
        model = _model_of(field.annotation)
        if model is None or section in ("cluster", "nodes"):
            continue
        for key, sub in model.model_fields.items():
            if _scalar_annotation(sub.annotation):
                paths.append(f"cluster.{section}.{key}")
    return paths


def known_name_problem(name: str, params: set[str], captured: set[str]) -> str | None:
    """None when the name can be resolved at run time, else why not (with a did-you-mean)."""
    from ..inputs.problems import did_you_mean

    head, _, rest = name.partition(".")
    if head == "params":
        return None if rest in params else f"undefined parameter {rest!r}{did_you_mean(rest, params)}"
    if head == "captured":
        return None if rest in captured else f"{rest!r} is not captured by an earlier step{did_you_mean(rest, captured)}"
    if head == "cluster":
        paths = cluster_paths()
        return None if name in paths else f"unknown cluster value {name!r}{did_you_mean(name, paths)}"
    if head == "nodes":
        role, _, key = rest.partition(".")
        if role not in ROLES:
            return f"unknown node role {role!r} in {name!r}: use nodes.primary or nodes.standby"
        return None if key in node_keys() else f"unknown node key {key!r}{did_you_mean(key, node_keys())}"
    if head == "node":
        return None if rest in node_keys() else f"unknown node key {rest!r}{did_you_mean(rest, node_keys())}"
    return f"undefined name {name!r}: names start with one of {', '.join(NAMESPACES)}{did_you_mean(head, NAMESPACES)}"


def cluster_values(cluster: Cluster) -> dict[str, Any]:
    """The `cluster.*` namespace of a loaded cluster file, as nested dicts of scalars."""
    out: dict[str, Any] = dict(cluster.cluster.model_dump())
    for section in Cluster.model_fields:
        if section in ("cluster", "nodes", "groups"):
            continue
        value = getattr(cluster, section)
        if isinstance(value, BaseModel):
            out[section] = value.model_dump()
    return out
