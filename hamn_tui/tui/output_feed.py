"""Engine output turned into display-safe lines for the output pane, cheaply and in batches.

`OutputFeed.feed` is an engine subscriber (synchronous, called in the app's event loop for
every event). It does only per-chunk work — decode, split at the last newline, neutralise,
redact — never per-line Python loops, so a flood of output costs little between frames.
The pane pulls what accumulated with `drain()` on a timer (~30 Hz) and writes it in one batch.

Decisions:
- Partial lines are kept per (step, node, stream): stdout and stderr are separate pipes, so a
  half line on one must not be glued to a line from the other. Complete lines of both streams
  go, in arrival order, to one list per (step, node).
- stderr lines are not marked by default: many tools (db2, pcs, systemctl) print ordinary
  progress on stderr, the order between two pipes is only approximate anyway, a prefix costs
  columns on an 80-column console, and the audit log keeps the streams apart. Pass
  `mark_stderr="! "` (any prefix) to mark them.
- Neutralising happens on complete lines only, so an escape sequence split across chunks is
  still recognised and removed whole. Redaction runs after neutralising, so colour codes inside
  a secret cannot smuggle it past the match.
- A line that grows past `max_partial` characters without a newline is emitted in pieces, so
  one endless line (a progress bar without `\\n`) cannot grow memory or cost quadratic time.
- Lines are kept as text blocks (one per chunk) and split only when drained. The pane drains
  with `drain_tail(max_lines)`, which splits only the newest `max_lines` lines of each key:
  a flood of a million lines costs a few C-level passes over the text, not a million `str`
  objects the pane would drop anyway (the audit log keeps every line on disk).
- Plain printable ASCII (most command output) is recognised with one C-level pass and skips
  the escape-sequence regexes.
"""
from __future__ import annotations

import codecs
import re
from typing import Any, Callable, Iterable

from ..record.events import CommandFinished, OutputChunk
from ..record.redact import Redactor
from ..textsafe import neutralise

Key = tuple[str, str]
"""(step_id, node): one command's output on one node."""

_StreamKey = tuple[str, str, str]

# C1 controls (U+0080–U+009F, e.g. 8-bit OSC U+009D) and Unicode line/paragraph separators:
# `neutralise` leaves them, some terminals act on C1 codes, and `Log.write_lines` would split
# lines at U+0085/U+2028/U+2029 (str.splitlines), so they are dropped here.
_EXTRA_CONTROL = re.compile("[\x80-\x9f\u2028\u2029]")
_PLAIN_ASCII = bytes([9, 10]) + bytes(range(32, 127))
"""Bytes that need no neutralising: `bytes.translate(None, _PLAIN_ASCII)` leaves only the others."""

MAX_PARTIAL = 65536


class _Blocks:
    """One key's complete lines since the last drain, as text blocks not yet split."""

    __slots__ = ("texts", "counts", "total")

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.counts: list[int] = []
        self.total = 0


class OutputFeed:
    """Buffers engine output as complete, display-safe lines per (step, node) until drained."""

    def __init__(self, secrets: Iterable[str] = (), *, mark_stderr: str = "", max_partial: int = MAX_PARTIAL):
        self._redactor = Redactor(secrets)
        self.mark_stderr = mark_stderr
        self.max_partial = max_partial
        self._decoders: dict[_StreamKey, Any] = {}
        self._tails: dict[_StreamKey, str] = {}
        self._out: dict[Key, _Blocks] = {}
        self.lines_total = 0
        """Complete lines produced so far (for benchmarks and diagnostics)."""

    @property
    def secrets(self) -> list[str]:
        """The run's secret values; each is shown as ****** (set before the run's output arrives)."""
        return self._redactor.secrets

    @secrets.setter
    def secrets(self, values: list[str]) -> None:
        self._redactor.secrets = list(values)

    # --- subscriber side -------------------------------------------------------------------------
    def feed(self, event: object) -> None:
        """Engine subscriber: take an `OutputChunk`; a `CommandFinished` flushes that command's tails."""
        if type(event) is OutputChunk:
            self._chunk(event.step_id, event.node, event.stream, event.data)
        elif type(event) is CommandFinished:
            self.flush(event.step_id, event.node)

    __call__: Callable[[object], None] = feed

    def _chunk(self, step_id: str, node: str, stream: str, data: bytes) -> None:
        sk = (step_id, node, stream)
        decoder = self._decoders.get(sk)
        if decoder is None:
            decoder = self._decoders[sk] = codecs.getincrementaldecoder("utf-8")(errors="replace")
        text = decoder.decode(data)
        if text:
            self._take(sk, text, final=False)

    def flush(self, step_id: str, node: str) -> None:
        """The command on `node` ended: emit every partial line it left (both streams) as a line."""
        for sk in [k for k in self._decoders if k[0] == step_id and k[1] == node]:
            text = self._decoders.pop(sk).decode(b"", final=True)
            self._take(sk, text, final=True)

    def _take(self, sk: _StreamKey, text: str, final: bool) -> None:
        tail = self._tails.pop(sk, "")
        buf = tail + text if tail else text
        if final:
            cut = len(buf)
        else:
            cut = buf.rfind("\n") + 1
            if cut == 0:
                if len(buf) < self.max_partial:
                    if buf:
                        self._tails[sk] = buf
                    return
                cut = len(buf)  # an endless line: emit it in pieces
            elif cut < len(buf):
                self._tails[sk] = buf[cut:]
        done = buf[:cut] if cut < len(buf) else buf
        if not (done.isascii() and not done.encode("ascii").translate(None, _PLAIN_ASCII)):
            done = _EXTRA_CONTROL.sub("", neutralise(done))
        if self._redactor.secrets or self._redactor.pending:
            done = self._redactor.stream(sk, done, final)
        if not done:
            return
        if done[-1] == "\n":
            done = done[:-1]
        count = done.count("\n") + 1
        if self.mark_stderr and sk[2] == "stderr":
            done = self.mark_stderr + done.replace("\n", "\n" + self.mark_stderr)
        key = (sk[0], sk[1])
        out = self._out.get(key)
        if out is None:
            out = self._out[key] = _Blocks()
        out.texts.append(done)
        out.counts.append(count)
        out.total += count
        self.lines_total += count

    # --- pane side ----------------------------------------------------------------------------------
    def drain(self) -> list[tuple[Key, list[str]]]:
        """Complete lines since the last drain: one (key, lines) per key, keys in first-arrival order."""
        return [(key, lines) for key, lines, _ in self.drain_tail(None)]

    def drain_tail(self, limit: int | None) -> list[tuple[Key, list[str], int]]:
        """Like `drain`, but only the newest `limit` lines of each key, with how many arrived in all.

        Returns (key, lines, arrived) per key; the older `arrived - len(lines)` lines are
        skipped without being split (a bounded display would drop them anyway).
        """
        if not self._out:
            return []
        out, self._out = self._out, {}
        result: list[tuple[Key, list[str], int]] = []
        for key, blocks in out.items():
            texts, counts, total = blocks.texts, blocks.counts, blocks.total
            first, kept = 0, total
            if limit is not None:
                while first < len(texts) - 1 and kept - counts[first] >= limit:
                    kept -= counts[first]
                    first += 1
            text = texts[first] if first == len(texts) - 1 else "\n".join(texts[first:])
            lines = text.split("\n")
            if limit is not None and len(lines) > limit:
                lines = lines[-limit:]
            result.append((key, lines, total))
        return result

    @property
    def pending(self) -> bool:
        """Whether `drain()` would return anything."""
        return bool(self._out)
