"""LocalTransport: live chunks, exit codes, and no process left behind on timeout or cancel."""
from __future__ import annotations

import asyncio
import os

import pytest

from hamn_tui.transport.local import LocalTransport

from .sshd_fixture import test_user  # noqa: F401
from .transport_helpers import Collected, sleeps, unique_seconds, wait_until


def run(coro):
    return asyncio.run(coro)


def test_output_streams_while_the_command_runs():
    out = Collected()
    r = run(LocalTransport().run("local", "echo first; echo warn >&2; sleep 1; echo second", on_output=out))
    assert r.ok and r.ending == "exited"
    assert out.text("stdout") == "first\nsecond\n" and out.text("stderr") == "warn\n"
    # "first" and "warn" were delivered a second before "second": chunks, not a buffer at the end.
    assert out.first("stdout", b"second") - out.first("stdout", b"first") > 0.8
    assert out.first("stdout", b"second") - out.first("stderr", b"warn") > 0.8
    assert (r.stdout_bytes, r.stderr_bytes) == (13, 5)


def test_exit_status_and_signal():
    t = LocalTransport()
    assert run(t.run("local", "exit 7")).exit_status == 7
    r = run(t.run("local", "kill -TERM $$"))
    assert (r.ending, r.signal, r.exit_status) == ("signalled", "TERM", None)


def test_stdin_is_closed_so_a_reader_does_not_hang():
    r = run(LocalTransport().run("local", "cat; echo done", timeout_s=5))
    assert r.ok


def test_big_output_arrives_complete_in_chunks():
    out = Collected()
    r = run(LocalTransport().run("local", "seq 1 200000", on_output=out))
    assert r.ok and r.stdout_bytes == len(out.text("stdout")) == sum(len(str(i)) + 1 for i in range(1, 200001))
    assert len(out.chunks) > 1 and max(len(c) for _, _, c in out.chunks) <= 65536


@pytest.mark.parametrize("prefix", ["", "trap '' TERM; "], ids=["term", "term-ignored-so-kill"])
def test_timeout_kills_the_whole_process_group(prefix):
    n = unique_seconds()

    async def go():
        t = LocalTransport(kill_grace_s=0.5)
        task = asyncio.ensure_future(t.run("local", f"{prefix}sleep {n} & sleep {n}", timeout_s=1))
        assert await wait_until(lambda: len(sleeps(n)) == 2)
        return await task

    r = run(go())
    assert r.ending == "timeout" and r.unknown and r.exit_status is None
    assert "unknown" in r.error
    assert sleeps(n) == []


def test_cancel_kills_and_says_cancelled():
    n = unique_seconds()

    async def go():
        cancel = asyncio.Event()
        task = asyncio.ensure_future(LocalTransport().run("local", f"sleep {n} & sleep {n}", cancel=cancel))
        assert await wait_until(lambda: len(sleeps(n)) == 2)
        cancel.set()
        return await task

    r = run(go())
    assert r.ending == "cancelled" and sleeps(n) == []


def test_cancel_before_start_runs_nothing():
    async def go():
        cancel = asyncio.Event()
        cancel.set()
        return await LocalTransport().run("local", "exit 1", cancel=cancel)

    assert run(go()).ending == "not_started"


def test_cancelling_the_task_also_kills_the_command():
    n = unique_seconds()

    async def go():
        task = asyncio.ensure_future(LocalTransport().run("local", f"sleep {n}"))
        assert await wait_until(lambda: len(sleeps(n)) == 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(go())
    assert sleeps(n) == []


def test_run_as_user(test_user):  # noqa: F811
    if os.geteuid() != 0:
        pytest.skip("runuser needs root")
    out = Collected()
    r = run(LocalTransport().run("local", "id -un", user=test_user, on_output=out))
    assert r.ok and out.text("stdout") == f"{test_user}\n"


def test_timeout_as_another_user_kills_its_new_session_too(test_user):  # noqa: F811
    """runuser -l puts the user's shell in a NEW session: a process-group kill alone would miss it."""
    if os.geteuid() != 0:
        pytest.skip("runuser needs root")
    n = unique_seconds()

    async def go():
        task = asyncio.ensure_future(LocalTransport(kill_grace_s=0.5).run(
            "local", f"sleep {n} & sleep {n}", user=test_user, timeout_s=1))
        assert await wait_until(lambda: len(sleeps(n)) == 2)
        return await task

    r = run(go())
    assert r.ending == "timeout" and sleeps(n) == []


def test_kill_script_refuses_init_and_bad_pids():
    from hamn_tui.transport.killtree import kill_tree_command

    for pid in (0, 1, -5):
        with pytest.raises(ValueError):
            kill_tree_command(pid)
