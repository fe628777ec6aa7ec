"""Pick the transport for a node, and bound how many nodes a group step reaches at once."""
from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Iterable, TypeVar

from .base import OutputSink, Result, Transport

LOCAL = "local"
T = TypeVar("T")


class Router:
    """Node "local" runs here (LocalTransport); every other node name goes to `remote`.

    `remote` is the SSH transport in live use, and the simulator's transport in training:
    the engine only ever talks to a Router.
    """

    def __init__(self, local: Transport, remote: Transport):
        self.local = local
        self.remote = remote

    def transport_for(self, node: str) -> Transport:
        return self.local if node == LOCAL else self.remote

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
        return await self.transport_for(node).run(
            node, command, user=user, timeout_s=timeout_s, on_output=on_output, cancel=cancel)

    def prepare(self, nodes: Iterable[str]) -> None:
        names = list(nodes)
        self.local.prepare([n for n in names if n == LOCAL])
        self.remote.prepare([n for n in names if n != LOCAL])

    async def close(self) -> None:
        await asyncio.gather(self.local.close(), self.remote.close())


async def bounded(items: Iterable[str], concurrency: int, fn: Callable[[str], Awaitable[T]]) -> dict[str, T]:
    """fn(item) for every item, at most `concurrency` at a time; results keyed by item, in the order given."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    names = list(dict.fromkeys(items))
    gate = asyncio.Semaphore(concurrency)

    async def one(name: str) -> T:
        async with gate:
            return await fn(name)

    return dict(zip(names, await asyncio.gather(*(one(n) for n in names))))

