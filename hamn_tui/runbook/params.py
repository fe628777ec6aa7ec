"""Typed parameter values: a default in a runbook and a `--set K=V` on the command line pass the same test."""
from __future__ import annotations

import re
from typing import Any

from ..inputs.hosts import host_problem, ip_problem
from .model import Param
from .template import Secret

MAX_INT_DIGITS = 18
"""An int parameter fits in 64 bits; a longer number is refused before int() (Python's own
limit message names sys.set_int_max_str_digits, which means nothing to an operator)."""


def check_value(param: Param, value: Any) -> Any:
    """The value as its type wants it, or ValueError saying why not. Strings are parsed."""
    t = param.type
    if t == "secret":
        return value if isinstance(value, Secret) else Secret(str(value))
    if t == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ValueError(f"expected true or false, got {value!r}")
    if t == "int":
        if isinstance(value, bool):
            raise ValueError(f"expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            digits = value.strip().lstrip("-")
            if len(digits) > MAX_INT_DIGITS:
                raise ValueError(f"a number of {len(digits)} digits is out of range (at most {MAX_INT_DIGITS} digits)")
            return int(value)
        raise ValueError(f"expected an integer, got {value!r}")
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    if t == "choice":
        if value not in (param.choices or []):
            raise ValueError(f"{value!r} is not one of {', '.join(param.choices or [])}")
    elif t in ("ip", "host"):
        problem = ip_problem(value) if t == "ip" else host_problem(value)
        if problem:
            raise ValueError(problem)
    return value
