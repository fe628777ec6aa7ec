"""Snapshot tests (pytest-textual-snapshot, Textual pinned exactly in pyproject.toml) of home,
run at a typed confirmation, help and review, at 80×24 and 120×40.

Deterministic by construction: the training cluster with seed 0, an empty audit dir, the
status poller stopped once the first reading is shown, no blinking cursor. Accept a wanted
change with `pytest tests/test_tui_snapshots.py --snapshot-update` and look at the diff.
"""
from __future__ import annotations

import pytest

from hamn_tui.tui.modals import TypedConfirmModal

from .tui_support import open_runbook, screen_name, training_app, wait_for

SIZES = [(80, 24), (120, 40)]


@pytest.fixture(autouse=True)
def still_clock(monkeypatch):
    """Ages on screen ("read 0 s ago") as if no time passed since the reading."""
    import hamn_tui.tui.widgets.status_panel as panel

    state = {"app": None}
    monkeypatch.setattr(panel, "now", lambda: (state["app"].snapshot_taken if state["app"] and state["app"].snapshot_taken else 0.0))
    return state


async def _settle(pilot) -> None:
    """Wait for the first status reading, then stop polling so the screen holds still."""
    app = pilot.app
    await wait_for(pilot, lambda: app.snapshot is not None, what="a status reading")
    app.polling = False
    if app._poll_timer is not None:
        app._poll_timer.stop()
    await pilot.pause(0.1)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_home(snap_compare, tmp_path, size, still_clock):
    async def before(pilot):
        still_clock["app"] = pilot.app
        await _settle(pilot)
        await wait_for(pilot, lambda: pilot.app.screen.query_one("#recent").option_count > 0)

    assert snap_compare(training_app(tmp_path / "runs"), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_run_at_typed_confirmation(snap_compare, tmp_path, size, still_clock):
    async def before(pilot):
        app = pilot.app
        still_clock["app"] = app
        await _settle(pilot)
        await open_runbook(pilot, "failover-planned")
        await pilot.press("r")
        while not isinstance(app.screen, TypedConfirmModal):
            await wait_for(pilot, lambda: screen_name(app).endswith("Modal"), what="a confirmation")
            if not isinstance(app.screen, TypedConfirmModal):
                await pilot.press("y")
                await pilot.pause(0.05)
        app.polling = False
        await pilot.press(*"XCAT")  # part typed: Run stays disabled
        await pilot.pause(1.2)  # past a tick of the panel's 1 s age timer: the still clock must hold it

    assert snap_compare(training_app(tmp_path / "runs"), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_help(snap_compare, tmp_path, size, still_clock):
    async def before(pilot):
        still_clock["app"] = pilot.app
        await _settle(pilot)
        await pilot.press("f1")
        await wait_for(pilot, lambda: screen_name(pilot.app) == "HelpScreen")

    assert snap_compare(training_app(tmp_path / "runs"), terminal_size=size, run_before=before)
