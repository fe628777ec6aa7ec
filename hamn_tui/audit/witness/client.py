"""The console side: send a checkpoint and its records to a witness over plain `ssh`, host-key
checking on (StrictHostKeyChecking=yes, never off), and read its answer. The witness's account
forces `hamn witness serve`, so the command sent is ignored there; the key is the credential."""
from __future__ import annotations

import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .protocol import MAX_EXPORT, Answer, ExportError, encode_add, encode_export, encode_holds, parse_answer, parse_export
from .store import Held

MAX_ANSWER = 64 * 1024
MAX_PAGES = 1000
"""An export takes at most this many answers (each names a later origin than the last)."""


@dataclass
class SshTarget:
    """Where a witness is: user@host, port, the key that reaches its forced command, known_hosts."""

    host: str
    user: str = "hamn-witness"
    port: int = 22
    identity: Path | None = None
    known_hosts: Path | None = None
    connect_timeout_s: int = 10
    extra: list[str] = field(default_factory=list)

    def argv(self) -> list[str]:
        argv = ["ssh", "-T", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", f"ConnectTimeout={self.connect_timeout_s}",
                "-p", str(self.port), "-l", self.user]
        if self.identity is not None:
            argv += ["-i", str(self.identity), "-o", "IdentitiesOnly=yes"]
        if self.known_hosts is not None:
            argv += ["-o", f"UserKnownHostsFile={self.known_hosts}"]
        for opt in self.extra:
            if opt.lower().replace(" ", "").startswith(("stricthostkeychecking=no", "userknownhostsfile=/dev/null", "stricthostkeychecking=off")):
                raise ValueError(f"refusing ssh option {opt!r}: host-key checking stays on")
            argv += ["-o", opt]
        return argv + ["--", self.host, "hamn", "witness", "serve"]


class NoAnswer(Exception):
    """ssh could not be run, the witness did not answer in time or answered too much; one line."""


def exchange(target: SshTarget, request: bytes, timeout_s: float = 60.0) -> Answer:
    """Run the witness's forced command with `request` on stdin; a failure to connect is an
    unsuccessful Answer saying why (ssh's own last line)."""
    try:
        return parse_answer(_bounded(target, request, MAX_ANSWER, timeout_s))
    except NoAnswer as exc:
        return Answer(False, str(exc))


def send(signed_checkpoint: bytes, first: int, lines: list[bytes], target: SshTarget, timeout_s: float = 60.0) -> Answer:
    """Offer a checkpoint and records `first`… of its log to a witness; the Answer holds its cosignature."""
    return exchange(target, encode_add(signed_checkpoint, first, lines), timeout_s)


def holds(origin: str, target: SshTarget, timeout_s: float = 60.0) -> Answer:
    return exchange(target, encode_holds(origin), timeout_s)


def _bounded(target: SshTarget, request: bytes, limit: int, timeout_s: float) -> bytes:
    """ssh's stdout, read up to `limit` bytes: a witness answering more is cut off and refused,
    never held in memory whole (the request is written from a thread, so a witness that answers
    before it has read everything cannot stall us). Raises NoAnswer saying why there is none."""
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(target.argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
        except OSError as exc:
            raise NoAnswer(f"cannot run ssh: {exc}") from None
        late = threading.Event()

        def expire() -> None:
            late.set()
            proc.kill()

        def feed() -> None:
            try:
                assert proc.stdin is not None
                proc.stdin.write(request)
                proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass

        timer = threading.Timer(timeout_s, expire)
        timer.start()
        writer = threading.Thread(target=feed, name="hamn-witness-request", daemon=True)
        writer.start()
        try:
            assert proc.stdout is not None
            data = proc.stdout.read(limit + 1)
            if len(data) > limit:
                raise NoAnswer(f"{target.host} answered more than {limit} bytes")
            code = proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            writer.join()
            if proc.stdout is not None:
                proc.stdout.close()
        if late.is_set():
            raise NoAnswer(f"no answer from {target.host} within {timeout_s:g} s")
        if not data:
            err.seek(0, 2)
            err.seek(max(0, err.tell() - 4096))
            lines = err.read().decode("utf-8", "replace").strip().splitlines()
            raise NoAnswer(f"ssh {target.host} exited {code}: {lines[-1] if lines else 'no output'}")
        return data


def fetch(prefix: str, target: SshTarget, timeout_s: float = 120.0) -> list[tuple[Held, list[bytes]]]:
    """What a witness holds of the logs whose origin starts with `prefix` (the read side of
    `hamn witness serve`), page by page; raises ExportError (one line) on anything untrustworthy."""
    out: list[tuple[Held, list[bytes]]] = []
    after = ""
    for _ in range(MAX_PAGES):
        try:
            answer = _bounded(target, encode_export(prefix, after), MAX_EXPORT, timeout_s)
        except NoAnswer as exc:
            raise ExportError(str(exc)) from None
        page = parse_export(answer, prefix, after)
        out += page.logs
        if not page.more:
            return out
        after = page.more
    raise ExportError(f"{target.host} sent more than {MAX_PAGES} pages")
