"""Where runbooks are found: by id in the runbook directories, or by path; and loading one for a run."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from ..inputs.problems import InputError
from ..settings import settings
from .loader import load_runbook
from ..cluster.model import Cluster
from .model import Runbook


def runbook_dirs() -> list[Path]:
    """`$HAMN_RUNBOOKS` (colon-separated) first, then the shipped set (source tree or installed share/)."""
    return list(settings().runbook_dirs)


def find_runbook(name: str) -> Path | None:
    """A path as given, or a runbook id looked up in the runbook directories."""
    p = Path(name)
    if p.suffix == ".toml" or os.sep in name:
        return p if p.exists() else None
    for d in runbook_dirs():
        candidate = d / f"{name}.toml"
        if candidate.exists():
            return candidate
    return None


def shipped_runbooks() -> tuple[list[tuple[Path, Runbook]], list[InputError]]:
    seen: set[str] = set()
    good: list[tuple[Path, Runbook]] = []
    bad: list[InputError] = []
    for d in runbook_dirs():
        for f in sorted(d.glob("*.toml")):
            if f.stem in seen:
                continue
            seen.add(f.stem)
            try:
                good.append((f, load_runbook(f)))
            except InputError as exc:
                bad.append(exc)
    return good, bad


@dataclass(frozen=True)
class Procedure:
    """A runbook as a run uses it: its file, what it says, and the SHA-256 the audit log records
    (a resumed run must use the same bytes)."""

    path: Path
    runbook: Runbook
    sha256: str


def open_procedure(name: str, cluster: Cluster | None) -> Procedure | None:
    """The runbook `name` (an id or a path) loaded and checked against the cluster; None if there is no such runbook."""
    path = find_runbook(name)
    if path is None:
        return None
    return Procedure(path, load_runbook(path, cluster), hashlib.sha256(path.read_bytes()).hexdigest())
