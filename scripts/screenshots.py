"""Screenshots of the real app on the training cluster, for the README (run `scripts/screenshots`).

Drives `HamnApp` with Textual's Pilot at a fixed size on the built-in simulated DB2 HADR pair
(scenario healthy, seed 0), exactly as an operator would with keys, and saves SVGs; the wrapper
turns them into PNGs with rsvg-convert. Everything it writes (audit logs, keys) goes to a
temporary directory: it never touches ~/.local/state or ~/.config.

  home.png                   the home screen: banner, both nodes' status, runbooks
  run-typed-confirmation.png failover-planned, the steps before the takeover done, stopped at
                             the typed confirmation with its exact command and gates
  review.png                 that run finished, replayed by the review screen from its signed log
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

SIZE = (120, 36)
SEED = 0
SCENARIO = "healthy"
RUNBOOK = "failover-planned"


def _isolate(tmp: Path) -> None:
    os.environ["XDG_STATE_HOME"] = str(tmp / "state")
    os.environ["XDG_CONFIG_HOME"] = str(tmp / "config")
    os.environ["HAMN_AUDIT_DIR"] = str(tmp / "runs")
    os.environ.pop("SSH_AUTH_SOCK", None)  # training runs sign with an ephemeral key; never the agent's
    os.environ.pop("HAMN_CLUSTER", None)


async def _until(pilot, cond, what: str, timeout: float = 30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = cond()
        if value and pilot.app.settled():
            return value
        await pilot.pause(0.02)
    raise SystemExit(f"screenshots: timed out waiting for {what} (on {type(pilot.app.screen).__name__})")


async def _settle(pilot) -> None:
    """Let workers, timers and the last refresh land before a picture."""
    await pilot.pause(0.3)
    await pilot.wait_for_scheduled_animations()
    await pilot.pause(0.1)


def _for_rsvg(svg: str) -> str:
    """Rich writes every space as &#160; in the SVG; rsvg-convert draws a span's leading
    no-break spaces with no width, so "XCATDB then" came out as "XCATDBthen". Plain spaces,
    kept by xml:space="preserve", render at their real width."""
    return svg.replace("&#160;", " ").replace("<svg ", '<svg xml:space="preserve" ', 1)


def _name(app) -> str:
    return type(app.screen).__name__


async def shoot(svg_dir: Path, audit_dir: Path) -> list[Path]:
    from textual.widgets import OptionList

    from hamn_tui.app.targets import TrainingTarget
    from hamn_tui.app.workspace import Workspace
    from hamn_tui.sim.training import Training
    from hamn_tui.tui.launch import make_app
    from hamn_tui.tui.modals import TypedConfirmModal
    from hamn_tui.tui.screens.review import ReviewScreen

    training = Training(SCENARIO, seed=SEED)
    backend = Workspace(TrainingTarget(training, label=f"scenario {SCENARIO}: {training.scenario.scenario.title}"), audit_dir=audit_dir)
    app = make_app(backend)
    shots: list[Path] = []

    def save(name: str) -> None:
        app.clear_notifications()
        path = Path(app.save_screenshot(f"{name}.svg", str(svg_dir)))
        path.write_text(_for_rsvg(path.read_text(encoding="utf-8")), encoding="utf-8")
        shots.append(path)
        print(f"  {name}.svg: {_name(app)}", file=sys.stderr)

    async with app.run_test(size=SIZE) as pilot:
        # (a) home, once both nodes have been read and the recent runs listed
        await _until(pilot, lambda: _name(app) == "HomeScreen" and app.snapshot is not None, "the first status reading")
        runbooks = app.screen.query_one("#runbooks", OptionList)
        await _until(pilot, lambda: runbooks.option_count > 0 and app.screen.query_one("#recent", OptionList).option_count > 0,
                     "the runbook and recent-run lists")
        await _settle(pilot)
        save("home")

        # (b) failover-planned: highlight it (the list leads with the situation's recommendation), Enter, r;
        # y at each confirmation until the typed one
        runbooks.highlighted = runbooks.get_option_index(RUNBOOK)
        await pilot.press("enter")
        await _until(pilot, lambda: _name(app) == "RunScreen", "the run screen")
        run = app.screen
        await pilot.press("r")
        while True:
            await _until(pilot, lambda: _name(app).endswith("Modal") or run.ctl.finished, "a question")
            if _name(app) == "TypedConfirmModal" or run.ctl.finished:
                break
            modal = app.screen
            await pilot.press("y")
            await _until(pilot, lambda: app.screen is not modal, "the dialog to close")
        if run.ctl.finished:
            raise SystemExit(f"screenshots: the run ended ({run.ctl.model.outcome}) before the typed confirmation")
        await _settle(pilot)
        save("run-typed-confirmation")

        # finish it: the typed text, then y to the remaining confirmations
        while True:
            await _until(pilot, lambda: _name(app).endswith("Modal") or run.ctl.finished, "the next question or the end")
            if run.ctl.finished:
                break
            modal = app.screen
            if isinstance(modal, TypedConfirmModal):
                await pilot.press(*modal.expected, "enter")
            else:
                await pilot.press("y")
            await _until(pilot, lambda: app.screen is not modal, "the dialog to close")
        if run.ctl.model.outcome != "done":
            raise SystemExit(f"screenshots: the run ended {run.ctl.model.outcome}: {run.ctl.model.reason}")
        await _until(pilot, lambda: run.ctl.audit_line, "the run's audit log verified")
        run_dir = run.ctl.session.log_dir

        # (c) the review screen of that run, on its takeover step (command, gates, output)
        app.push_screen(ReviewScreen(run_dir))
        await _until(pilot, lambda: _name(app) == "ReviewScreen" and app.screen.status, "the review screen's verification")
        review = app.screen
        from hamn_tui.tui.widgets.step_list import StepList

        review.query_one(StepList).select_step("takeover")
        await _settle(pilot)
        save("review")
    return shots


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--svg-dir", type=Path, required=True, help="where the SVGs are written")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hamn-screenshots-"))
    _isolate(tmp)
    args.svg_dir.mkdir(parents=True, exist_ok=True)
    try:
        asyncio.run(shoot(args.svg_dir, tmp / "runs"))
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
