"""The one redactor: a run's secret values never reach a record, an output file, a report or a
screen. Every writer and every display of a run goes through it.

Output arrives in arbitrary chunks, so a secret may be split across two of them: byte streams
(`CommandCapture`) hold back `keep` bytes, text streams (`stream`) hold back per key the tail
that could start a secret until the next chunk (or `final`) decides it.
"""
from __future__ import annotations

import shlex
from typing import Any, Iterable

REDACTED = "******"


def secret_texts(values: Iterable[str]) -> list[str]:
    """What to redact for these secret values: each value, and its shell-quoted form where that differs."""
    values = [v for v in values if v]
    return values + [shlex.quote(v) for v in values if shlex.quote(v) != v]


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()):
        self.secrets = list(secrets)
        self.pending: dict[Any, str] = {}
        """Text held back per stream key (`stream`)."""

    @property
    def secrets(self) -> list[str]:
        return self.texts

    @secrets.setter
    def secrets(self, values: Iterable[str]) -> None:
        self.texts = sorted({s for s in values if s}, key=len, reverse=True)  # an empty "secret" would match everywhere
        self.raw = [v.encode("utf-8") for v in self.texts]
        self.keep = max((len(b) for b in self.raw), default=1) - 1
        """Bytes a byte stream holds back: a secret may be split across two chunks."""

    def __bool__(self) -> bool:
        return bool(self.texts)

    def text(self, s: str) -> str:
        for v in self.texts:
            if v in s:
                s = s.replace(v, REDACTED)
        return s

    def bytes_(self, b: bytes) -> tuple[bytes, int]:
        n = 0
        for v in self.raw:
            c = b.count(v)
            if c:
                n += c
                b = b.replace(v, REDACTED.encode())
        return b, n

    def deep(self, value: Any) -> Any:
        if not self.texts:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(k): self.deep(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.deep(v) for v in value]
        return value

    def stream(self, key: Any, text: str, final: bool = False) -> str:
        """`text` with secrets replaced, minus a held-back tail that could start one (kept under `key`)."""
        if not self.texts and not self.pending:
            return text
        buf = self.text(self.pending.pop(key, "") + text)
        if final:
            return buf
        hold = 0
        for secret in self.texts:
            for n in range(min(len(secret) - 1, len(buf)), 0, -1):
                if buf.endswith(secret[:n]):
                    hold = max(hold, n)
                    break
        if hold:
            self.pending[key] = buf[-hold:]
            buf = buf[:-hold]
        return buf
