"""Helpers for the Pilot tests: a training app with its own audit dir, and waiting on
conditions (never on a fixed number of pauses: workers and the runner are asynchronous)."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, Callable

from hamn_tui.sim.training import Training
from hamn_tui.app.targets import TrainingTarget
from hamn_tui.app.workspace import Workspace
from hamn_tui.tui.launch import make_app


def training_app(audit_dir: Path, scenario: str = "healthy", **kw: Any):
    backend = Workspace(TrainingTarget(Training(scenario, seed=0), label=f"scenario {scenario}"), audit_dir=audit_dir)
    return make_app(backend, **kw)


async def wait_for(pilot: Any, cond: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = cond()
        if value and pilot.app.settled():
            return value
        await pilot.pause(0.02)
    raise AssertionError(f"timed out waiting for {what or cond}")


def screen_name(app: Any) -> str:
    return type(app.screen).__name__


async def open_runbook(pilot: Any, runbook_id: str) -> None:
    """From home: highlight the runbook in the list and press Enter."""
    from textual.widgets import OptionList

    app = pilot.app
    await wait_for(pilot, lambda: screen_name(app) == "HomeScreen", what="home")
    lst = app.screen.query_one("#runbooks", OptionList)
    await wait_for(pilot, lambda: lst.option_count > 0, what="runbooks listed")
    lst.focus()
    lst.highlighted = lst.get_option_index(runbook_id)  # the list leads with the situation's recommendation
    await pilot.press("enter")
    await wait_for(pilot, lambda: any(type(s).__name__ == "RunScreen" for s in app.screen_stack), what="run screen")


def run(coro: Any, timeout: float = 300.0) -> Any:
    """Run a Pilot test body; a hang fails the test (with the pending task cancelled) instead of
    stopping the suite."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def run_screen(app: Any) -> Any:
    """The run screen, wherever it is in the stack (a dialog may be above it)."""
    return next(s for s in app.screen_stack if type(s).__name__ == "RunScreen")


async def abort_run(pilot: Any, app: Any) -> None:
    """Abort whatever the run is doing, as an operator would: close an open question, a, y."""
    from hamn_tui.tui.modals import ConfirmModal

    rs = run_screen(app)
    for _ in range(100):
        if rs.ctl.finished:
            return
        title = getattr(app.screen, "title_text", "")
        if isinstance(app.screen, ConfirmModal) and title.startswith(("Abort", "Interrupt")):
            await pilot.press("y")
        elif screen_name(app).endswith("Modal"):
            await pilot.press("escape")
        else:
            await pilot.press("a")
        await pilot.pause(0.05)
    raise AssertionError("the run did not end")


def log_dir(audit_dir: Path) -> Path:
    """The one run directory under `audit_dir`."""
    (found,) = [d for d in audit_dir.iterdir() if d.is_dir()]
    return found
