"""Host probes that need nothing but a shell on the node: reachability, services, the service IP, clocks,
and the generic read-only `command` probe."""
from __future__ import annotations

import asyncio
import shlex
import time
from typing import Any, Callable, Mapping

from ..cluster.model import Cluster
from ..transport.base import Result, Transport, TransportError
from .base import ProbeSet, Reading

PROBE_TIMEOUT_S = 20


async def run_collect(transport: Transport, node: str, command: str, user: str | None = None, timeout_s: float = PROBE_TIMEOUT_S) -> tuple[Result, str, str]:
    """Run a probe command and collect its output (probes need the whole text, not a stream)."""
    out: list[bytes] = []
    err: list[bytes] = []

    def sink(stream: str, chunk: bytes) -> None:
        (out if stream == "stdout" else err).append(chunk)

    result = await transport.run(node, command, user=user, timeout_s=timeout_s, on_output=sink)
    return result, b"".join(out).decode("utf-8", "replace"), b"".join(err).decode("utf-8", "replace")


def host_probes(transport: Transport, cluster: Cluster | None, *, clock: Callable[[], float] = time.time) -> ProbeSet:
    """The `command` probe's `run` arrives already rendered (values quoted) by the check evaluator.

    `clock` is this console's clock, which node clocks are compared with (virtual in training).
    """

    async def command(node: str, args: Mapping[str, Any], user: str | None) -> Reading:
        cmd = str(args["run"])
        try:
            result, out, err = await run_collect(transport, node, cmd, user)
        except TransportError as exc:
            return Reading(error=str(exc))
        if result.unknown or result.ending != "exited":
            return Reading(error=f"command {result.ending}: {result.error or ''}".strip())
        return Reading({"exit_status": result.exit_status, "stdout": out, "stderr": err})

    async def reachable(node: str, args: Mapping[str, Any], user: str | None) -> Reading:
        try:
            result, _, _ = await run_collect(transport, node, "true", None, timeout_s=15)
        except TransportError as exc:
            if exc.unreachable:  # no route, or the SSH port refused: an observation
                return Reading({"reachable": False}, error=str(exc))
            return Reading(error=str(exc))  # a timeout or a refused login says nothing either way
        if result.unknown:
            return Reading(error=f"no answer within the probe's time ({result.ending})")
        return Reading({"reachable": result.ending == "exited"})

    async def service(node: str, args: Mapping[str, Any], user: str | None) -> Reading:
        name = shlex.quote(str(args["service"]))
        # LSB status: 0 running, 3 not running; AIX lssrc prints "active" / "inoperative".
        cmd = f"if command -v lssrc >/dev/null 2>&1; then lssrc -s {name} | grep -qw active && exit 0 || exit 3; else service {name} status >/dev/null 2>&1; fi"
        try:
            result, _, _ = await run_collect(transport, node, cmd)
        except TransportError as exc:
            return Reading(error=str(exc))
        if result.ending != "exited":
            return Reading(error=f"status check {result.ending}")
        if result.exit_status == 0:
            return Reading({"running": True})
        if result.exit_status in (1, 2, 3):
            return Reading({"running": False})
        return Reading(error=f"service status of {args['service']} unclear (exit {result.exit_status})")

    async def service_ip(node: str, args: Mapping[str, Any], user: str | None) -> Reading:
        if cluster is None or cluster.service_ip is None:
            return Reading(error="the cluster file has no [service_ip]")
        ip = cluster.service_ip.address
        holders: list[str] = []
        mine: bool | None = None
        names = [n for n in cluster.nodes if cluster.nodes[n].role in ("primary", "standby")]
        if args.get("only_this_node"):
            names = [node]

        async def addresses(name: str) -> str | None:
            try:
                result, out, _ = await run_collect(transport, name, "ip -o addr show 2>/dev/null || ifconfig -a")
            except TransportError:
                return None
            return out if result.ending == "exited" else None

        # Asked together: a dead node's connect timeout is paid once, not added to the others'.
        for name, out in zip(names, await asyncio.gather(*(addresses(n) for n in names))):
            if out is None:
                continue
            holds = any(tok.split("/")[0] == ip for tok in out.split())
            if holds:
                holders.append(name)
            if name == node:
                mine = holds
        if args.get("only_this_node"):
            return Reading({"holds": mine} if mine is not None else {}, error=None if mine is not None else f"{node}: not read")
        fields: dict[str, Any] = {"holder": holders[0] if len(holders) == 1 else None}
        if mine is not None:
            fields["holds"] = mine
        error = f"the service IP is on {len(holders)} nodes: {', '.join(holders)}" if len(holders) > 1 else None
        return Reading(fields, error=error)

    async def skew(node: str, args: Mapping[str, Any], user: str | None) -> Reading:
        before = clock()
        try:
            result, out, _ = await run_collect(transport, node, "date +%s.%N")
        except TransportError as exc:
            return Reading(error=str(exc))
        after = clock()
        try:
            remote = float(out.strip().replace("N", "0"))
        except ValueError:
            return Reading(error=f"unreadable date output {out.strip()!r}")
        return Reading({"skew_s": round(remote - (before + after) / 2, 3)})

    return ProbeSet({"command": command, "host.reachable": reachable, "host.service": service, "host.service_ip": service_ip, "host.clock": skew})
