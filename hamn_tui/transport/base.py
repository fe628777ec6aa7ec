"""The one interface every transport offers: run a command on a node as a user, stream its output.

A transport never turns a lost connection or a timeout into success or failure: the outcome
is then UNKNOWN (`Result.unknown`), and the engine re-probes before anyone decides.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Callable, Iterable, Literal, Protocol

Stream = Literal["stdout", "stderr"]
OutputSink = Callable[[Stream, bytes], None]
"""Receives output in chunks as it arrives (not per line); must not block."""

Ending = Literal["exited", "signalled", "timeout", "lost", "cancelled", "not_started"]


@dataclass(frozen=True)
class Result:
    ending: Ending
    exit_status: int | None = None
    signal: str | None = None
    duration_us: int = 0
    stdout_bytes: int = 0
    stderr_bytes: int = 0
    error: str | None = None
    """Why it did not end normally, in words an operator can act on."""

    @property
    def unknown(self) -> bool:
        """The command may or may not have done its work: it was sent, and then we lost sight of it
        (a cancel after sending counts: the command may have done part of its work)."""
        return self.ending in ("timeout", "lost", "cancelled")

    @property
    def ok(self) -> bool:
        return self.ending == "exited" and self.exit_status == 0


TransportFailure = Literal["unreachable", "timeout", "host_key", "auth", "other"]


class TransportError(Exception):
    """The command could not be sent at all (unreachable, host key refused, auth failed).

    Nothing ran, so this is a known failure, not an unknown outcome. `reason` says which kind,
    for a caller that must tell "the node did not answer" from "the node refused us". Only
    "unreachable" is an observation that the node is down (no route to it, or its SSH port
    refused); a "timeout" says nothing either way (a busy or far node may just be slow), and
    "host_key"/"auth" mean something answered.
    """

    def __init__(self, message: str = "", *, reason: TransportFailure = "other"):
        super().__init__(message)
        self.reason: TransportFailure = reason

    @property
    def unreachable(self) -> bool:
        return self.reason == "unreachable"


class Transport(Protocol):
    async def run(
        self,
        node: str,
        command: str,
        *,
        user: str | None = None,
        timeout_s: float = 300,
        on_output: OutputSink | None = None,
        cancel: asyncio.Event | None = None,
    ) -> Result:
        """Run `command` (shell text) on `node` as `user` (None: the login user).

        Returns when the command ended, timed out, was cancelled or the connection was lost;
        on timeout or cancel the remote process (and its children) must be gone afterwards.
        Raises TransportError when the command could not be started.
        """
        ...

    def prepare(self, nodes: Iterable[str]) -> None:
        """Start connecting to these nodes now, all at once, and return at once.

        A later run() on one of them waits for that attempt instead of starting its own, and
        gets its failure if it failed: so a dead node's timeout is paid once, alongside the
        others. Never raises. A transport without connections does nothing.
        """
        ...

    async def close(self) -> None:
        ...
