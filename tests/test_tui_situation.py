"""The home screen leads with the situation: what the last reading says, the runbook to run
(first in the list and highlighted, so Enter opens it), and a peer window that counts down."""
from __future__ import annotations

import asyncio

from hamn_tui.app.situation import classify
from hamn_tui.app.status import StatusReader
from hamn_tui.app.targets import TrainingTarget
from hamn_tui.sim.scenario import Action
from hamn_tui.tui.widgets.situation_bar import SituationBar

from .tui_support import run, screen_name, training_app, wait_for


def test_home_follows_the_situation_and_enter_opens_what_it_recommends(tmp_path):
    async def go():
        app = training_app(tmp_path / "runs", poll_s=0.2)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: screen_name(app) == "HomeScreen")
            lst = app.screen.query_one("#runbooks")
            bar = app.screen.query_one(SituationBar)
            await wait_for(pilot, lambda: lst.highlighted_option is not None and lst.highlighted_option.id == "db2-hadr-verify",
                           what="the healthy pair's recommendation highlighted")
            assert str(bar.renderable_now()).startswith("HEALTHY: mn1 primary, mn2 standby, in sync")
            app.workspace.target.sim.apply(Action(action="crash_node", node="mn2"))
            await wait_for(pilot, lambda: lst.highlighted_option.id == "event-standby-lost", what="the list re-ordered for the new situation")
            assert "STANDBY LOST" in str(bar.renderable_now()) and bar.has_class("-alarm")
            assert lst.get_option_at_index(0).disabled and lst.highlighted == 1  # the heading, then the recommendation
            await pilot.press("enter")
            await wait_for(pilot, lambda: screen_name(app) == "RunScreen", what="the recommended runbook opened")
            assert app.screen.runbook_id == "event-standby-lost"
        return True

    assert run(go())


def test_a_closing_peer_window_counts_down_in_real_time_and_holds_still_in_training():
    situation = classify(asyncio.run(StatusReader(TrainingTarget.scenario("standby-fails")).read()))
    assert situation.peer_window_left_s == 150
    now = [1000.0]
    live = SituationBar(clock=lambda: now[0])
    live.show(situation, taken=1000.0)
    assert "; 150 s left before it goes on alone" in str(live.renderable_now())
    now[0] += 37
    assert "; 113 s left before it goes on alone" in str(live.renderable_now())
    now[0] += 500
    assert "; 0 s left before it goes on alone" in str(live.renderable_now())  # never negative
    training = SituationBar(clock=None)  # the simulator's time moves only with a new reading
    training.show(situation, taken=1000.0)
    assert "; 150 s left" in str(training.renderable_now())


def test_the_first_reading_shows_who_answered_while_a_dead_node_is_still_asked(tmp_path):
    """A dead node takes the kernel ~3 s to give up on; the operator sees the live one at once."""
    from hamn_tui.app.status import NodeStatus
    from hamn_tui.tui.widgets.status_panel import StatusPanel

    async def go():
        app = training_app(tmp_path / "runs", poll_s=30)
        real = app.workspace.read_status
        release = asyncio.Event()

        async def slow_first(on_node=None):
            if on_node is not None:
                on_node(NodeStatus("mn2", "standby", True, replication={"role": "STANDBY", "state": "DISCONNECTED_PEER"}))
                await release.wait()
            return await real(on_node)

        app.workspace.read_status = slow_first  # type: ignore[method-assign]
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: screen_name(app) == "HomeScreen")
            bar = app.screen.query_one(SituationBar)
            await wait_for(pilot, lambda: "no answer yet from mn1 (primary)" in str(bar.renderable_now()),
                           what="the partial reading named")
            assert "reading: mn2 read" in str(bar.renderable_now())
            shown = app.screen.query_one(StatusPanel).snap
            assert shown.nodes["mn2"].replication["state"] == "DISCONNECTED_PEER"
            assert shown.nodes["mn1"].reachable is None and shown.nodes["mn1"].errors == ["no answer yet"]
            release.set()
            await wait_for(pilot, lambda: str(bar.renderable_now()).startswith("HEALTHY"), what="the whole reading")
            assert app.screen.query_one(StatusPanel).snap.nodes["mn1"].reachable is True
        return True

    assert run(go())
