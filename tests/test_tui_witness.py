"""The run screen's header says how far the run is witnessed, and keeps the seconds going."""
from __future__ import annotations

from hamn_tui.app.controller import RunController

from .tui_support import open_runbook, run, training_app, wait_for


def test_the_run_header_shows_how_far_the_run_is_witnessed(tmp_path, monkeypatch):
    ticks = iter(range(1000))
    # training runs have no witness: stand in for a session whose witness has not answered
    monkeypatch.setattr(RunController, "witnessing", lambda self: f"unwitnessed: 12 records, {next(ticks)} s")

    async def go():
        app = training_app(tmp_path / "runs")
        async with app.run_test(size=(160, 40)) as pilot:
            await wait_for(pilot, lambda: app.snapshot is not None, what="a status reading")
            await open_runbook(pilot, "failover-planned")
            header = app.screen.query_one("#run-header")
            await wait_for(pilot, lambda: "unwitnessed: 12 records, " in str(header.render()), what="the witness state in the header")
            first = str(header.render())
            await wait_for(pilot, lambda: str(header.render()) != first, timeout=5.0, what="the header's seconds moving on")
        return True

    run(go())
