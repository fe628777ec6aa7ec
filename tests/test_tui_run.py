"""Pilot tests of the run screen and its modals, on the training cluster (the real engine,
probes and audit writer over the simulator), plus a whole failover driven by key presses."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hamn_tui.audit.verify import verify_path
from hamn_tui.tui.modals import ConfirmModal, ReasonModal, TypedConfirmModal

from .tui_support import abort_run, log_dir, open_runbook, run, run_screen, screen_name, training_app, wait_for




async def _until_modal_or_end(pilot, app, timeout=15.0):
    await wait_for(pilot, lambda: screen_name(app).endswith("Modal") or run_screen(app).ctl.finished or run_screen(app).ctl.question, timeout,
                   "a question or the end of the run")






def _records(audit_dir: Path) -> list[dict]:
    return verify_path(log_dir(audit_dir)).records


def test_whole_training_failover_by_key_presses_then_its_audit_log_verifies(tmp_path):
    """Home → failover-planned → r, then only what an operator types: y at each confirmation,
    the typed text at the takeover. The run ends done and its signed log is VALID, with every
    answer recorded as given at the keyboard."""
    audit = tmp_path / "runs"

    async def go():
        app = training_app(audit)
        async with app.run_test(size=(80, 24)) as pilot:
            await open_runbook(pilot, "failover-planned")
            await pilot.press("r")
            answered = []
            while True:
                await _until_modal_or_end(pilot, app)
                name = screen_name(app)
                if name == "ConfirmModal":
                    await pilot.press("y")
                elif name == "TypedConfirmModal":
                    answered.append(app.screen.expected)
                    await pilot.press(*app.screen.expected, "enter")
                elif run_screen(app).ctl.finished:
                    break
                await wait_for(pilot, lambda: not screen_name(app).endswith("Modal") or True)
                await pilot.pause(0.02)
            rs = run_screen(app)
            assert rs.ctl.model.outcome == "done", rs.ctl.model.reason
            assert answered == ["XCATDB"]
            done, total = rs.ctl.model.progress()
            assert done == total == 14
            await wait_for(pilot, lambda: rs.ctl.audit_line, what="the audit log verified")
            assert "Audit log VALID" in str(app.screen.query_one("#decision").render())
        return True

    run(go())
    report = verify_path(log_dir(audit))
    assert report.status == "VALID", report.line
    kinds = [(r["data"]["step_id"], r["data"]["action"], r["data"]["text"]) for r in report.records if r["type"] == "answered"]
    assert ("takeover", "run", "XCATDB") in kinds
    assert sum(1 for _, a, _ in kinds if a == "run") == 10
    started = next(r for r in report.records if r["type"] == "run_started")["data"]
    assert started["training"] is True
    # the stock verifier agrees: the CLI on the same directory
    out = subprocess.run([sys.executable, "-m", "hamn_tui", "audit", "verify", str(log_dir(audit))], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip().splitlines()[-1].startswith("VALID"), out.stdout + out.stderr


def test_confirmation_defaults_to_no_and_nothing_runs(tmp_path):
    """Enter on a fresh confirmation means No: the dialog closes, the step's command is not
    sent, the run keeps waiting, and r brings the same question back."""
    audit = tmp_path / "runs"

    async def go():
        app = training_app(audit)
        async with app.run_test(size=(80, 24)) as pilot:
            await open_runbook(pilot, "failover-planned")
            await pilot.press("r")
            await _until_modal_or_end(pilot, app)
            assert isinstance(app.screen, ConfirmModal)
            assert app.screen.focused is not None and app.screen.focused.id == "no"
            step = run_screen(app).ctl.question.step_id
            await pilot.press("enter")
            await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmModal), what="the modal closes")
            rs = run_screen(app)
            assert rs.ctl.question is not None and rs.ctl.question.step_id == step  # still waiting
            assert rs.ctl.model.steps[step].commands == []
            assert "WAITING FOR YOU" in str(rs.query_one("#decision").render())
            assert rs.check_action("run", ()) and rs.check_action("retry", ()) is None
            await pilot.press("n")  # not an answer on the run screen: notes need a running run (it is) → modal
            if isinstance(app.screen, ReasonModal):
                await pilot.press("escape")
            await pilot.press("r")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the question again")
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmModal))
            assert rs.ctl.model.steps[step].commands == []
            await pilot.press("a")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="abort dialog")
            assert app.screen.focused.id == "no"
            await pilot.press("y")
            await wait_for(pilot, lambda: rs.ctl.finished, what="the run ends")
            assert rs.ctl.model.outcome == "aborted"
        return True

    run(go())
    recs = _records(audit)
    assert not any(r["type"] == "command_sent" and r["data"]["step_id"] == "stop-xcatd-service-nodes" for r in recs)
    assert [r["data"]["action"] for r in recs if r["type"] == "answered"] == ["abort"]


def test_typed_confirmation_needs_the_exact_text(tmp_path):
    async def go():
        app = training_app(tmp_path / "runs")
        async with app.run_test(size=(80, 24)) as pilot:
            await open_runbook(pilot, "failover-planned")
            await pilot.press("r")
            while True:
                await _until_modal_or_end(pilot, app)
                if isinstance(app.screen, TypedConfirmModal):
                    break
                await pilot.press("y")
                await pilot.pause(0.02)
            modal = app.screen
            body = str(modal.query_one("VerticalScroll Static").render())
            assert "takeover hadr on database XCATDB" in body  # the exact command
            assert "db2.takeover.graceful == allowed — now 'allowed'" in body  # and the gate as read now
            await pilot.press(*"xcatdb", "enter")  # wrong case
            await pilot.pause(0.05)
            assert app.screen is modal
            assert "does not match" in str(modal.query_one("#error").render())
            assert modal.query_one("#go").disabled
            rs = run_screen(app)
            assert rs.ctl.model.steps["takeover"].commands == []
            assert "on mn2 (standby) as xcatdb" in str(rs.query_one("#step-detail-text").render())  # the node the role is bound to
            for _ in range(6):
                await pilot.press("backspace")
            await pilot.press(*"XCATDB")
            assert not modal.query_one("#go").disabled
            await pilot.press("enter")
            await wait_for(pilot, lambda: rs.ctl.model.steps["takeover"].commands, what="the takeover command sent")
            assert "takeover hadr on database XCATDB" in rs.ctl.model.steps["takeover"].commands[0].command
        return True

    run(go())


def test_skip_requires_a_reason_and_records_it(tmp_path):
    """healthy pair + db2-hadr-setup: the STANDARD-role gate fails; s asks for a reason, an
    empty one is refused, the given one is in the audit log."""
    audit = tmp_path / "runs"

    async def go():
        app = training_app(audit)
        async with app.run_test(size=(80, 24)) as pilot:
            await open_runbook(pilot, "db2-hadr-setup")
            await pilot.press("r")
            rs = run_screen(app)
            await wait_for(pilot, lambda: rs.ctl.question is not None and rs.ctl.question.kind in ("failed", "gate_failed"), what="a failed step")
            step = rs.ctl.question.step_id
            assert "WAITING FOR YOU" in str(rs.query_one("#decision").render())
            # the footer offers what this question accepts, dims the rest
            assert rs.check_action("skip", ()) and rs.check_action("retry", ()) and rs.check_action("rollback", ())
            assert rs.check_action("decide_done", ()) is None  # "it happened" is only for unknown outcomes
            assert rs.check_action("run", ()) is None
            await pilot.press("s")
            await wait_for(pilot, lambda: isinstance(app.screen, ReasonModal))
            await pilot.press("enter")
            await pilot.pause(0.05)
            assert isinstance(app.screen, ReasonModal)
            assert "reason is required" in str(app.screen.query_one("#error").render())
            await pilot.press(*"checked by hand: pair already set up", "enter")
            await wait_for(pilot, lambda: rs.ctl.model.steps[step].status == "skipped", what="the step skipped")
            assert "checked by hand" in rs.ctl.model.steps[step].reason
            await abort_run(pilot, app)
        return True

    run(go())
    ans = [r["data"] for r in _records(audit) if r["type"] == "answered"]
    assert ans[0]["action"] == "skip" and ans[0]["reason"] == "checked by hand: pair already set up"


def test_resume_prompt_for_an_unfinished_run(tmp_path):
    """A headless run that stopped waiting for an answer leaves an unfinished run; opening the
    runbook in the TUI offers to resume it (default No), and Resume continues the same run."""
    audit = tmp_path / "runs"
    out = subprocess.run([sys.executable, "-m", "hamn_tui", "run", "failover-planned", "--training", "healthy", "--headless",
                          "--audit-dir", str(audit)], capture_output=True, text=True)
    assert out.returncode == 4, out.stdout + out.stderr

    async def go():
        app = training_app(audit)
        async with app.run_test(size=(80, 24)) as pilot:
            await open_runbook(pilot, "failover-planned")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the resume prompt")
            assert app.screen.title_text == "Resume the unfinished run?"
            assert app.screen.focused.id == "no"
            await pilot.press("enter")  # not now
            await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmModal))
            rs = run_screen(app)
            assert not rs.ctl.started
            assert "unfinished run" in str(rs.query_one("#decision").render())
            await pilot.press("r")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal) and "Resume" in app.screen.title_text)
            await pilot.press("y")
            await wait_for(pilot, lambda: rs.ctl.started and (rs.ctl.question is not None or rs.ctl.finished))
            assert rs.ctl.model.steps["reach-nodes"].status == "done"  # done before: not run again
            assert rs.ctl.session.resumed_from is not None
            await abort_run(pilot, app)
        return True

    run(go())
    (run_dir,) = [d for d in audit.iterdir() if d.is_dir()]
    assert len(list(run_dir.glob("audit-*.jsonl"))) == 2  # the resume added a segment to the same run
