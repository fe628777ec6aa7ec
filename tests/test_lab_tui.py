"""`hamn train --lab`: the TUI against the real two-node lab (real sshd in each namespace, real
PostgreSQL streaming) — its home reads the pair through the real probes over SSH."""
from __future__ import annotations

import os
import subprocess
import sys

from textual.widgets import OptionList

from hamn_tui.app.targets import ClusterTarget

from hamn_tui.app.workspace import Workspace
from hamn_tui.tui.launch import make_app
from hamn_tui.tui.widgets.status_panel import StatusPanel

from .lab_support import lab  # noqa: F401
from .tui_support import run, screen_name, wait_for


def test_train_lab_refuses_clearly_when_the_lab_is_not_up(tmp_path):
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    r = subprocess.run([sys.executable, "-m", "hamn_tui", "train", "--lab"], capture_output=True, text=True, env=env)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "hamn lab up" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_tui_home_on_the_lab_reads_the_real_pair(lab, tmp_path):  # noqa: F811
    lab.reset("pair")

    async def go():
        app = make_app(Workspace(ClusterTarget(str(lab.cluster_path), label="lab"), audit_dir=tmp_path / "runs"))
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: screen_name(app) == "HomeScreen")
            panel = app.screen.query_one(StatusPanel)
            # the whole first reading (until then the panel shows the nodes that have answered)
            await wait_for(pilot, lambda: app.snapshot is not None and panel.snap is app.snapshot, timeout=30, what="a reading of the lab")
            nodes = panel.snap.nodes
            assert nodes["mn1"].reachable is True and nodes["mn2"].reachable is True
            assert nodes["mn1"].replication.get("role") == "primary"
            assert nodes["mn2"].replication.get("role") == "standby"
            table = panel.renderable_now()
            from rich.console import Console

            console = Console(width=120, record=True, color_system=None)
            console.print(table)
            wal = next(line for line in console.export_text().splitlines() if line.strip().startswith("WAL receiver")).split()
            assert wal[2:] == ["n/a", "streaming"]  # a primary has none: not "unknown"
            assert nodes["mn1"].holds_service_ip is True and nodes["mn2"].holds_service_ip is False
            runbooks = app.screen.query_one("#runbooks", OptionList)
            await wait_for(pilot, lambda: runbooks.option_count, what="the runbooks listed")
            ids = [o.id for o in runbooks.options if not o.disabled]  # group headings are disabled options
            assert "pg-failover" in ids and not any(i.startswith("failover-") for i in ids)  # a PostgreSQL cluster
            assert app.live_roles() == {"primary": "mn1", "standby": "mn2"}
            assert "TRAINING" not in str(app.screen.query_one("#banner").render())  # real software, not the simulator
        return True

    run(go())


def test_another_operators_lock_is_shown_and_nothing_runs(lab, tmp_path):  # noqa: F811
    """A real lock on both lab nodes held by another run: the TUI names its holder, breaking it
    needs the typed text, and declining (abort) runs nothing, not even the always section."""
    import asyncio

    from hamn_tui.engine.lock import ClusterLock, Holder
    from hamn_tui.cluster.loader import load_cluster
    from hamn_tui.transport.ssh import SshTransport

    from hamn_tui.tui.modals import ConfirmModal, TypedConfirmModal

    lab.reset("pair")
    cluster = load_cluster(str(lab.cluster_path))
    other = Holder(user="alice", host="console-2", run_id="20261124T090000Z-0ther0", since="2026-11-24T09:00:00+00:00")

    async def take() -> ClusterLock:
        lock = ClusterLock(SshTransport(cluster), ["mn1", "mn2"], cluster.cluster.name)
        assert await lock.acquire(other) is None
        return lock

    async def go():
        lock = await take()
        try:
            app = make_app(Workspace(ClusterTarget(str(lab.cluster_path)), audit_dir=tmp_path / "runs"), open_runbook="pg-failover")
            async with app.run_test(size=(100, 30)) as pilot:
                await wait_for(pilot, lambda: screen_name(app) == "RunScreen")
                rs = app.screen
                await pilot.press("r")
                await wait_for(pilot, lambda: isinstance(app.screen, TypedConfirmModal), timeout=30, what="the lock question")
                body = str(app.screen.query_one("VerticalScroll Static").render())
                assert "alice" in body and "console-2" in body and "20261124T090000Z-0ther0" in body
                await pilot.press("escape")
                await wait_for(pilot, lambda: screen_name(app) == "RunScreen")
                assert "LOCK HELD" in str(rs.query_one("#decision").render())
                await pilot.press("a")
                await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
                await pilot.press("y")
                await wait_for(pilot, lambda: rs.ctl.finished, timeout=30)
                assert rs.ctl.model.outcome == "aborted"
                assert all(not row.commands for row in rs.ctl.model.steps.values())
        finally:
            await lock.release()
            await lock.transport.close()
        return True

    run(go())


def test_planned_switchover_on_the_lab_driven_by_key_presses(lab, tmp_path):  # noqa: F811
    """Training on real software: pg-failover in the TUI against the lab, answered only by keys
    (choose planned, y at each confirmation, type mn2 at the promotion). The service IP ends on
    mn2, which takes writes, and the run's signed log verifies."""
    from hamn_tui.audit.verify import verify_path
    from hamn_tui.lab import netns
    from hamn_tui.tui.modals import ChoiceModal, ConfirmModal, TypedConfirmModal

    from .lab_support import vip_connect

    lab.reset("pair")
    audit = tmp_path / "runs"
    typed: list[str] = []

    async def go():
        app = make_app(Workspace(ClusterTarget(str(lab.cluster_path)), audit_dir=audit), open_runbook="pg-failover")
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: screen_name(app) == "RunScreen")
            rs = app.screen
            await pilot.press("r")
            while not rs.ctl.finished:
                await wait_for(pilot, lambda: rs.ctl.finished or isinstance(app.screen, (ChoiceModal, ConfirmModal, TypedConfirmModal))
                               or rs.ctl.question is not None, timeout=120, what="a question or the end")
                if isinstance(app.screen, ChoiceModal):
                    ids = [o.id for o in app.screen.options]
                    await pilot.press(*(["down"] * ids.index("planned")), "enter")
                elif isinstance(app.screen, TypedConfirmModal):
                    typed.append(app.screen.expected)
                    await pilot.press(*app.screen.expected, "enter")
                elif isinstance(app.screen, ConfirmModal):
                    await pilot.press("y")
                elif rs.ctl.question is not None and rs.ctl.question.kind in ("failed", "gate_failed", "unknown") and not rs.ctl.finished:
                    raise AssertionError(f"the run stopped at {rs.ctl.question.step_id}: {rs.ctl.question.kind}: {rs.ctl.question.detail}")
                # an approval's dialog is on its way: the question is set before the dialog is pushed
                await pilot.pause(0.05)
            assert rs.ctl.model.outcome == "done", rs.ctl.model.reason
        return True

    run(go())
    assert typed == ["mn2"]
    assert netns.holds_service_ip("mn2") and not netns.holds_service_ip("mn1")
    conn = vip_connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT pg_is_in_recovery()")
            assert cur.fetchone() == (False,)
            cur.execute("CREATE TABLE after_tui_switchover AS SELECT 1 AS v")
    finally:
        conn.close()
    (run_dir,) = [d for d in audit.iterdir() if d.is_dir()]
    report = verify_path(run_dir)
    assert report.status == "VALID", report.line
    assert not next(r for r in report.records if r["type"] == "run_started")["data"]["training"]
