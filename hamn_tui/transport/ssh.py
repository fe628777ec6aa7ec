"""Run commands on the cluster's nodes over SSH (asyncssh), one reused connection per node.

Host keys are always checked against known_hosts; there is no switch to turn that off.
The user's ~/.ssh/config is not read: the cluster file alone says where and how to connect.

How a command is stopped (timeout, cancel): the remote shell first prints its pid on a
private marker line (it is a session leader: sshd runs it under setsid), and the transport
runs killtree's script on a second channel of the same connection. The SSH "signal"
request is no use here: sshd 9.2 refuses it for root logins, and a process-group signal
would miss `su -c`/`runuser -c`, which start a new session.
"""
from __future__ import annotations

import asyncio
import os
import secrets
import time
from typing import Any, Callable, Iterable

import asyncssh

from ..cluster.model import Cluster, Node
from ..settings import settings
from .base import OutputSink, Result, Stream, TransportError
from .killtree import kill_tree_command
from .reach import DIALS, MEMO, is_definite, reusing
from .runas import wrap

CHUNK = 65536
_LOST = (asyncssh.DisconnectError, asyncssh.ChannelOpenError, BrokenPipeError, ConnectionError, OSError)


class _LostAtStart(Exception):
    """The connection dropped while the exec request was in flight: the command may have started."""


class PidSniffer:
    """Takes the `hamn-pid-NONCE:PID` line out of stdout and passes everything else on.

    Anything a login script printed before the marker is passed on too; if no marker shows
    up in the first 64 KiB, sniffing stops and the pid stays unknown.
    """

    LIMIT = 65536

    def __init__(self, nonce: str, forward: Callable[[bytes], None]):
        self.marker = f"hamn-pid-{nonce}:".encode()
        self.forward = forward
        self.pid: int | None = None
        self._buf = b""
        self._done = False

    def feed(self, chunk: bytes) -> None:
        if self._done:
            self.forward(chunk)
            return
        self._buf += chunk
        i = self._buf.find(self.marker)
        j = self._buf.find(b"\n", i) if i >= 0 else -1
        if j >= 0:
            digits = self._buf[i + len(self.marker):j]
            self.pid = int(digits) if digits.isdigit() else None
            rest = self._buf[:i] + self._buf[j + 1:]
            self._done, self._buf = True, b""
            if rest:
                self.forward(rest)
        elif len(self._buf) > self.LIMIT:
            self.flush()

    def flush(self) -> None:
        self._done = True
        if self._buf:
            buf, self._buf = self._buf, b""
            self.forward(buf)


def known_host_listed(known_hosts: str, node: Node) -> bool:
    """Whether the known_hosts file has a host key (or a CA key) for the node's address and port.
    Raises when the file cannot be read or parsed."""
    host_keys, ca_keys, *_ = asyncssh.read_known_hosts(known_hosts).match(node.address, node.address, node.port)
    return bool(host_keys or ca_keys)


def _hostport(node: Node) -> str:
    return node.address if node.port == 22 else f"[{node.address}]:{node.port}"


class SshTransport:
    """Transport over SSH to the nodes of a cluster file."""

    def __init__(self, cluster: Cluster, *, kill_grace_s: float = 2.0, keepalive_s: float = 15.0,
                 max_sessions_per_node: int = 8):
        self.cluster = cluster
        self.kill_grace_s = kill_grace_s
        self.keepalive_s = keepalive_s
        # sshd's default MaxSessions is 10 per connection: leave room for the kill channel.
        self.max_sessions_per_node = max_sessions_per_node
        self.known_hosts = os.path.expanduser(cluster.ssh.known_hosts or "~/.ssh/known_hosts")
        self.identity = os.path.expanduser(cluster.ssh.identity) if cluster.ssh.identity else None
        self._conns: dict[str, asyncssh.SSHClientConnection] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._failed: dict[str, tuple[float, TransportError]] = {}
        self._pending: set[asyncio.Future] = set()
        self.connects = 0
        """How many SSH connections were made (tests and the benchmark check reuse with it)."""

    # --- connections ----------------------------------------------------------------------

    def _node(self, node: str) -> Node:
        try:
            return self.cluster.nodes[node]
        except KeyError:
            raise TransportError(f"unknown node {node!r}: not in the cluster file "
                                 f"(nodes: {', '.join(sorted(self.cluster.nodes))})") from None

    def _where(self, name: str, node: Node) -> str:
        return f"{name} ({node.ssh_user}@{node.address}:{node.port})"

    async def _connection(self, name: str) -> asyncssh.SSHClientConnection:
        conn = self._conns.get(name)
        if conn is not None and not conn.is_closed():
            return conn
        asked = time.monotonic()
        async with self._locks.setdefault(name, asyncio.Lock()):
            conn = self._conns.get(name)
            if conn is None or conn.is_closed():
                failed = self._failed.get(name)
                if failed is not None and failed[0] >= asked and reusing():
                    # The attempt this caller queued behind failed: the same answer, not a second wait.
                    raise failed[1]
                try:
                    conn = await self._connect(name, self._node(name))
                except TransportError as exc:
                    self._failed[name] = (time.monotonic(), exc)
                    raise
                self._failed.pop(name, None)
                self._conns[name] = conn
            return conn

    def prepare(self, nodes: Iterable[str]) -> None:
        for name in nodes:
            conn = self._conns.get(name)
            if name not in self.cluster.nodes or (conn is not None and not conn.is_closed()):
                continue
            task = asyncio.ensure_future(self._connection(name))
            self._pending.add(task)
            # The failure belongs to whoever runs a command next (it waits on this attempt).
            task.add_done_callback(lambda t: (self._pending.discard(t), t.cancelled() or t.exception()))

    def _forget(self, name: str, conn: asyncssh.SSHClientConnection) -> None:
        if self._conns.get(name) is conn:
            del self._conns[name]
        conn.close()

    def _options(self, node: Node) -> dict[str, Any]:
        opts: dict[str, Any] = dict(
            port=node.port, username=node.ssh_user,
            known_hosts=self.known_hosts,       # a path: checked on every connect, never None
            config=None,                        # ignore ~/.ssh/config (it could relax checks)
            connect_timeout=self.cluster.ssh.connect_timeout_s,
            # AES-GCM first (OpenSSL, AES-NI): chacha20-poly1305, asyncssh's default first choice,
            # costs several times the event loop's CPU per packet; the defaults follow unchanged.
            encryption_algs="^aes128-gcm@openssh.com,aes256-gcm@openssh.com",
            keepalive_interval=self.keepalive_s, keepalive_count_max=3,
        )
        if self.identity:
            opts["client_keys"] = [self.identity]  # tried after the ssh-agent's keys (SSH_AUTH_SOCK)
        return opts

    async def _connect(self, name: str, node: Node) -> asyncssh.SSHClientConnection:
        where = self._where(name, node)
        if not os.path.isfile(self.known_hosts):
            raise TransportError(f"{where}: known_hosts file {self.known_hosts} does not exist; hamn checks every "
                                 "host key and refuses to connect without it", reason="host_key")
        if self.identity and not os.path.isfile(self.identity):
            raise TransportError(f"{where}: identity file {self.identity} (cluster file [ssh].identity) does not exist",
                                 reason="auth")
        silent = MEMO.silent(node.address, node.port)
        if silent is not None:
            raise TransportError(f"{where}: cannot connect: {silent.described()}; nothing was run", reason="unreachable")
        try:
            early = DIALS.take(node.address, node.port)
            sock = await asyncio.wrap_future(early) if early is not None else None
            conn = await asyncssh.connect(node.address, sock=sock, **self._options(node))
        except asyncssh.HostKeyNotVerifiable as exc:
            raise TransportError(await self._host_key_message(name, node, exc), reason="host_key") from None
        except asyncssh.PermissionDenied:
            keys = "the ssh-agent's keys" if settings().ssh_agent else "no ssh-agent (SSH_AUTH_SOCK unset)"
            keys += f" and identity {self.identity}" if self.identity else " and the default ~/.ssh/id_* keys"
            raise TransportError(f"{where}: authentication refused (tried {keys})", reason="auth") from None
        except asyncio.TimeoutError:
            raise TransportError(f"{where}: no SSH connection within {self.cluster.ssh.connect_timeout_s} s "
                                 "(cluster file [ssh].connect_timeout_s); nothing was run; whether it is up is not known",
                                 reason="timeout") from None
        except asyncssh.KeyImportError as exc:
            raise TransportError(f"{where}: cannot use identity {self.identity}: {exc} "
                                 "(an encrypted key must be loaded into ssh-agent)", reason="auth") from None
        except (OSError, asyncssh.Error) as exc:
            reason = os.strerror(exc.errno) if isinstance(exc, OSError) and exc.errno else str(exc)
            if isinstance(exc, OSError):
                MEMO.record(node.address, node.port, exc)
            raise TransportError(f"{where}: cannot connect: {reason}; nothing was run",
                                 reason="unreachable" if is_definite(exc) else "other") from None
        MEMO.forget(node.address, node.port)
        self.connects += 1
        return conn

    async def _host_key_message(self, name: str, node: Node, exc: Exception) -> str:
        presented = ""
        try:
            key = await asyncio.wait_for(asyncssh.get_server_host_key(node.address, node.port, config=None), 5)
            if key is not None:
                presented = f" It presented {key.get_algorithm()} {key.get_fingerprint()}."
        except Exception:  # the message is useful without it
            pass
        try:
            listed = known_host_listed(self.known_hosts, node)
        except Exception:
            listed = False
        where = f"node {name} ({node.address}:{node.port})"
        if listed:
            what = (f"host key does not match the key recorded for it in {self.known_hosts}. hamn refuses to "
                    "connect: the node was reinstalled, or another machine answers in its place.")
            fix = (f"only if they are the same, replace the entry (`ssh-keygen -R '{_hostport(node)}' "
                   f"-f {self.known_hosts}`, then add the node's key).")
        else:
            what = (f"host key does not match: {self.known_hosts} has no key for {_hostport(node)}. hamn refuses "
                    "to connect to a host it cannot verify.")
            fix = f"only if they are the same, add the node's key to {self.known_hosts}."
        return (f"{where}: {what}{presented} Check the fingerprint on the node's own console "
                f"(`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`); {fix} ({exc})")

    # --- running --------------------------------------------------------------------------

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
        spec = self._node(node)
        if cancel is not None and cancel.is_set():
            return Result("not_started", error="cancelled before the command was sent")
        start = time.monotonic()
        connecting = asyncio.ensure_future(self._connection(node))
        if cancel is not None:
            # Connecting may take connect_timeout_s; a cancel then is safe: nothing was sent yet.
            stop = asyncio.ensure_future(cancel.wait())
            await asyncio.wait({connecting, stop}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if not connecting.done():
                connecting.cancel()
                return Result("not_started", error="cancelled while connecting; nothing was sent")
        await connecting  # raises TransportError
        nonce = secrets.token_hex(6)
        text = f"printf 'hamn-pid-{nonce}:%s\\n' \"$$\"\n" + wrap(
            command, user=user, login_user=spec.ssh_user, method=spec.run_as)
        async with self._slots.setdefault(node, asyncio.Semaphore(self.max_sessions_per_node)):
            try:
                conn, process = await self._start(node, text)
            except _LostAtStart as exc:
                return Result("lost", duration_us=int((time.monotonic() - start) * 1e6),
                              error=f"{self._where(node, spec)}: connection lost while starting the command, "
                                    f"so it may or may not have started ({exc})")
            return await self._follow(node, spec, conn, process, nonce, user, timeout_s, on_output, cancel, start)

    async def _start(self, name: str, text: str) -> tuple[asyncssh.SSHClientConnection, asyncssh.SSHClientProcess]:
        """Open a session and send the command; a dead cached connection is replaced once."""
        for attempt in (1, 2):
            conn = await self._connection(name)
            try:
                return conn, await conn.create_process(text, encoding=None, stdin=asyncssh.DEVNULL)
            except asyncssh.ChannelOpenError as exc:
                # No session was opened, so nothing ran: the connection died while idle.
                self._forget(name, conn)
                if attempt == 2:
                    raise TransportError(f"{self._where(name, self._node(name))}: cannot open a session: "
                                         f"{exc.reason}; nothing was run") from None
            except (asyncssh.DisconnectError, OSError) as exc:
                self._forget(name, conn)
                raise _LostAtStart(str(exc)) from None
        raise AssertionError("unreachable")

    async def _follow(self, name: str, spec: Node, conn: asyncssh.SSHClientConnection,
                      process: asyncssh.SSHClientProcess, nonce: str, user: str | None, timeout_s: float,
                      on_output: OutputSink | None, cancel: asyncio.Event | None, start: float) -> Result:
        counts = {"stdout": 0, "stderr": 0}

        def deliver(stream: Stream) -> Callable[[bytes], None]:
            def send(chunk: bytes) -> None:
                counts[stream] += len(chunk)
                if on_output is not None:
                    on_output(stream, chunk)
            return send

        sniffer = PidSniffer(nonce, deliver("stdout"))
        to_stderr = deliver("stderr")

        async def read_stdout() -> None:
            while chunk := await process.stdout.read(CHUNK):
                sniffer.feed(chunk)
            sniffer.flush()

        async def read_stderr() -> None:
            while chunk := await process.stderr.read(CHUNK):
                to_stderr(chunk)

        done = asyncio.ensure_future(asyncio.gather(read_stdout(), read_stderr(), process.wait_closed()))
        waiters: set[asyncio.Future] = {done}
        cancelled = asyncio.ensure_future(cancel.wait()) if cancel is not None else None
        if cancelled is not None:
            waiters.add(cancelled)
        ending: str | None = None
        note = ""
        lost: BaseException | None = None
        try:
            finished, _ = await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
            if done not in finished:
                ending = "cancelled" if cancelled is not None and cancelled in finished else "timeout"
                note = await self._stop(name, spec, conn, process, sniffer.pid, user)
                try:
                    await asyncio.wait_for(asyncio.shield(done), self.kill_grace_s + 3)
                except asyncio.TimeoutError:
                    process.close()  # an escaped process still holds the output open: stop waiting
                    done.cancel()
                    note += "; output still held open by an escaped process, channel closed"
                except _LOST:
                    note += "; the connection was lost while stopping it"
            else:
                lost = done.exception()
                if lost is not None and not isinstance(lost, _LOST):
                    raise lost  # the output sink failed: a bug on our side, not the node's
        except asyncio.CancelledError:
            await asyncio.shield(self._stop(name, spec, conn, process, sniffer.pid, user))
            done.cancel()
            raise
        finally:
            if cancelled is not None:
                cancelled.cancel()
            process.close()
        if lost is not None or conn.is_closed():
            self._forget(name, conn)
        common: dict[str, Any] = dict(duration_us=int((time.monotonic() - start) * 1e6),
                                      stdout_bytes=counts["stdout"], stderr_bytes=counts["stderr"])
        where = self._where(name, spec)
        if ending == "timeout":
            return Result("timeout", error=f"no end after {timeout_s:g} s on {where}; stopped it ({note}); "
                                           "whether it did its work is unknown", **common)
        if ending == "cancelled":
            return Result("cancelled", error=f"cancelled by the operator; stopped it on {where} ({note})", **common)
        status, sig = process.exit_status, process.exit_signal
        if lost is not None:
            known = f" after it reported exit status {status}" if status is not None and sig is None else ""
            return Result("lost", exit_status=status if sig is None else None,
                          error=f"{where}: connection lost{known} ({lost or 'closed'}); output may be incomplete, "
                                "and whether the command did its work is unknown", **common)
        if sig is not None:
            return Result("signalled", signal=sig[0], **common)
        if status is None:
            return Result("lost", error=f"{where}: the session closed without an exit status; "
                                        "whether the command did its work is unknown", **common)
        return Result("exited", exit_status=status, **common)

    async def _stop(self, name: str, spec: Node, conn: asyncssh.SSHClientConnection,
                    process: asyncssh.SSHClientProcess, pid: int | None, user: str | None) -> str:
        """Make the remote command and its children go away; says what happened."""
        if pid is None:
            # Not even the first line arrived. A signal request works for non-root logins only.
            try:
                process.send_signal("KILL")
            except (asyncssh.Error, OSError):
                pass
            process.close()
            return ("its remote pid was not known yet: sent a KILL signal request and closed the channel; "
                    "sshd ignores that request for root logins, so the command may still be running")
        kill = kill_tree_command(pid, self.kill_grace_s)
        commands = [kill]
        if user and user != spec.ssh_user and spec.ssh_user != "root":
            # The login user may not be allowed to signal the run-as user's processes.
            commands.append(wrap(kill, user=user, login_user=spec.ssh_user, method=spec.run_as))
        notes = []
        for text in commands:
            try:
                r = await asyncio.wait_for(conn.run(text, encoding="utf-8", stdin=asyncssh.DEVNULL),
                                           self.kill_grace_s + 10)
                out = str(r.stdout or "").strip() or str(r.stderr or "").strip() or f"exit {r.exit_status}"
                notes.append(out.removeprefix("hamn-kill: "))
            except (asyncio.TimeoutError, *_LOST) as exc:
                notes.append(f"could not run the kill script: {exc or type(exc).__name__}")
        return "; ".join(notes)

    async def close(self) -> None:
        for task in list(self._pending):
            task.cancel()
        conns, self._conns = list(self._conns.values()), {}
        for conn in conns:
            conn.close()
        for conn in conns:
            await conn.wait_closed()
