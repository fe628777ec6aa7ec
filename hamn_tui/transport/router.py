"""Pick the transport for a node, and fan one command out over a group of nodes."""
from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Iterable, TypeVar

from .base import OutputSink, Result, Stream, Transport, TransportError

LOCAL = "local"
T = TypeVar("T")

NodeOutputSink = Callable[[str, Stream, bytes], None]
"""Receives (node, stream, chunk) as output arrives; must not block."""


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


async def fanout(
    transport: Transport,
    nodes: Iterable[str],
    command: str,
    user: str | None = None,
    timeout_s: float = 300,
    concurrency: int = 8,
    on_output: NodeOutputSink | None = None,
    cancel: asyncio.Event | None = None,
) -> dict[str, Result | TransportError]:
    """Run `command` on every node, at most `concurrency` at a time; one node's failure stops no other.

    Output reaches `on_output` tagged with its node, so each node's output stays its own.
    The result maps every node (in the order given) to its Result, or to the TransportError
    that kept the command from starting there.
    """
    async def one(node: str) -> Result | TransportError:
        sink: OutputSink | None = None
        if on_output is not None:
            def sink(stream: Stream, chunk: bytes, _node: str = node) -> None:
                on_output(_node, stream, chunk)
        if cancel is not None and cancel.is_set():
            return Result("not_started", error="cancelled before it started on this node")
        try:
            return await transport.run(node, command, user=user, timeout_s=timeout_s,
                                       on_output=sink, cancel=cancel)
        except TransportError as exc:
            return exc

    return await bounded(nodes, concurrency, one)
