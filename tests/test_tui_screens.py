"""Pilot tests of home, review, help, the command palette, the status poller, and the run
screen's answers that training runbooks don't reach (interrupt, choice, lock holder)."""
from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from textual.widgets import OptionList

from hamn_tui.app.targets import ClusterTarget, TrainingTarget
from hamn_tui.app.workspace import Workspace
from hamn_tui.record.questions import Answer, Question
from hamn_tui.tui.bridge import QuestionPending
from hamn_tui.tui.launch import make_app
from hamn_tui.tui.modals import ChoiceModal, ConfirmModal, ReasonModal, TypedConfirmModal
from hamn_tui.tui.widgets.status_panel import StatusPanel

from .tui_support import open_runbook, run, screen_name, training_app, wait_for


def _text(renderable, width: int = 80) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def _headless_training_run(audit: Path) -> Path:
    out = subprocess.run([sys.executable, "-m", "hamn_tui", "run", "failover-planned", "--training", "healthy", "--headless", "--yes",
                          "--confirm", "takeover=XCATDB", "--audit-dir", str(audit)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    (run_dir,) = [d for d in audit.iterdir() if d.is_dir()]
    return run_dir


# --- home ------------------------------------------------------------------------------------------
def test_home_shows_training_banner_status_runbooks_and_verified_recent_runs(tmp_path):
    audit = tmp_path / "runs"
    _headless_training_run(audit)

    async def go():
        app = training_app(audit)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: screen_name(app) == "HomeScreen")
            assert "TRAINING" in str(app.screen.query_one("#banner").render())
            panel = app.screen.query_one(StatusPanel)
            await wait_for(pilot, lambda: panel.snap is not None, what="a status reading")
            text = _text(panel.renderable_now())
            assert "PRIMARY" in text and "STANDBY" in text and "PEER" in text and "read 0 s ago" in text
            runbooks = app.screen.query_one("#runbooks", OptionList)
            await wait_for(pilot, lambda: runbooks.option_count, what="the runbooks listed")
            ids = [o.id for o in runbooks.options if not o.disabled]  # group headings are disabled options
            assert "failover-planned" in ids and "db2-hadr-verify" in ids
            assert not any(i.startswith("pg-") for i in ids)  # the training cluster runs DB2
            recent = app.screen.query_one("#recent", OptionList)
            await wait_for(pilot, lambda: app.screen.recent, what="recent runs verified")
            line = str(recent.get_option_at_index(0).prompt)
            assert line.startswith("VALID") and "failover-planned" in line and "done" in line and "TRAINING" in line
        return True

    run(go())


def test_home_shows_unknown_as_unknown_when_the_primary_is_down(tmp_path):
    """primary-node-crash: mn1 has no power. Its column must say unknown / no, never PEER."""
    async def go():
        app = training_app(tmp_path / "runs", scenario="primary-node-crash")
        async with app.run_test(size=(80, 24)) as pilot:
            panel = app.screen.query_one(StatusPanel)
            await wait_for(pilot, lambda: panel.snap is not None, what="a status reading")
            mn1 = panel.snap.nodes["mn1"]
            assert mn1.reachable is False
            table = _text(panel.renderable_now(), width=100)
            role_row = next(line for line in table.splitlines() if line.strip().startswith("role"))
            assert role_row.split()[1] == "unknown", table
            ssh_row = next(line for line in table.splitlines() if line.strip().startswith("ssh"))
            assert ssh_row.split()[1] == "no", table
        return True

    run(go())


# --- status polling ----------------------------------------------------------------------------------
class SlowWorkspace(Workspace):
    """A training workspace whose readings take 0.3 s and count how many overlap."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.active = self.max_active = self.reads = 0

    async def read_status(self, on_node=None):
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        self.reads += 1
        try:
            await asyncio.sleep(0.3)
            return await super().read_status(on_node)
        finally:
            self.active -= 1


def test_status_polling_never_overlaps_and_pauses_behind_a_modal(tmp_path):
    from hamn_tui.sim.training import Training

    backend = SlowWorkspace(TrainingTarget(Training("healthy")), audit_dir=tmp_path / "runs")

    async def go():
        app = make_app(backend, poll_s=0.05)  # polls far faster than a reading takes
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: backend.reads >= 4, what="several readings")
            assert backend.max_active == 1  # completion-chained: never two at once
            app.push_screen(ConfirmModal("t", "b"))
            await wait_for(pilot, lambda: backend.active == 0, what="the in-flight reading to end")
            before = backend.reads
            await pilot.pause(0.8)
            assert backend.reads == before  # nothing read while the operator decides
            await pilot.press("n")
            await wait_for(pilot, lambda: backend.reads > before, what="polling resumes")
        return True

    run(go())


# --- help and palette --------------------------------------------------------------------------------
def test_help_lists_every_binding_and_palette_runs_actions(tmp_path):
    from hamn_tui.tui.commands import COMMANDS, key_label

    async def go():
        app = training_app(tmp_path / "runs")
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: screen_name(app) == "HomeScreen")
            await pilot.press("f1")
            await wait_for(pilot, lambda: screen_name(app) == "HelpScreen")
            text = "".join(_text(s.content, width=118) for s in app.screen.query("Static"))
            for c in COMMANDS:
                assert c.label in text, c.id
                assert key_label(c.keys).split(" / ")[0] in text, c.id
            await pilot.press("escape")
            await wait_for(pilot, lambda: screen_name(app) == "HomeScreen")
            await pilot.press("ctrl+p")
            await wait_for(pilot, lambda: screen_name(app) == "CommandPalette")
            await pilot.press(*"Help", "enter")
            await wait_for(pilot, lambda: screen_name(app) == "HelpScreen", what="help opened from the palette")
        return True

    run(go())


# --- review ------------------------------------------------------------------------------------------
def _review(path: Path):
    return make_app(Workspace.reviewing(), review=path)


def test_review_shows_verification_first_then_steps_with_outputs(tmp_path):
    run_dir = _headless_training_run(tmp_path / "runs")

    async def go():
        app = _review(run_dir)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.screen.status, what="verified")
            verdict = str(app.screen.query_one("#verdict").render())
            assert verdict.startswith("VALID: TRAINING run") and app.screen.region.y == 0
            steps = app.screen.query_one("#steps", OptionList)
            ids = [o.id for o in steps.options]
            assert ids[:2] == ["reach-nodes", "gate-peer"] and "takeover" in ids
            steps.highlighted = ids.index("takeover")
            from hamn_tui.tui.widgets.output_pane import OutputPane

            pane = app.screen.query_one(OutputPane)
            await wait_for(pilot, lambda: pane.buffered("takeover", "mn2"), what="the takeover's recorded output")
            assert any("TAKEOVER HADR" in line.upper() or "completed successfully" in line for line in pane.buffered("takeover", "mn2"))
            detail = str(app.screen.query_one("#step-detail-text").render())
            assert "takeover hadr on database XCATDB" in detail and "exit 0" in detail and "run by" in detail
        return True

    run(go())


def test_review_of_a_tampered_log_says_invalid(tmp_path):
    run_dir = _headless_training_run(tmp_path / "runs")
    seg = run_dir / "audit-000.jsonl"
    data = bytearray(seg.read_bytes())
    i = data.index(b"takeover hadr")
    data[i] = ord("T")
    seg.write_bytes(bytes(data))

    async def go():
        app = _review(run_dir)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.screen.status, what="verified")
            assert str(app.screen.query_one("#verdict").render()).startswith("INVALID")
        return True

    run(go())


# --- run screen answers that training runbooks don't reach ------------------------------------------
LOCAL_RUNBOOK = '''\
[runbook]
id = "local-demo"
title = "Local demo"
version = "1"
databases = ["db2", "pg"]
summary = "Runs on the console only."

[[steps]]
id = "pick"
title = "Pick a way"
kind = "choice"
options = [ { id = "quick", label = "Quick way", explain = "one command" }, { id = "slow", label = "Slow way", explain = "a long command" } ]

[[steps]]
id = "long"
title = "A long command"
run = "echo started; sleep 30; echo finished"
mutating = false
'''


def _local_app(tmp_path: Path):
    path = tmp_path / "local-demo.toml"
    path.write_text(LOCAL_RUNBOOK)
    return make_app(Workspace(ClusterTarget(None), audit_dir=tmp_path / "runs"), open_runbook=str(path)), path


def test_choice_then_interrupt_a_running_command_makes_its_outcome_unknown(tmp_path):
    app, _ = _local_app(tmp_path)

    async def go():
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: screen_name(app) == "RunScreen")
            rs = app.screen
            await pilot.press("r")
            await wait_for(pilot, lambda: isinstance(app.screen, ChoiceModal), what="the choice")
            await pilot.press("escape")  # not now: the run keeps waiting
            await wait_for(pilot, lambda: screen_name(app) == "RunScreen")
            assert rs.ctl.question is not None and rs.ctl.question.kind == "choice"
            await pilot.press("r")
            await wait_for(pilot, lambda: isinstance(app.screen, ChoiceModal))
            await pilot.press("down", "enter")
            await wait_for(pilot, lambda: rs.ctl.model.steps["pick"].choice == "slow", what="choice recorded")
            await wait_for(pilot, lambda: rs.ctl.model.steps["long"].commands, what="the long command started")
            started = time.monotonic()
            await pilot.press("a")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal) and app.screen.title_text.startswith("Interrupt"))
            await pilot.press("y")
            await wait_for(pilot, lambda: rs.ctl.question is not None and rs.ctl.question.kind == "unknown", what="the unknown-outcome question")
            assert time.monotonic() - started < 10  # the 30 s sleep was stopped
            assert rs.ctl.model.steps["long"].commands[0].ending == "cancelled"
            assert "OUTCOME UNKNOWN" in str(rs.query_one("#decision").render())
            await pilot.press("d")  # it happened? needs a reason
            await wait_for(pilot, lambda: isinstance(app.screen, ReasonModal))
            await pilot.press(*"looked at the console", "enter")
            await wait_for(pilot, lambda: rs.ctl.finished, what="the run ends")
            assert rs.ctl.model.steps["long"].status == "done"
            assert "looked at the console" in rs.ctl.model.steps["long"].reason
        return True

    run(go())


def test_lock_held_shows_the_holder_and_needs_the_typed_text(tmp_path):
    app, _ = _local_app(tmp_path)

    async def go():
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: screen_name(app) == "RunScreen")
            rs = app.screen
            fut = asyncio.get_running_loop().create_future()
            q = Question("lock_held", "", "The cluster lock", expected_text="BREAK LOCK",
                         detail="held by alice@mn1 (run 20261124T0900Z-abc, since 2026-11-24T09:00:00+00:00)")
            rs.post_message(QuestionPending(q, fut))
            await wait_for(pilot, lambda: isinstance(app.screen, TypedConfirmModal))
            body = str(app.screen.query_one("VerticalScroll Static").render())
            assert "alice@mn1" in body
            assert "alice@mn1" in str(rs.query_one("#decision").render())
            await pilot.press(*"break lock", "enter")
            await pilot.pause(0.05)
            assert not fut.done()
            for _ in range(10):
                await pilot.press("backspace")
            await pilot.press(*"BREAK LOCK", "enter")
            await wait_for(pilot, lambda: fut.done())
            assert fut.result().action == "break_lock" and fut.result().text == "BREAK LOCK"
        return True

    run(go())


def test_leaving_a_running_run_is_refused_and_quit_asks(tmp_path):
    app, _ = _local_app(tmp_path)

    async def go():
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: screen_name(app) == "RunScreen")
            rs = app.screen
            await pilot.press("r")
            await wait_for(pilot, lambda: isinstance(app.screen, ChoiceModal))
            await pilot.press("enter")
            await wait_for(pilot, lambda: screen_name(app) == "RunScreen")
            await pilot.press("escape")
            await pilot.pause(0.1)
            assert app.screen is rs  # a run is going on: Esc does not leave it
            await pilot.press("ctrl+q")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal) and "Quit" in app.screen.title_text)
            assert app.screen.focused.id == "no"
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.screen is rs)
            assert app.is_running
        return True

    run(go())


def _rollback_runbook(tmp_path: Path) -> Path:
    made = tmp_path / "made"
    path = tmp_path / "rollback-demo.toml"
    path.write_text(f'''\
[runbook]
id = "rollback-demo"
title = "Rollback demo"
version = "1"
databases = ["db2", "pg"]
summary = "A change, then a failure: roll the change back."

[[steps]]
id = "make"
title = "Make a file"
run = "touch {made}"
mutating = true
[steps.rollback]
run = "rm {made}"

[[steps]]
id = "break"
title = "A step that fails"
run = "echo about to fail; exit 3"
mutating = false
''')
    return path


def test_rollback_shows_its_plan_then_undoes_and_a_note_reaches_the_audit_log(tmp_path):
    path = _rollback_runbook(tmp_path)
    audit = tmp_path / "runs"
    app = make_app(Workspace(ClusterTarget(None), audit_dir=audit), open_runbook=str(path))

    async def go():
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: screen_name(app) == "RunScreen")
            rs = app.screen
            await pilot.press("r")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the confirmation of the change")
            await pilot.press("y")
            await wait_for(pilot, lambda: rs.ctl.question is not None and rs.ctl.question.kind == "failed", what="the failure")
            assert (tmp_path / "made").exists()
            assert "exit status 3" in str(rs.query_one("#decision").render())
            await pilot.press("n")
            await wait_for(pilot, lambda: isinstance(app.screen, ReasonModal))
            await pilot.press(*"saw exit 3, rolling back", "enter")
            await wait_for(pilot, lambda: screen_name(app) == "RunScreen")
            await pilot.press("b")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal) and app.screen.title_text == "Roll back?")
            plan = _text(app.screen.body)
            assert "make:" in plan and f"rm {tmp_path / 'made'}" in plan
            assert app.screen.focused.id == "no"
            await pilot.press("y")
            await wait_for(pilot, lambda: rs.ctl.finished, what="the run ends")
            assert rs.ctl.model.steps["make"].status == "rolled_back"
            assert rs.ctl.model.outcome == "failed"
        return True

    run(go())
    assert not (tmp_path / "made").exists()  # the rollback really ran
    from hamn_tui.audit.verify import verify_path

    (run_dir,) = [d for d in audit.iterdir() if d.is_dir()]
    report = verify_path(run_dir)
    assert report.status == "VALID", report.line
    notes = [r["data"] for r in report.records if r["type"] == "note"]
    assert any(n["text"] == "operator note: saw exit 3, rolling back" for n in notes)
    assert [r["data"]["action"] for r in report.records if r["type"] == "answered"] == ["run", "rollback"]


def test_sixteen_colour_mode_uses_the_terminals_palette(tmp_path):
    from hamn_tui.sim.training import Training

    async def go():
        app = make_app(Workspace(TrainingTarget(Training("healthy")), audit_dir=tmp_path / "runs"), ansi_color=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: screen_name(app) == "HomeScreen")
            assert app.theme == "ansi-dark" and app.ansi_color
            panel = app.screen.query_one(StatusPanel)
            await wait_for(pilot, lambda: panel.snap is not None)
            assert "PEER" in _text(panel.renderable_now())
        return True

    run(go())


def test_training_faults_are_announced(tmp_path):
    """primary-node-crash: mn1 loses power as the trainee arrives; the TUI says so."""
    async def go():
        app = training_app(tmp_path / "runs", scenario="primary-node-crash")
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            await wait_for(pilot, lambda: screen_name(app) == "HomeScreen")
            messages = [n.message for n in app._notifications]
            assert any(m.startswith("fault at +0 s:") for m in messages), messages
        return True

    run(go())


def test_after_a_failover_the_plan_uses_the_live_roles(tmp_path):
    """switch-roles-back: mn2 is primary now. Opening a runbook shows its steps on the nodes
    the run will use (standby = mn1), and says where that binding comes from."""
    async def go():
        app = training_app(tmp_path / "runs", scenario="switch-roles-back")
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.snapshot is not None, what="a status reading")
            assert app.live_roles() == {"primary": "mn2", "standby": "mn1"}
            await open_runbook(pilot, "failover-planned")
            rs = app.screen
            assert rs.ctl.model.steps["takeover"].node == "mn1" and rs.ctl.model.steps["takeover"].role == "standby"
            assert "primary=mn2 standby=mn1 (live status)" in str(rs.query_one("#run-header").render())
        return True

    run(go())
