"""Located problems: every complaint about an input names its file, line, column and key path.

An operator fixing a runbook at 3 a.m. needs `file:line:col: message`, never a traceback.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Iterable, Sequence

KeyPath = tuple[str | int, ...]


def format_path(path: Sequence[str | int]) -> str:
    """Render ('steps', 3, 'rollback') as `steps[3].rollback`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def one_line(text: str) -> str:
    """Escape control characters: an error stays on one line and cannot drive the terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A ` (did you mean "x"?)` suffix, or empty when nothing is close."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


@dataclass(frozen=True)
class Problem:
    """One error in one input file."""

    file: str
    line: int
    col: int
    message: str
    path: KeyPath = ()

    def __str__(self) -> str:
        where = format_path(self.path)
        prefix = f"{where}: " if where else ""
        return one_line(f"{self.file}:{self.line}:{self.col}: {prefix}{self.message}")


@dataclass
class Problems:
    """Collects problems for one file; `add` locates them through the file's locator."""

    file: str
    locate: "Locate | None" = None
    items: list[Problem] = field(default_factory=list)

    def add(self, path: Sequence[str | int], message: str) -> None:
        line, col = self.locate(tuple(path)) if self.locate else (1, 1)
        self.items.append(Problem(self.file, line, col, message, tuple(path)))

    def __bool__(self) -> bool:
        return bool(self.items)

    def sorted(self) -> list[Problem]:
        return sorted(self.items, key=lambda p: (p.line, p.col, p.message))


class Locate:  # pragma: no cover - protocol-like base
    def __call__(self, path: KeyPath) -> tuple[int, int]:
        raise NotImplementedError


class InputError(Exception):
    """Raised when an input cannot be used; carries its located problems."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
