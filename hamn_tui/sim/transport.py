"""The simulator behind the Transport interface: the engine and the real probes cannot tell it from SSH.

Node names are the training cluster file's; `local` is the console where hamn runs. A node
that is down (or cut off from the console) cannot be reached: TransportError, as SSH gives.
A command that takes more virtual time than its timeout ends in "timeout"; one whose node
dies under it ends "lost" — both unknown outcomes, as with a real connection.
"""
from __future__ import annotations

import asyncio
from typing import Iterable

from ..transport.base import OutputSink, Result, TransportError
from .cluster import SimCluster
from .shell import Shell


class SimTransport:
    def __init__(self, sim: SimCluster, login_users: dict[str, str] | None = None):
        self.sim = sim
        self.login_users = login_users or {}
        self.sent: list[tuple[str, str | None, str]] = []
        """(node, user, command) of every command run, in order: what a trainee (or a test) did."""

    async def run(self, node: str, command: str, *, user: str | None = None, timeout_s: float = 300,
                  on_output: OutputSink | None = None, cancel: asyncio.Event | None = None) -> Result:
        target = self.sim.nodes.get(node)
        if target is None:
            raise TransportError(f"{node}: not a node of the training cluster ({', '.join(sorted(self.sim.nodes))})")
        if not self.sim.console_reaches(target) or (target.kind != "console" and not self.sim.holds(target, target.address)):
            raise TransportError(f"ssh: connect to host {target.address} port 22: No route to host", reason="unreachable")
        who = user or self.login_users.get(node, "root")
        if who not in target.users:
            return await self._result(on_output, 1, "", f"su: user {who} does not exist\n", 0.0, timeout_s)
        self.sent.append((node, user, command))
        started = self.sim.clock.now()
        status, out, err = Shell(self.sim, target, who).run(command)
        elapsed = self.sim.clock.now() - started
        if target.kind != "console" and not (target.up and self.sim.holds(target, target.address)):
            await self._emit(on_output, out, err)
            return Result("lost", duration_us=int(elapsed * 1e6), error=f"the connection to {node} was lost while the command ran")
        return await self._result(on_output, status, out, err, elapsed, timeout_s)

    async def _emit(self, on_output: OutputSink | None, out: str, err: str) -> None:
        if on_output is not None:
            if out:
                on_output("stdout", out.encode())
            if err:
                on_output("stderr", err.encode())
        await asyncio.sleep(0)

    async def _result(self, on_output: OutputSink | None, status: int, out: str, err: str, elapsed: float, timeout_s: float) -> Result:
        await self._emit(on_output, out, err)
        if elapsed > timeout_s:
            return Result("timeout", duration_us=int(elapsed * 1e6), stdout_bytes=len(out.encode()), stderr_bytes=len(err.encode()),
                          error=f"still running after {timeout_s:g} s (virtual time): it may or may not have done its work")
        return Result("exited", status, duration_us=int(elapsed * 1e6), stdout_bytes=len(out.encode()), stderr_bytes=len(err.encode()))

    def prepare(self, nodes: Iterable[str]) -> None:
        """Nothing to connect: reaching a simulated node costs no time."""

    async def close(self) -> None:
        return None
