"""Turn pydantic validation errors into short, located messages with a did-you-mean."""
from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from .problems import Problems, did_you_mean

_TYPE_WORDS = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "an array",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
}


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _unwrap(ann: Any) -> Any:
    """Optional[X] / X | None -> X (the first non-None member of a union)."""
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(ann) if a is not type(None)]
        models = [a for a in members if isinstance(a, type) and issubclass(a, BaseModel)]
        return (models or members or [ann])[0]
    return ann


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that owns the key at `loc` (for did-you-mean suggestions)."""
    ann: Any = model
    for part in loc[:-1]:
        ann = _unwrap(ann)
        origin = typing.get_origin(ann)
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            field = ann.model_fields.get(part) or next((f for f in ann.model_fields.values() if f.alias == part), None)
            if field is None:
                return None
            ann = field.annotation
        elif origin is dict:
            ann = typing.get_args(ann)[1]
        elif origin is list and isinstance(part, int):
            ann = typing.get_args(ann)[0]
        else:
            return None
    ann = _unwrap(ann)
    return ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None


def _keys_of(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def add_validation_errors(problems: Problems, exc: ValidationError, root: type[BaseModel]) -> None:
    """Record every pydantic error as `path: message`, located in the file."""
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        kind = err["type"]
        value = err.get("input")
        if kind == "extra_forbidden":
            owner = _model_at(root, loc)
            hint = did_you_mean(str(loc[-1]), _keys_of(owner)) if owner else ""
            msg = f'unknown key "{loc[-1]}"{hint}'
            if owner:
                msg += f"; allowed: {', '.join(sorted(_keys_of(owner)))}" if not hint else ""
        elif kind == "missing":
            msg = f'missing required key "{loc[-1]}"'
        elif kind == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            hint = did_you_mean(str(value), [e.strip(" '") for e in expected.replace(" or ", ", ").split(",")]) if isinstance(value, str) else ""
            msg = f"{_describe(value)} is not allowed; expected {expected}{hint}"
        elif kind in _TYPE_WORDS:
            msg = f"expected {_TYPE_WORDS[kind]}, got {_describe(value)}"
        elif kind == "value_error":
            msg = str(err.get("ctx", {}).get("error", err["msg"]))
        else:
            msg = err["msg"][0].lower() + err["msg"][1:]
            if value is not None and not isinstance(value, (dict, list)):
                msg += f", got {_describe(value)}"
        problems.add(loc, msg)
