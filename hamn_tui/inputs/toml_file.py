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


def parse_toml_text(text: str, name: str) -> TomlDocument:
    """Parse TOML text; a syntax error becomes one located problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError([_syntax_problem(str(exc), text, name)]) from None
    return TomlDocument(name, text, data, TomlLocator(text))


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
