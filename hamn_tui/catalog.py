"""Where the shipped runbooks live, and a one-line summary of each."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from .runbook.loader import load_runbook
from .runbook.model import Runbook
from .source.problems import InputError


def runbook_dirs() -> list[Path]:
    """`$HAMN_RUNBOOKS` (colon-separated) first, then the shipped set (source tree or installed share/)."""
    dirs = [Path(p) for p in os.environ.get("HAMN_RUNBOOKS", "").split(os.pathsep) if p]
    here = Path(__file__).resolve().parent.parent / "runbooks"
    dirs += [here, Path(sys.prefix) / "share" / "hamn" / "runbooks"]
    return [d for d in dirs if d.is_dir()]


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
