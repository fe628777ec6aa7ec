"""One operator at a time: a lock directory on every node of the cluster.

`mkdir` is atomic on every POSIX filesystem, so of two operators racing for a node exactly
one creates its lock directory. Nodes are taken in sorted order (two racing operators meet
at the same first node, so neither ends up holding half the cluster), and whatever was taken
is given back when a later node is held. Inside the directory, `holder` says who holds it,
written to a temporary name and renamed, so a reader never sees half of it.
"""
from __future__ import annotations

import json
import re
import shlex
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Iterable

from ..settings import LOCK_DIR
from ..transport.base import Transport, TransportError

_MARK = "hamn-lock:"


class LockError(Exception):
    """The lock could not be taken or given back on a node (unreachable, permissions, lost)."""


@dataclass(frozen=True)
class Holder:
    """Who holds the lock: shown to the operator who is refused, and recorded in the audit log."""

    user: str
    host: str
    run_id: str
    since: str
    """RFC 3339, UTC."""

    @classmethod
    def now(cls, user: str, host: str, run_id: str) -> "Holder":
        return cls(user, host, run_id, datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "Holder":
        """Parse a holder file; anything unreadable still yields a Holder that says so."""
        try:
            data = json.loads(text)
            return cls(**{k: str(data[k]) for k in ("user", "host", "run_id", "since")})
        except (ValueError, TypeError, KeyError):
            return cls(user="unknown", host="unknown", run_id="unknown",
                       since=f"unreadable holder file: {text.strip()[:200]!r}")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "_"


class ClusterLock:
    """The lock over `nodes` of cluster `cluster_name`, taken through `transport`."""

    def __init__(self, transport: Transport, nodes: Iterable[str], cluster_name: str, lock_dir: str = LOCK_DIR):
        self.transport = transport
        self.nodes = sorted(set(nodes))
        self.cluster_name = cluster_name
        self.lock_dir = lock_dir.rstrip("/") or "/"
        self.holder: Holder | None = None
        self.taken: list[str] = []
        self.skipped: dict[str, str] = {}
        """Nodes left out because they were unreachable (acquire(skip_unreachable=True)), with why."""
        self.broken: dict[str, Holder] = {}
        """Holders removed by break_and_acquire, per node (for the audit log)."""

    def path(self, node: str) -> str:
        """Per cluster AND node name: two node entries for one host (tests, VIPs) do not collide."""
        return f"{self.lock_dir}/hamn-{_safe(self.cluster_name)}-{_safe(node)}.lock"

    async def _sh(self, node: str, script: str) -> list[str]:
        out: list[bytes] = []
        err: list[bytes] = []
        result = await self.transport.run(
            node, script, timeout_s=30,
            on_output=lambda stream, chunk: (out if stream == "stdout" else err).append(chunk))
        text = b"".join(out).decode(errors="replace")
        if not result.ok:
            why = b"".join(err).decode(errors="replace").strip() or result.error or f"ending {result.ending}"
            raise LockError(f"{node}: lock command failed ({result.ending}, status {result.exit_status}): {why}")
        return text.splitlines()

    @staticmethod
    def _parse(lines: list[str]) -> tuple[str, str]:
        """(state, rest): the marker line's word, and the text after it (a holder file)."""
        for i, line in enumerate(lines):
            if line.startswith(_MARK):
                return line[len(_MARK):], "\n".join(lines[i + 1:])
        raise LockError(f"unexpected answer from the lock command: {lines[:5]!r}")

    async def _try(self, node: str, holder: Holder) -> Holder | None:
        d, h = shlex.quote(self.path(node)), shlex.quote(holder.to_json())
        script = (
            f"d={d}; h={h}\n"
            'if mkdir "$d" 2>/dev/null; then\n'
            '  if printf "%s\\n" "$h" > "$d/holder.tmp" && mv -f "$d/holder.tmp" "$d/holder"; then\n'
            f'    echo {_MARK}acquired; exit 0\n'
            "  fi\n"
            '  rm -f "$d/holder.tmp"; rmdir "$d"; echo "cannot write $d/holder" >&2; exit 2\n'
            "fi\n"
            'if [ -d "$d" ]; then\n'
            # The winner may be between its mkdir and its rename: give it a moment.
            '  i=0; while [ ! -s "$d/holder" ] && [ "$i" -lt 40 ]; do sleep 0.05; i=$((i + 1)); done\n'
            f'  echo {_MARK}held; cat "$d/holder" 2>/dev/null; exit 0\n'
            "fi\n"
            'mkdir "$d"; exit 2\n'
        )
        state, rest = self._parse(await self._sh(node, script))
        if state == "acquired":
            return None
        return Holder.from_json(rest)

    async def _release(self, node: str, run_id: str) -> bool:
        """Remove the node's lock only if it is ours (someone may have broken and retaken it)."""
        d = shlex.quote(self.path(node))
        mine = shlex.quote(json.dumps({"run_id": run_id}, separators=(",", ":"), ensure_ascii=False)[1:-1])
        script = (
            f"d={d}; mine={mine}\n"
            'if [ -d "$d" ] && grep -qF -- "$mine" "$d/holder" 2>/dev/null; then\n'
            f'  rm -f "$d/holder" "$d/holder.tmp" && rmdir "$d" && echo {_MARK}released && exit 0\n'
            "  exit 2\n"
            "fi\n"
            f"echo {_MARK}not-ours\n"
        )
        state, _ = self._parse(await self._sh(node, script))
        return state == "released"

    async def _break(self, node: str) -> Holder | None:
        d = shlex.quote(self.path(node))
        script = (
            f"d={d}\n"
            f'if [ ! -d "$d" ]; then echo {_MARK}free; exit 0; fi\n'
            f'echo {_MARK}broken; cat "$d/holder" 2>/dev/null\n'
            'rm -f "$d/holder" "$d/holder.tmp" && rmdir "$d"\n'
        )
        state, rest = self._parse(await self._sh(node, script))
        return Holder.from_json(rest) if state == "broken" else None

    async def _give_back(self, nodes: list[str], run_id: str) -> None:
        for node in reversed(nodes):
            try:
                await self._release(node, run_id)
            except (TransportError, LockError):
                pass  # best effort while backing out; the holder file names the run if it stays

    async def acquire(self, holder: Holder, *, skip_unreachable: bool = False) -> Holder | None:
        """Take every node's lock: None when taken, else who holds it (and nothing stays taken).

        skip_unreachable: during an outage the failed node cannot be locked; leave out nodes
        where the command could not even start (they are listed in `skipped`).
        Raises LockError when a node could not be locked for another reason.
        """
        taken: list[str] = []
        self.skipped = {}
        # Connect to every node at once, then take the locks in the fixed order (so two consoles
        # racing cannot each hold half): a dead node's connect timeout is paid once, alongside
        # the others, not added to them.
        self.transport.prepare(self.nodes)
        for node in self.nodes:
            try:
                other = await self._try(node, holder)
            except TransportError as exc:
                if skip_unreachable:
                    self.skipped[node] = str(exc)
                    continue
                await self._give_back(taken, holder.run_id)
                raise LockError(f"{node}: cannot take the lock: {exc}") from exc
            except LockError:
                # The answer was lost or garbled: the directory may exist and be ours.
                await self._give_back(taken + [node], holder.run_id)
                raise
            if other is not None:
                await self._give_back(taken, holder.run_id)
                return other
            taken.append(node)
        if not taken:
            raise LockError(f"no node could be locked: {self.skipped}")
        self.holder, self.taken = holder, taken
        return None

    async def release(self) -> None:
        """Give back what acquire took. Raises LockError naming the nodes it could not reach."""
        if self.holder is None:
            return
        failed: dict[str, str] = {}
        for node in reversed(self.taken):
            try:
                await self._release(node, self.holder.run_id)
            except (TransportError, LockError) as exc:
                failed[node] = str(exc)
        self.holder, self.taken = None, []
        if failed:
            raise LockError("lock left in place on " + "; ".join(f"{n}: {why}" for n, why in failed.items()))

    async def break_and_acquire(self, holder: Holder, *, skip_unreachable: bool = False) -> Holder | None:
        """Remove whoever holds the lock (recorded in `broken`), then acquire as usual.

        Returns None when taken; a Holder if someone else took a node in between.
        """
        self.broken = {}
        for node in self.nodes:
            try:
                old = await self._break(node)
            except TransportError as exc:
                if skip_unreachable:
                    continue
                raise LockError(f"{node}: cannot break the lock: {exc}") from exc
            if old is not None:
                self.broken[node] = old
        return await self.acquire(holder, skip_unreachable=skip_unreachable)

    async def holders(self) -> dict[str, Holder | None]:
        """Who holds each node's lock now (None: free); read only."""
        out: dict[str, Holder | None] = {}
        for node in self.nodes:
            d = shlex.quote(self.path(node))
            state, rest = self._parse(await self._sh(
                node, f'd={d}; if [ -d "$d" ]; then echo {_MARK}held; cat "$d/holder" 2>/dev/null; '
                      f'else echo {_MARK}free; fi'))
            out[node] = Holder.from_json(rest) if state == "held" else None
        return out
