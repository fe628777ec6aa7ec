"""Map TOML key paths to line and column.

`tomllib` gives values but no positions. This scanner walks a document that tomllib has
already accepted and records where every key, table header and array element starts, so a
validation error can point at `steps[3].rollback` on its own line. It trusts the syntax
(tomllib checked it) and only tracks structure.
"""
from __future__ import annotations

from .problems import KeyPath, Locate

_BARE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class TomlLocator(Locate):
    """Positions of keys in one TOML text; unknown paths fall back to their nearest parent."""

    def __init__(self, text: str):
        self.positions: dict[KeyPath, tuple[int, int]] = {}
        self._text = text
        self._i = 0
        self._line = 1
        self._col = 1
        self._aot: dict[KeyPath, int] = {}
        try:
            self._document()
        except (IndexError, ValueError):
            pass  # positions found so far still serve; the rest fall back to parents

    def __call__(self, path: KeyPath) -> tuple[int, int]:
        path = tuple(path)
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return (1, 1)

    # --- low-level cursor -------------------------------------------------------------
    def _peek(self, n: int = 1) -> str:
        return self._text[self._i : self._i + n]

    def _advance(self, n: int = 1) -> None:
        for _ in range(n):
            if self._i >= len(self._text):
                return
            if self._text[self._i] == "\n":
                self._line += 1
                self._col = 1
            else:
                self._col += 1
            self._i += 1

    def _here(self) -> tuple[int, int]:
        return (self._line, self._col)

    def _skip_inline_ws(self) -> None:
        while self._peek() in (" ", "\t") and self._peek():
            self._advance()

    def _skip_ws_comments_newlines(self) -> None:
        while self._i < len(self._text):
            c = self._peek()
            if c in " \t\r\n":
                self._advance()
            elif c == "#":
                self._skip_to_eol()
            else:
                return

    def _skip_to_eol(self) -> None:
        while self._i < len(self._text) and self._peek() != "\n":
            self._advance()

    # --- grammar ------------------------------------------------------------------------
    def _document(self) -> None:
        table: KeyPath = ()
        while self._i < len(self._text):
            self._skip_ws_comments_newlines()
            if self._i >= len(self._text):
                return
            if self._peek(2) == "[[":
                pos = self._here()
                self._advance(2)
                keys = self._key()
                self._skip_inline_ws()
                self._advance(2)
                table = self._resolve(keys, array=True)
                for n in range(1, len(table) + 1):
                    self.positions.setdefault(table[:n], pos)
            elif self._peek() == "[":
                pos = self._here()
                self._advance()
                keys = self._key()
                self._skip_inline_ws()
                self._advance()
                table = self._resolve(keys, array=False)
                for n in range(1, len(table) + 1):
                    self.positions.setdefault(table[:n], pos)
            else:
                self._keyval(table)
            self._skip_to_eol()

    def _resolve(self, keys: list[str], array: bool) -> KeyPath:
        path: KeyPath = ()
        for n, k in enumerate(keys):
            path = path + (k,)
            last = n == len(keys) - 1
            if last and array:
                idx = self._aot.get(path, -1) + 1
                self._aot[path] = idx
                path = path + (idx,)
            elif path in self._aot:
                path = path + (self._aot[path],)
        return path

    def _keyval(self, table: KeyPath) -> None:
        pos = self._here()
        keys = self._key()
        path = table + tuple(keys)
        self.positions.setdefault(path, pos)
        self._skip_inline_ws()
        if self._peek() == "=":
            self._advance()
        self._skip_inline_ws()
        self._value(path)

    def _key(self) -> list[str]:
        keys: list[str] = []
        while True:
            self._skip_inline_ws()
            c = self._peek()
            if c == '"':
                keys.append(self._basic_string())
            elif c == "'":
                keys.append(self._literal_string())
            else:
                start = self._i
                while self._peek() and self._peek() in _BARE:
                    self._advance()
                if self._i == start:
                    raise ValueError("no key")
                keys.append(self._text[start : self._i])
            self._skip_inline_ws()
            if self._peek() == ".":
                self._advance()
                continue
            return keys

    def _basic_string(self) -> str:
        self._advance()
        out = []
        while self._peek() and self._peek() != '"':
            if self._peek() == "\\":
                self._advance()
            out.append(self._peek())
            self._advance()
        self._advance()
        return "".join(out)

    def _literal_string(self) -> str:
        self._advance()
        start = self._i
        while self._peek() and self._peek() != "'":
            self._advance()
        s = self._text[start : self._i]
        self._advance()
        return s

    def _multiline(self, quote: str) -> None:
        self._advance(3)
        while self._i < len(self._text):
            if quote == '"' and self._peek() == "\\":
                self._advance(2)
                continue
            if self._peek(3) == quote * 3:
                self._advance(3)
                while self._peek() == quote:  # up to two quotes may close the content
                    self._advance()
                return
            self._advance()

    def _value(self, path: KeyPath) -> None:
        c = self._peek()
        if self._peek(3) in ('"""', "'''"):
            self._multiline(c)
        elif c == '"':
            self._basic_string()
        elif c == "'":
            self._literal_string()
        elif c == "[":
            self._advance()
            idx = 0
            while True:
                self._skip_ws_comments_newlines()
                if self._peek() in ("]", ""):
                    self._advance()
                    return
                self.positions.setdefault(path + (idx,), self._here())
                self._value(path + (idx,))
                idx += 1
                self._skip_ws_comments_newlines()
                if self._peek() == ",":
                    self._advance()
        elif c == "{":
            self._advance()
            while True:
                self._skip_inline_ws()
                if self._peek() in ("}", ""):
                    self._advance()
                    return
                self._keyval(path)
                self._skip_inline_ws()
                if self._peek() == ",":
                    self._advance()
        else:
            while self._peek() and self._peek() not in ",]}\n#":
                self._advance()
