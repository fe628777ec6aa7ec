"""Run a command on this machine (node "local"): the standby's console during an outage."""
from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import signal
import time
from typing import Any, Awaitable, Callable, Iterable, Sequence

from .base import OutputSink, Result, Stream, TransportError
from .killtree import kill_tree_command
from .runas import RunAs, wrap

CHUNK = 65536


def _login_user() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name


async def pump(read: Callable[[int], Awaitable[bytes]], stream: Stream, sink: OutputSink | None,
               counts: dict[str, int]) -> None:
    """Copy one output stream to `sink` chunk by chunk, as it arrives, until EOF."""
    while True:
        chunk = await read(CHUNK)
        if not chunk:
            return
        counts[stream] += len(chunk)
        if sink is not None:
            sink(stream, chunk)


def signal_name(number: int) -> str:
    """`TERM` for 15: the SSH spelling, so local and remote results read the same."""
    try:
        return signal.Signals(number).name.removeprefix("SIG")
    except ValueError:
        return str(number)


class LocalTransport:
    """asyncio subprocess in its own session; timeout and cancel stop its whole process tree.

    Run-as: `runuser` when we are root (no PAM prompt, no sudoers needed), else `sudo -n`.
    """

    def __init__(self, *, kill_grace_s: float = 2.0, shell: str | None = None, run_as: RunAs | None = None):
        self.kill_grace_s = kill_grace_s
        self.shell = shell or shutil.which("bash") or "/bin/sh"
        self.login_user = _login_user()
        self.run_as: RunAs = run_as or ("runuser" if os.geteuid() == 0 else "sudo")

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
        if cancel is not None and cancel.is_set():
            return Result("not_started", error="cancelled before the command was started")
        text = wrap(command, user=user, login_user=self.login_user, method=self.run_as)
        start = time.monotonic()
        try:
            proc = await asyncio.create_subprocess_exec(
                self.shell, "-c", text,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            raise TransportError(f"local: cannot start {self.shell}: {exc}") from exc
        counts = {"stdout": 0, "stderr": 0}
        assert proc.stdout is not None and proc.stderr is not None
        # The command is over when it exited AND both pipes reached EOF (as with ssh).
        exited = asyncio.ensure_future(proc.wait())
        parts = [asyncio.ensure_future(pump(proc.stdout.read, "stdout", on_output, counts)),
                 asyncio.ensure_future(pump(proc.stderr.read, "stderr", on_output, counts)), exited]
        done = asyncio.ensure_future(asyncio.gather(*parts))
        waiters: set[asyncio.Future] = {done}
        cancelled = asyncio.ensure_future(cancel.wait()) if cancel is not None else None
        if cancelled is not None:
            waiters.add(cancelled)
        ending: str | None = None
        note = ""
        try:
            finished, _ = await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
            if done not in finished:
                ending = "cancelled" if cancelled is not None and cancelled in finished else "timeout"
                note = await self._stop(proc.pid, user)
                try:
                    await asyncio.wait_for(asyncio.shield(done), 3)
                except asyncio.TimeoutError:
                    # A survivor (a daemon that escaped) still holds a pipe: stop reading.
                    done.cancel()
                    note += "; output pipes still held open by an escaped process, stopped reading"
            elif done.exception() is not None:  # the output sink raised: stop the command, then say so
                await self._stop(proc.pid, user)
                await asyncio.wait({exited}, timeout=self.kill_grace_s + 3)
                done.result()
        except asyncio.CancelledError:
            await asyncio.shield(self._stop(proc.pid, user))
            done.cancel()
            raise
        finally:
            if cancelled is not None:
                cancelled.cancel()
            await self._release(proc, parts)
        duration = int((time.monotonic() - start) * 1e6)
        common = dict(duration_us=duration, stdout_bytes=counts["stdout"], stderr_bytes=counts["stderr"])
        if ending == "timeout":
            return Result("timeout", error=f"no end after {timeout_s:g} s; stopped it ({note}); "
                          "whether it did its work is unknown", **common)
        if ending == "cancelled":
            return Result("cancelled", error=f"cancelled by the operator; stopped it ({note})", **common)
        rc = proc.returncode
        assert rc is not None
        if rc < 0:
            return Result("signalled", signal=signal_name(-rc), **common)
        return Result("exited", exit_status=rc, **common)

    @staticmethod
    async def _release(proc: asyncio.subprocess.Process, parts: Sequence[asyncio.Future[Any]]) -> None:
        """Leave nothing of the command on this event loop: the reading tasks still running are cancelled and
        the subprocess transport closed. When its output was not read to the end (a sink that raised, a pipe an
        escaped process holds) the transport never closes itself, and is reclaimed after the loop is gone:
        "Event loop is closed" and ResourceWarnings at exit."""
        pending = [f for f in parts if not f.done()]
        for f in pending:
            f.cancel()
        # closed before anything is awaited: when the run itself is being cancelled (the app quits
        # mid-command) an await here can be interrupted, and the transport would outlive the loop
        _close_transport(proc)
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.sleep(0)  # the pipes' connection_lost runs on this loop, while it is open

    async def _stop(self, pid: int, user: str | None) -> str:
        """Stop the command's tree; as the run-as user too when we cannot signal its processes."""
        note = await self._kill(kill_tree_command(pid, self.kill_grace_s))
        if user and user != self.login_user and os.geteuid() != 0:
            note += "; as " + user + ": " + await self._kill(
                wrap(kill_tree_command(pid, self.kill_grace_s), user=user, login_user=self.login_user,
                     method=self.run_as))
        return note

    async def _kill(self, text: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", text, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            out, _ = await proc.communicate()
        finally:  # cancelled with the run (the app quit mid-command): the kill script's pipes must not outlive the loop
            _close_transport(proc)
        return out.decode(errors="replace").strip().removeprefix("hamn-kill: ") or f"kill script exit {proc.returncode}"

    def prepare(self, nodes: Iterable[str]) -> None:
        """Nothing to connect to: commands start here."""

    async def close(self) -> None:
        return None


def _close_transport(proc: asyncio.subprocess.Process) -> None:
    """Close a subprocess's transport now, without awaiting (asyncio's Process has no public close()):
    a transport left to the garbage collector after its loop closed says "Event loop is closed"."""
    transport = getattr(proc, "_transport", None)
    if transport is not None and not transport.is_closing():
        try:
            transport.close()  # closes the pipes, then kills the child if it still runs
        except OSError:  # a run-as child we may not signal (sudo): its pipes are closed all the same
            pass
