"""Canonical records: sorted keys, no whitespace, UTF-8, integers only, one line each.

Inside this subset (ASCII keys; strings, booleans, null, objects, arrays and integers within
±(2^53−1); no floats) the stdlib encoder below gives exactly the bytes of RFC 8785 (JCS). The
reader accepts a line only if re-encoding what it parsed gives the same bytes, which also
rules out duplicate keys, whitespace and escapes written another way.
"""
from __future__ import annotations

import dataclasses
import json
import re
import time
from datetime import datetime, timezone
from typing import Any

MAX_INT = 2**53 - 1
TS = re.compile(r"\A\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{6}Z\Z")
"""RFC 3339, UTC, microseconds: fixed width, so the strings sort as the times do."""

_encoder = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class CanonError(ValueError):
    pass


def canonical(obj: Any) -> bytes:
    """The record's bytes (no newline). Raises CanonError outside the canonical subset."""
    try:
        return _encoder.encode(obj).encode("utf-8")
    except (UnicodeEncodeError, ValueError, TypeError) as exc:
        raise CanonError(str(exc)) from None


def _no_float(text: str) -> Any:
    raise CanonError(f"a non-integer number ({text})")


def _no_constant(text: str) -> Any:
    raise CanonError(f"{text} is not JSON")


def _int(text: str) -> int:
    value = int(text)
    if -MAX_INT <= value <= MAX_INT:
        return value
    raise CanonError(f"integer {text[:20]} is outside ±(2^53−1)")


_decoder = json.JSONDecoder(parse_float=_no_float, parse_constant=_no_constant)
_int_decoder = json.JSONDecoder(parse_float=_no_float, parse_constant=_no_constant, parse_int=_int)
_LONG_DIGITS = re.compile(rb"[0-9]{16}")
"""Only a line with 16 digits in a row can hold an integer beyond 2^53: parse those with a
checking hook (slower), the rest without."""


def parse_line(line: bytes) -> dict[str, Any]:
    """Parse one record strictly: canonical bytes, an object, valid UTF-8, ASCII keys."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise CanonError("not valid UTF-8") from None
    try:
        obj = (_int_decoder if _LONG_DIGITS.search(line) else _decoder).decode(text)
    except CanonError:
        raise
    except ValueError as exc:
        raise CanonError(f"not JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise CanonError("not a JSON object")
    try:
        same = _encoder.encode(obj) == text
    except (ValueError, TypeError) as exc:
        raise CanonError(str(exc)) from None
    if not same:
        canonical(obj)  # a lone surrogate says so here
        raise CanonError("not in canonical form (sorted keys, no whitespace, one spelling per value, no duplicate keys)")
    if not text.isascii() and not _ascii_keys(obj):
        raise CanonError("a key is not ASCII")
    return obj


def _ascii_keys(obj: Any) -> bool:
    if isinstance(obj, dict):
        return all(k.isascii() and _ascii_keys(v) for k, v in obj.items())
    if isinstance(obj, list):
        return all(_ascii_keys(v) for v in obj)
    return True


def jsonable(value: Any) -> Any:
    """Make an event's value fit the canonical subset: floats and huge integers become their
    decimal text, bytes are decoded, tuples become lists, keys become strings."""
    if value is None or isinstance(value, (bool, str)):
        return _clean_str(value) if isinstance(value, str) else value
    if isinstance(value, int):
        return value if -MAX_INT <= value <= MAX_INT else str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bytes):
        return _clean_str(value.decode("utf-8", "replace"))
    if isinstance(value, dict):
        return {_clean_str(str(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [jsonable(v) for v in items]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    return _clean_str(str(value))


def _clean_str(s: str) -> str:
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:  # lone surrogates (surrogateescape'd bytes): keep them visible, as text
        return s.encode("utf-8", "backslashreplace").decode("utf-8")


def now_ts() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_dates: dict[str, bool] = {}


def valid_ts(ts: object) -> bool:
    """RFC 3339 UTC with microseconds, and a real date (dates are cached: they repeat)."""
    if type(ts) is not str or not TS.match(ts):
        return False
    day = ts[:10]
    ok = _dates.get(day)
    if ok is None:
        try:
            datetime.strptime(day, "%Y-%m-%d")
            ok = True
        except ValueError:
            ok = False
        if len(_dates) < 10000:
            _dates[day] = ok
    return ok


def parse_ts(ts: str) -> datetime:
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def mono_us() -> int:
    return time.monotonic_ns() // 1000
