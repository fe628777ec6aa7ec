"""`hamn validate`: check runbooks and cluster files, one located line per problem."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..cluster.loader import cluster_from_document
from ..cluster.model import Cluster
from ..inputs.problems import InputError, Problem
from ..inputs.toml_file import TomlDocument, read_toml
from .loader import runbook_from_document


@dataclass
class FileResult:
    path: str
    summary: str | None
    problems: list[Problem]


NO_RUNBOOKS = "no runbooks here: a directory stands for the *.toml files in it, and it has none"


def expand(paths: list[str]) -> list[str]:
    """Files as given; a directory stands for the *.toml files in it."""
    out: list[str] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            out.extend(str(f) for f in sorted(path.glob("*.toml")))
        else:
            out.append(p)
    return out


def _kind(doc: TomlDocument) -> str | None:
    if "runbook" in doc.data:
        return "runbook"
    if "cluster" in doc.data:
        return "cluster"
    return None


def validate_paths(paths: list[str], cluster: Cluster | None = None) -> list[FileResult]:
    """Cluster files are read first, so runbooks are checked against the cluster's nodes and groups."""
    results: dict[str, FileResult] = {}
    docs: list[TomlDocument] = []
    files = expand(paths)
    for p in paths:  # a directory with nothing to check must not pass as "all valid"
        if Path(p).is_dir() and not expand([p]):
            results[p] = FileResult(p, None, [Problem(p, 1, 1, NO_RUNBOOKS)])
    for f in files:
        try:
            docs.append(read_toml(f))
        except InputError as exc:
            results[f] = FileResult(f, None, exc.problems)
    for doc in docs:
        if _kind(doc) == "cluster":
            try:
                c = cluster_from_document(doc)
                cluster = cluster or c
                results[doc.path] = FileResult(doc.path, f'cluster "{c.cluster.name}" ({c.cluster.database}), {len(c.nodes)} nodes', [])
            except InputError as exc:
                results[doc.path] = FileResult(doc.path, None, exc.problems)
    for doc in docs:
        kind = _kind(doc)
        if kind == "runbook":
            try:
                rb = runbook_from_document(doc, cluster, Path(doc.path).stem)
                mutating = sum(1 for s in rb.steps if s.is_mutating)
                results[doc.path] = FileResult(doc.path, f'runbook "{rb.runbook.id}" v{rb.runbook.version}, {len(rb.steps)} steps ({mutating} mutating), {len(rb.always)} always', [])
            except InputError as exc:
                results[doc.path] = FileResult(doc.path, None, exc.problems)
        elif kind is None:
            keys = ", ".join(sorted(doc.data)) or "nothing"
            results[doc.path] = FileResult(doc.path, None, [Problem(doc.path, 1, 1, f"neither a runbook (no [runbook] table) nor a cluster file (no [cluster] table); found: {keys}")])
    return [results[f] for p in paths for f in (expand([p]) or [p]) if f in results]
