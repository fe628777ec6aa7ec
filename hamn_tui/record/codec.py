"""Events to audit records and back: the one mapping between what the runner emits and what the
log keeps, so the writer, resume and review cannot drift apart.

A record's `type` is the event class in snake_case (`CommandSent` -> `command_sent`) and its
`data` the event's fields. Output chunks are not records: the output store keeps them.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Any, get_args

from .events import ChecksEvaluated, CheckOutcome, CommandFinished, Event, OutputChunk


def type_name(cls: type) -> str:
    """snake_case name of an event class: `CommandSent` -> `command_sent` (the audit record's type)."""
    return "".join("_" + c.lower() if c.isupper() else c for c in cls.__name__).lstrip("_")


def event_type(event: Event) -> str:
    return type_name(type(event))


def event_data(event: Event) -> dict[str, Any]:
    data = asdict(event)
    if isinstance(event, OutputChunk):
        data["data"] = event.data.decode("utf-8", "replace")
    return data


def encode(event: Event) -> tuple[str, dict[str, Any]]:
    """The record type and data an event is written as (the writer adds hashes of outputs)."""
    return event_type(event), event_data(event)


CLASSES: dict[str, type] = {type_name(cls): cls for cls in get_args(Event) if cls is not OutputChunk}
"""Record type → event class."""


def decode(rec: dict[str, Any]) -> Event | None:
    """The event an audit record was written from (None for the log's own records)."""
    cls = CLASSES.get(rec["type"])
    if cls is None:
        return None
    data = dict(rec["data"])
    if cls is ChecksEvaluated:
        data["outcomes"] = tuple(CheckOutcome(**{k: o.get(k, "") for k in CheckOutcome.__dataclass_fields__}) for o in data["outcomes"])
    if cls is CommandFinished:
        data = {"stdout_bytes": data.get("stdout_size", 0), "stderr_bytes": data.get("stderr_size", 0), **data}
    fields = cls.__dataclass_fields__  # type: ignore[attr-defined]
    return cls(**{k: v for k, v in data.items() if k in fields})  # type: ignore[no-any-return]
