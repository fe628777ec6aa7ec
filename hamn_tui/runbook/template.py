"""`{{ name }}` templating that cannot be injected.

Every value reaches a command as one shell-quoted word: `x; touch /tmp/pwned` or `$(reboot)`
becomes an inert argument. There is no unquoted form, no filters and no expressions. A
placeholder written inside quotes in the runbook is refused by the validator, because the
value's own quoting would then be undone by the surrounding quotes.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

from ..record.redact import REDACTED

NAME = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)*"
_PLACEHOLDER = re.compile(r"\{\{\s*(?P<name>" + NAME + r")\s*\}\}")
_OPEN = re.compile(r"\{\{")


class Secret:
    """A secret value: prints redacted everywhere; only `reveal()` gives the text."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class TemplateError(ValueError):
    """A malformed placeholder or an undefined name; `offset` is where in the text."""

    def __init__(self, message: str, offset: int = 0):
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True)
class Placeholder:
    name: str
    start: int
    end: int


def placeholders(text: str) -> Iterator[Placeholder]:
    """Every `{{ name }}` in the text; a `{{` that is not a well-formed placeholder is an error."""
    pos = 0
    while True:
        m = _OPEN.search(text, pos)
        if not m:
            return
        good = _PLACEHOLDER.match(text, m.start())
        if not good:
            snippet = text[m.start() : m.start() + 30].split("\n")[0]
            raise TemplateError(f"malformed placeholder {snippet!r}: write {{{{ name.path }}}} (no filters or expressions)", m.start())
        yield Placeholder(good.group("name"), good.start(), good.end())
        pos = good.end()


@dataclass
class ShellScan:
    """Where placeholders sit in shell text, for the validator's rules."""

    quoted: list[Placeholder]
    """Inside single or double quotes: the value's own quoting would be undone."""
    in_heredoc: list[tuple[Placeholder, str]]
    """In the body of a here-document whose delimiter (second item) is not quoted: the shell
    expands `$(…)`, backquotes and `$VAR` there, and quotes are plain text."""


_WORD_END = set(" \t\n;&|<>()")


def _heredoc_word(text: str, i: int, spans: dict[int, Placeholder]) -> tuple[str, bool, int]:
    """The delimiter word after `<<` at `i`: (delimiter, whether any of it is quoted, end index)."""
    out: list[str] = []
    quoted = False
    while i < len(text) and text[i] not in _WORD_END:
        c = text[i]
        if i in spans:
            out.append(text[i : spans[i].end])
            i = spans[i].end
        elif c == "\\":
            quoted = True
            out.append(text[i + 1 : i + 2])
            i += 2
        elif c in ("'", '"'):
            quoted = True
            close = text.find(c, i + 1)
            close = len(text) if close < 0 else close
            out.append(text[i + 1 : close])
            i = close + 1
        else:
            out.append(c)
            i += 1
    return "".join(out), quoted, i


def scan_shell(text: str) -> ShellScan:
    """Follow quotes, comments and here-documents through shell text (raises TemplateError for
    a malformed placeholder)."""
    spans = {p.start: p for p in placeholders(text)}
    scan = ShellScan([], [])
    pending: list[tuple[str, bool, bool]] = []  # here-documents whose bodies start after this line
    quote: str | None = None
    i = 0
    while i < len(text):
        if i in spans:
            if quote is not None:
                scan.quoted.append(spans[i])
            i = spans[i].end
            continue
        c = text[i]
        if quote is None:
            if c == "\\":
                i += 2
                continue
            if c in ("'", '"'):
                quote = c
            elif c == "#" and (i == 0 or text[i - 1] in " \t\n;"):
                while i < len(text) and text[i] != "\n":
                    i += 1
                continue
            elif text.startswith("<<", i) and not text.startswith("<<<", i):
                j = i + 2
                strip_tabs = text.startswith("-", j)
                j += strip_tabs
                while j < len(text) and text[j] in " \t":
                    j += 1
                delimiter, quoted, i = _heredoc_word(text, j, spans)
                if delimiter:
                    pending.append((delimiter, quoted, strip_tabs))
                continue
            elif c == "\n" and pending:
                i = _heredoc_bodies(text, i + 1, pending, spans, scan)
                pending = []
                continue
        elif c == quote:
            quote = None
        elif quote == '"' and c == "\\":
            i += 2
            continue
        i += 1
    return scan


def _heredoc_bodies(text: str, i: int, pending: list[tuple[str, bool, bool]], spans: dict[int, Placeholder], scan: ShellScan) -> int:
    """Skip the bodies of the here-documents opened on the line before `i`, one after the other,
    noting placeholders in those the shell expands; returns the index after the last body."""
    for delimiter, quoted, strip_tabs in pending:
        while i < len(text):
            end = text.find("\n", i)
            end = len(text) if end < 0 else end
            line = text[i:end]
            if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                i = end + 1
                break
            if not quoted:
                scan.in_heredoc.extend((spans[k], delimiter) for k in sorted(spans) if i <= k < end)
            i = end + 1
    return i


def quoted_placeholders(text: str) -> list[Placeholder]:
    """Placeholders that sit inside single or double quotes in the shell text."""
    return scan_shell(text).quoted


def _word(value: Any) -> str:
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        raise TemplateError("value is not set")
    return str(value)


def render(text: str, lookup: Callable[[str], Any], *, shell: bool = True, redact: bool = False) -> str:
    """Substitute placeholders. `shell`: quote each value as one word. `redact`: show secrets as ******."""
    out: list[str] = []
    pos = 0
    for ph in placeholders(text):
        out.append(text[pos : ph.start])
        try:
            value = lookup(ph.name)
        except KeyError:
            raise TemplateError(f"undefined name {ph.name!r}", ph.start) from None
        if redact and isinstance(value, Secret):
            out.append(REDACTED)
        else:
            word = _word(value)
            out.append(shlex.quote(word) if shell else word)
        pos = ph.end
    out.append(text[pos:])
    return "".join(out)


def lookup_in(values: Mapping[str, Any]) -> Callable[[str], Any]:
    """A lookup over nested mappings and objects: `cluster.db2.instance` walks three levels."""

    def lookup(name: str) -> Any:
        current: Any = values
        for part in name.split("."):
            if isinstance(current, Mapping):
                if part not in current:
                    raise KeyError(name)
                current = current[part]
            elif hasattr(current, part) and not part.startswith("_"):
                current = getattr(current, part)
            else:
                raise KeyError(name)
        if isinstance(current, (Mapping, list)) or (hasattr(current, "model_fields") and not isinstance(current, Secret)):
            raise KeyError(name)
        return current

    return lookup
