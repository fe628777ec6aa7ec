"""Load a runbook file into the model, or raise InputError with every located problem."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..cluster.model import Cluster
from ..inputs.problems import InputError, Problems
from ..inputs.schema_errors import add_validation_errors
from ..inputs.toml_file import TomlDocument, read_toml
from .model import Runbook
from .rules import check_rules


def runbook_from_document(doc: TomlDocument, cluster: Cluster | None = None, stem: str | None = None) -> Runbook:
    problems = Problems(doc.path, doc.locate)
    rb = runbook_from_data(doc.data, problems, stem, cluster)
    if problems or rb is None:
        raise InputError(problems.sorted())
    return rb


def runbook_from_data(data: dict[str, Any], problems: Problems, stem: str | None, cluster: Cluster | None) -> Runbook | None:
    try:
        rb = Runbook.model_validate(data)
    except ValidationError as exc:
        add_validation_errors(problems, exc, Runbook)
        return None
    check_rules(rb, problems, stem, cluster)
    return rb


def load_runbook(path: str | Path, cluster: Cluster | None = None) -> Runbook:
    doc = read_toml(path)
    return runbook_from_document(doc, cluster, Path(path).stem)
