"""The one interface every transport offers: run a command on a node as a user, stream its output.

A transport never turns a lost connection or a timeout into success or failure: the outcome
is then UNKNOWN (`Result.unknown`), and the engine re-probes before anyone decides.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Callable, Literal, Protocol

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


class TransportError(Exception):
    """The command could not be sent at all (unreachable, host key refused, auth failed).

    Nothing ran, so this is a known failure, not an unknown outcome.
    """


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

    async def close(self) -> None:
        ...
