"""Read a TOML file defensively: size, binary content, encoding and syntax become located problems."""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the package requires 3.11, kept for tomli users
    import tomli as tomllib

from .locator import TomlLocator
from .problems import InputError, Problem

MAX_BYTES = 1024 * 1024
"""Runbooks and cluster files are small; anything larger is a mistake (a log, an image)."""

MAX_DEPTH = 32
"""Arrays and inline tables nested deeper than this are refused before parsing: the parser and
the locator recurse once per level, and a shipped runbook nests three deep."""

_TOML_POS = re.compile(r"^(?P<msg>.*?)\s*\(at line (?P<line>\d+), column (?P<col>\d+)\)$")


@dataclass
class TomlDocument:
    path: str
    text: str
    data: dict[str, Any]
    locate: TomlLocator


def _line_col(data: bytes, offset: int) -> tuple[int, int]:
    before = data[:offset]
    line = before.count(b"\n") + 1
    col = offset - (before.rfind(b"\n") + 1) + 1
    return line, col


_KEY_AT = re.compile(r"\s*\[{0,2}\s*(?P<key>[A-Za-z0-9_.\"' -]+?)\s*(?:\]{1,2}|=)")


def _syntax_problem(message: str, text: str, name: str) -> Problem:
    """tomllib says `msg (at line L, column C)` or `(at end of document)`; keep the place, name the key."""
    m = _TOML_POS.match(message)
    if m:
        line, col, msg = int(m.group("line")), int(m.group("col")), m.group("msg")
    else:
        msg = re.sub(r"\s*\(at end of document\)$", "", message)
        lines = text.rstrip("\n").split("\n")
        line, col = len(lines), len(lines[-1]) + 1
        msg += " at the end of the file"
    if msg.startswith(("Cannot overwrite a value", "Cannot declare", "Cannot mutate")):
        src = text.split("\n")[line - 1] if line <= text.count("\n") + 1 else ""
        k = _KEY_AT.match(src)
        key = k.group("key").strip() if k else ""
        return Problem(name, line, col, f'duplicate key "{key}": it is already defined' if key else f"duplicate key or table: {msg}")
    return Problem(name, line, col, f"TOML syntax error: {msg[0].lower()}{msg[1:]}")


def _string_end(text: str, i: int) -> int:
    """The index just past the TOML string starting at `i` (basic, literal, or multi-line)."""
    quote = text[i]
    if text.startswith(quote * 3, i):
        j = i + 3
        while j < len(text):
            if quote == '"' and text[j] == "\\":
                j += 2
            elif text.startswith(quote * 3, j):
                j += 3
                while j < len(text) and text[j] == quote:  # up to two quotes may close the content
                    j += 1
                return j
            else:
                j += 1
        return j
    j = i + 1
    while j < len(text) and text[j] not in (quote, "\n"):
        j += 2 if quote == '"' and text[j] == "\\" else 1
    return j + 1 if j < len(text) and text[j] == quote else j  # unterminated: tomllib will say so


def _too_deep(text: str, limit: int = MAX_DEPTH) -> int | None:
    """The offset of the first `[` or `{` nested deeper than `limit` in a value, or None.

    A scan of brackets outside strings and comments; a `[` that starts a line outside any
    value is a table header, not an array."""
    depth = 0
    at_line_start = True
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\n":
            at_line_start = True
            i += 1
            continue
        if c in " \t\r":
            i += 1
            continue
        if c == "#" or (c == "[" and depth == 0 and at_line_start):
            end = text.find("\n", i)  # a comment, or a table header (its quoted keys stay on its line)
            i = len(text) if end < 0 else end
            continue
        at_line_start = False
        if c in "\"'":
            i = _string_end(text, i)
            continue
        if c in "[{":
            depth += 1
            if depth > limit:
                return i
        elif c in "]}":
            depth = max(depth - 1, 0)
        i += 1
    return None


def parse_toml_text(text: str, name: str) -> TomlDocument:
    """Parse TOML text; a syntax error becomes one located problem, and so does nesting deep
    enough to exhaust the parser's recursion (checked first: a RecursionError is no answer)."""
    deep = _too_deep(text)
    if deep is not None:
        line, col = text.count("\n", 0, deep) + 1, deep - text.rfind("\n", 0, deep)
        raise InputError([Problem(name, line, col, f"arrays or inline tables nested more than {MAX_DEPTH} deep; a runbook or cluster file needs only a few levels")])
    try:
        data = tomllib.loads(text)
        locate = TomlLocator(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError([_syntax_problem(str(exc), text, name)]) from None
    except RecursionError:
        raise InputError([Problem(name, 1, 1, "nested too deeply to read")]) from None
    return TomlDocument(name, text, data, locate)


def read_toml(path: str | Path, max_bytes: int = MAX_BYTES) -> TomlDocument:
    """Read and parse one file; every failure is an InputError naming file, line and column."""
    name = str(path)
    p = Path(path)
    try:
        size = p.stat().st_size
        if p.is_dir():
            raise InputError([Problem(name, 1, 1, "is a directory, not a TOML file")])
        if size > max_bytes:
            raise InputError([Problem(name, 1, 1, f"file is {size / 1e6:.1f} MB; a runbook or cluster file is at most {max_bytes // 1024} KiB")])
        with p.open("rb") as fh:
            raw = fh.read(max_bytes + 1)
    except InputError:
        raise
    except OSError as exc:
        raise InputError([Problem(name, 1, 1, f"cannot read: {exc.strerror or exc}")]) from None
    if len(raw) > max_bytes:
        raise InputError([Problem(name, 1, 1, f"file is larger than {max_bytes // 1024} KiB")])
    if not raw.strip():
        raise InputError([Problem(name, 1, 1, "empty file: expected a [runbook] or [cluster] table")])
    nul = raw.find(b"\x00")
    if nul >= 0:
        line, col = _line_col(raw, nul)
        raise InputError([Problem(name, line, col, "binary file (NUL byte): not TOML text")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _line_col(raw, exc.start)
        raise InputError([Problem(name, line, col, f"not UTF-8 text (byte 0x{raw[exc.start]:02x})")]) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return parse_toml_text(text, name)
