"""Command output kept beside the log: content-addressed, gzip-compressed, secrets redacted.

`outputs/<sha256>.gz` holds bytes whose SHA-256 (uncompressed) is the name; the log's
`command_finished` record gives the hash and size of each stream, and when each chunk came
(from which an asciicast v2 recording is rebuilt); the verifier checks them. Identical
outputs are stored once. The directory is 0700 and the files 0600 whatever the umask; a
reader opens only regular files and reads no more than the recorded size (`files.py`).
"""
from __future__ import annotations

import codecs
import gzip
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from ..record.redact import Redactor
from .files import private_dir, private_file, read_gzip

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class OutputStore:
    def __init__(self, directory: Path, fsync: bool = True):
        self.dir = directory
        self.fsync = fsync
        self._n = 0

    def path(self, sha256: str) -> Path:
        return self.dir / f"{sha256}.gz"

    def open_blob(self) -> "BlobWriter":
        self._n += 1
        return BlobWriter(self, self.dir / f".tmp-{os.getpid()}-{self._n}")

    def read(self, sha256: str, size: int | None = None) -> bytes:
        """An output's content. `size`: what the log records, read no further (else at most
        `files.MAX_OUTPUT`). OSError (UnsafeFile) when it is missing, damaged, no regular file or larger."""
        return read_gzip(self.path(sha256), size)

    def sync_dir(self) -> None:
        if self.fsync:
            fd = os.open(self.dir, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


class BlobWriter:
    """Streams bytes into a gzip temp file (made at the first byte), hashing them; `finish()`
    names it by its hash."""

    def __init__(self, store: OutputStore, tmp: Path):
        self.store = store
        self.tmp = tmp
        self.raw: Any = None
        self.gz: Any = None
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        if data:
            if self.gz is None:
                private_dir(self.store.dir)
                self.raw = os.fdopen(private_file(self.tmp, os.O_TRUNC), "wb")  # closed in finish()/discard()
                self.gz = gzip.GzipFile(filename="", mode="wb", fileobj=self.raw, mtime=0, compresslevel=6)
            self.gz.write(data)
            self.sha.update(data)
            self.size += len(data)

    def finish(self) -> tuple[str, int, bool]:
        """(hash, size, whether a new file appeared): durable under its final name once the
        caller has synced the directory — before the record that names it is written."""
        digest = self.sha.hexdigest()
        if self.gz is None:
            return digest, 0, False
        self.gz.close()
        self.raw.flush()
        final = self.store.path(digest)
        if final.exists():  # stored (and synced) before: a group step's identical outputs cost no fsync each
            self.raw.close()
            self.tmp.unlink(missing_ok=True)
            return digest, self.size, False
        if self.store.fsync:
            os.fsync(self.raw.fileno())
        self.raw.close()
        os.replace(self.tmp, final)
        return digest, self.size, True

    def discard(self) -> None:
        """Drop an unfinished blob (its command never finished, or the disk is full): never raises."""
        if self.gz is None:
            return
        for close in (self.gz.close, self.raw.close):
            try:
                close()
            except OSError:
                pass
        try:
            self.tmp.unlink(missing_ok=True)
        except OSError:
            pass


TIMING_MERGE_MS = 50
TIMING_MAX = 1000
"""The chunk timing a command_finished record keeps: chunks of one stream less than 50 ms apart
are one entry, and at most 1000 entries (later chunks join the last one)."""


class CommandCapture:
    """One running command's output, redacted: stdout and stderr into the store, and when each
    chunk came (`timing`: [ms since the command was sent, 0 stdout | 1 stderr, bytes]), from
    which `cast()` rebuilds an asciicast v2 recording."""

    def __init__(self, store: OutputStore, redactor: Redactor):
        self.redactor = redactor
        self.store = store
        self.streams = {"stdout": store.open_blob(), "stderr": store.open_blob()}
        self.pending = {"stdout": b"", "stderr": b""}
        self.started = time.monotonic()
        self.timing: list[list[int]] = []
        self.redactions = 0

    def write(self, stream: str, data: bytes) -> None:
        stream = stream if stream in self.streams else "stdout"
        buf = self.pending[stream] + data
        if self.redactor:
            buf, n = self.redactor.bytes_(buf)
            self.redactions += n
            cut = max(len(buf) - self.redactor.keep, 0)
            ready, self.pending[stream] = buf[:cut], buf[cut:]
        else:
            ready = buf
        self._emit(stream, ready)

    def _emit(self, stream: str, data: bytes) -> None:
        if not data:
            return
        self.streams[stream].write(data)
        ms = int((time.monotonic() - self.started) * 1000)
        which = 0 if stream == "stdout" else 1
        last = self.timing[-1] if self.timing else None
        if last is not None and (len(self.timing) >= TIMING_MAX or (last[1] == which and ms - last[0] < TIMING_MERGE_MS)):
            if last[1] == which:
                last[2] += len(data)
                return
            if len(self.timing) >= TIMING_MAX:
                ms = last[0]
        self.timing.append([ms, which, len(data)])

    def finish(self) -> dict[str, Any]:
        for stream in self.streams:
            self._emit(stream, self.pending[stream])
            self.pending[stream] = b""
        out: dict[str, Any] = {}
        new = False
        for stream, blob in self.streams.items():
            out[f"{stream}_sha256"], out[f"{stream}_size"], made = blob.finish()
            new |= made
        if new:
            self.store.sync_dir()  # one directory fsync makes every new name durable
        out["redactions"] = self.redactions
        out["timing"] = self.timing
        return out

    def discard(self) -> None:
        for blob in self.streams.values():
            blob.discard()


def cast(title: str, started: int, timing: list[list[int]], stdout: bytes, stderr: bytes, width: int = 120, height: int = 40) -> bytes:
    """An asciicast v2 recording (https://docs.asciinema.org/manual/asciicast/v2/) of a command's
    output, both streams as terminal output, at the times the log recorded."""
    header = {"version": 2, "width": width, "height": height, "timestamp": started, "title": title,
              "env": {"TERM": "xterm-256color", "SHELL": "/bin/sh"}}
    out = [json.dumps(header, ensure_ascii=False)]
    data = (stdout, stderr)
    pos = [0, 0]
    decoders = [codecs.getincrementaldecoder("utf-8")("replace") for _ in data]
    for ms, which, size in timing:
        chunk = data[which][pos[which]: pos[which] + size]
        pos[which] += size
        text = decoders[which].decode(chunk)
        if text:
            # the command wrote LF (no pty); a terminal needs CR LF
            out.append(json.dumps([ms / 1000, "o", text.replace("\r\n", "\n").replace("\n", "\r\n")], ensure_ascii=False))
    return ("\n".join(out) + "\n").encode()
