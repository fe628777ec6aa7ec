"""The run screen on the 256-service-node training site: the unplanned failover's xcatd restart
fans out to every service node, and one progress widget shows the counts (running, done,
failed, unknown) with the failed and unknown nodes named first — during the step and after
it — while the DOM stays the same size however many nodes the step reaches. A review of the
run's audit log counts the same."""
from __future__ import annotations

import asyncio

from hamn_tui.app.runs import read_run
from hamn_tui.record.events import CommandFinished, CommandSent, StepStarted
from hamn_tui.record.fold import StepRow
from hamn_tui.tui.modals import ReasonModal
from hamn_tui.tui.widgets.fanout_progress import FanoutProgress, fanout_text

from .tui_support import open_runbook, run, run_screen, screen_name, training_app, wait_for

STEP = "restart-xcatd-service-nodes"
HELD = "sn100"




def _shown(rs) -> str:
    return str(rs.query_one(FanoutProgress).render())


async def _answer_modals_until(pilot, app, cond, what: str, timeout: float = 60.0) -> None:
    """Answer confirmations (y) and typed confirmations (the expected text) until `cond()` holds."""
    end = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > end:
            rs = run_screen(app)
            q = rs.ctl.question
            raise AssertionError(f"timed out waiting for {what}: screen {screen_name(app)}, question {q and (q.kind, q.step_id, q.detail[:300])}, "
                                 f"current {rs.ctl.model.current}, outcome {rs.ctl.model.outcome} {rs.ctl.model.reason}")
        name = screen_name(app)
        if name == "ConfirmModal":
            await pilot.press("y")
        elif name == "TypedConfirmModal":
            await pilot.press(*app.screen.expected, "enter")
        await pilot.pause(0.02)


def test_a_fanout_over_256_nodes_shows_counts_failed_first_and_adds_no_widget_per_node(tmp_path):
    audit = tmp_path / "runs"

    async def go():
        app = training_app(audit, "large-site")
        async with app.run_test(size=(120, 40)) as pilot:
            await open_runbook(pilot, "failover-unplanned")
            rs = run_screen(app)
            widgets_before = len(list(rs.walk_children()))
            row = rs.ctl.model.steps[STEP]
            assert row.tally().waiting == 256  # the plan knows the group before anything runs

            # every node says something (the simulator's restart is silent), and one node's restart
            # is held, so the step can be looked at while it is under way
            transport = app.workspace.target.sim.transport
            release = asyncio.Event()
            plain = transport.run

            async def held(node, command, **kw):
                if command == "service xcatd restart":
                    if node in transport.sim.nodes and transport.sim.nodes[node].up:
                        kw["on_output"]("stdout", f"Redirecting to /bin/systemctl restart xcatd.service ({node})\n".encode())
                    if node == HELD:
                        await release.wait()
                return await plain(node, command, **kw)

            transport.run = held
            await pilot.press("r")

            def under_way():
                t = rs.ctl.model.steps[STEP].tally()
                return t.running == 1 and t.done + t.failed + t.unknown == 255

            await _answer_modals_until(pilot, app, under_way, "the restart under way on every node but one")
            await wait_for(pilot, lambda: rs.query_one(FanoutProgress).has_class("-shown") and "▶ 1 running" in _shown(rs),
                           what="the progress line during the step")
            counts, names = _shown(rs).split("\n")
            assert counts == "@service_nodes · 256 nodes: ▶ 1 running · ✓ 248 done · ✗ 5 failed · ? 2 unknown"
            assert names.split() == ["✗", "sn17", "✗", "sn42", "✗", "sn88", "✗", "sn150", "✗", "sn203",
                                     "?", "sn64", "?", "sn230", "▶", HELD]  # failed first, then unknown, then running
            header = lambda: str(rs.query_one("#output-header").render())  # noqa: E731 (redrawn at the pane's next tick)
            await wait_for(pilot, lambda: header().startswith(STEP) and "of 254 nodes with output" in header(),
                           what="one pane, one node at a time, with every reachable node's output")

            release.set()
            await wait_for(pilot, lambda: rs.ctl.question is not None and rs.ctl.question.kind == "unknown", what="the unknown question")
            counts, names = _shown(rs).split("\n")
            assert counts == "@service_nodes · 256 nodes: ▶ 0 running · ✓ 249 done · ✗ 5 failed · ? 2 unknown"
            assert names.split()[:2] == ["✗", "sn17"] and names.split()[-2:] == ["?", "sn230"]
            detail = str(rs.query_one("#step-detail-text").render())
            assert "on 256 nodes of @service_nodes as root" in detail
            assert "sn42 as root$ service xcatd restart  → exit 1" in detail  # the ones that did not end well, with why
            assert "sn1 as root$" not in detail  # and not the 249 that did

            await pilot.press("d")  # it happened: the re-probe shows xcatd running on the wedged two
            await wait_for(pilot, lambda: isinstance(app.screen, ReasonModal), what="the reason dialog")
            await pilot.press(*"re-probe: xcatd runs on sn64 and sn230", "enter")
            await wait_for(pilot, lambda: rs.ctl.question is not None and rs.ctl.question.kind == "failed", what="the failed nodes' question")
            await pilot.press("s")
            await wait_for(pilot, lambda: isinstance(app.screen, ReasonModal), what="the reason dialog")
            await pilot.press(*"sn17 sn203 off; sn42 sn88 sn150 ticketed", "enter")
            await wait_for(pilot, lambda: rs.ctl.model.steps[STEP].status == "skipped", what="the step skipped")
            await _answer_modals_until(pilot, app, lambda: rs.ctl.finished, "the end of the run")
            assert rs.ctl.model.outcome == "done", rs.ctl.model.reason

            t = rs.ctl.model.steps[STEP].tally()
            assert (t.done, t.failed, t.unknown, t.running, t.waiting) == (249, 5, 2, 0, 0)
            pane = rs.query_one("#output")
            assert len(pane.nodes(STEP)) == 254  # every reachable node's output is kept, in the one pane
            grown = len(list(rs.walk_children())) - widgets_before
            assert grown < 100, f"{grown} widgets more after a 256-node step"
            return t

    live = run(go())
    (run_dir,) = [d for d in audit.iterdir() if d.is_dir()]
    recorded = read_run(run_dir)
    assert recorded.finished == "done"
    from hamn_tui.record.fold import RunFold

    review = RunFold()
    for rec in recorded.records:
        review.apply_record(rec)
    t = review.steps[STEP].tally()
    assert (t.done, t.failed, t.unknown, t.failed_nodes, t.unknown_nodes) == (
        live.done, live.failed, live.unknown, live.failed_nodes, live.unknown_nodes)


def test_the_progress_line_names_at_most_a_dozen_nodes_then_counts_the_rest():
    row = StepRow(STEP, "restart", node="@service_nodes", targets=tuple(f"sn{i}" for i in range(1, 41)))
    row.node_states = {f"sn{i}": "failed" for i in range(1, 21)}
    row.node_states.update({"sn21": "unknown", "sn22": "running", "sn23": "done"})
    counts, names = fanout_text(row).plain.split("\n")
    assert counts == "@service_nodes · 40 nodes: ▶ 1 running · ✓ 1 done · ✗ 20 failed · ? 1 unknown · 17 waiting"
    assert names.split()[:4] == ["✗", "sn1", "✗", "sn2"] and names.endswith("✗ sn12  +10 more")  # the failed ones before the rest


def test_the_fold_counts_the_latest_attempt_per_node_and_leaves_rollbacks_out():
    from hamn_tui.record.fold import RunFold

    fold = RunFold([StepRow(STEP, "restart", node="@g", targets=("a", "b", "c"))])

    def started():
        fold.apply(StepStarted(STEP, 0, 1, "restart", "command", "@g"))

    def sent(node, rollback=False):
        fold.apply(CommandSent(STEP, node, "root", "ssh", "service xcatd restart", True, rollback))

    def finished(node, ending, status=None, rollback=False):
        fold.apply(CommandFinished(STEP, node, ending, status, None, 1, 0, 0, None, rollback))

    started()
    sent("a")
    t = fold.steps[STEP].tally()
    assert (t.running, t.waiting, t.total) == (1, 2, 3)
    finished("a", "exited", 1)
    sent("b")
    finished("b", "lost")
    sent("c")
    finished("c", "not_started")
    t = fold.steps[STEP].tally()
    assert (t.done, t.failed, t.unknown, t.failed_nodes, t.unknown_nodes) == (0, 2, 1, ("a", "c"), ("b",))
    sent("a", rollback=True)
    finished("a", "exited", 0, rollback=True)
    assert fold.steps[STEP].tally().failed_nodes == ("a", "c")  # a rollback is not the step's own outcome
    started()  # the operator retries: every node starts over
    assert fold.steps[STEP].tally().waiting == 3
    sent("a")
    finished("a", "exited", 0)
    t = fold.steps[STEP].tally()
    assert (t.done, t.failed, t.waiting) == (1, 0, 2)
