"""The hamn Textual app: screens on top of one `Workspace`, a status poller, and the run worker.

Long-lived work lives on the App, never on a screen: the status poller (completion-chained:
the next reading is scheduled when the last one ends, so slow probes never pile up, and no
probe runs while a modal waits for the operator) and the runner (an App worker, so leaving a
screen can never cancel a failover).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from textual.app import App
from textual.message import Message
from textual.screen import ModalScreen

from ..app.situation import Situation, assess
from ..app.status import live_roles
from ..app.workspace import Workspace
from .commands import ActionsProvider, app_bindings
from .modals import ConfirmModal
from .widgets.situation_bar import SituationBar
from .widgets.status_panel import StatusPanel


class StatusRead(Message):
    def __init__(self, snapshot: Any, error: str) -> None:
        super().__init__()
        self.snapshot = snapshot
        self.error = error


class NodeRead(Message):
    """One node of a reading under way has been read (the first reading shows it at once)."""

    def __init__(self, node: Any) -> None:
        super().__init__()
        self.node = node


class HamnApp(App[None]):
    TITLE = "hamn"
    CSS_PATH = "hamn.tcss"
    COMMANDS = App.COMMANDS | {ActionsProvider}
    BINDINGS = app_bindings()
    ENABLE_COMMAND_PALETTE = True

    def __init__(self, workspace: Workspace, *, open_runbook: str | None = None, review: Path | None = None, poll_s: float | None = None,
                 sets: dict[str, str] | None = None, roles: dict[str, str] | None = None, dry_run: bool = False,
                 ansi_color: bool = False) -> None:
        super().__init__(ansi_color=ansi_color)
        self.workspace = workspace
        self.open_runbook = open_runbook
        self.review_path = review
        self.sets, self.roles, self.dry_run = sets or {}, roles or {}, dry_run
        self.poll_s = poll_s if poll_s is not None else (2.0 if workspace.is_training else 5.0)
        self.snapshot: Any = None
        self.situation: Situation | None = None
        """What the last reading says is going on (`app.situation`): the home screen leads with it."""
        self.snapshot_taken: float | None = None
        self.partial: dict[str, Any] = {}
        """Nodes of the first reading read so far (shown until that reading is whole)."""
        self.status_error = ""
        self.reading = False
        self.polling = True
        self.active_run: Any = None
        self._poll_timer: Any = None

    @property
    def is_training(self) -> bool:
        return self.workspace.is_training

    def on_mount(self) -> None:
        from .screens.home import HomeScreen

        if self.ansi_color:
            self.theme = "ansi-dark"  # the terminal's own palette: 16-colour consoles keep the meaning
        if self.is_training:
            self.sub_title = "TRAINING — " + (self.workspace.label or "simulated cluster")
        elif self.workspace.cluster is not None:
            self.sub_title = f"{self.workspace.cluster.cluster.name} ({self.workspace.cluster.cluster.database})"
        if self.workspace.training is not None:
            for secs, text in self.workspace.training.sim.happened:  # a fault at t = 0: the trainee arrives just as it happens
                self.notify(f"fault at +{secs:g} s: {text}", title="TRAINING", severity="warning", timeout=20)
        self.workspace.on_fault(lambda secs, text: self.notify(f"fault at +{secs:g} s: {text}", title="TRAINING", severity="warning", timeout=12))
        if self.review_path is not None:
            from .screens.review import ReviewScreen

            self.polling = False
            self.push_screen(ReviewScreen(self.review_path))
            return
        self.push_screen(HomeScreen())
        if self.open_runbook:
            from .screens.run import RunScreen

            self.push_screen(RunScreen(self.open_runbook, sets=self.sets, roles=self.roles, dry_run=self.dry_run))
        if self.workspace.cluster is not None:
            self.poll_status()

    # --- status polling ----------------------------------------------------------------------
    def poll_status(self) -> None:
        self._poll_timer = None
        if not self.polling:
            return
        if isinstance(self.screen, ModalScreen) and not getattr(self.screen, "LIVE_STATUS", False):
            # the operator is deciding: keep the screen still and the links quiet (not while
            # merely waiting — for a second operator, for minutes — when the pair's state matters)
            self._poll_timer = self.set_timer(self.poll_s, self.poll_status)
            return
        self.reading = True
        self.run_worker(self._read_status(), group="status", exit_on_error=False, description="read both nodes' status")

    async def _read_status(self) -> None:
        snap, error = None, ""
        first = self.snapshot is None
        try:
            snap = await self.workspace.read_status((lambda node: self.post_message(NodeRead(node))) if first else None)
        except Exception as exc:  # timeout, ssh failure: shown as stale, the app goes on
            error = str(exc) or type(exc).__name__
        self.post_message(StatusRead(snap, error))

    def on_node_read(self, message: NodeRead) -> None:
        """Until the first whole reading: what has answered so far, and who is still being asked
        (a dead node takes the kernel ~3 s to give up on; the live one is shown meanwhile)."""
        if self.snapshot is not None or self.workspace.cluster is None:
            return
        self.partial[message.node.name] = message.node
        self.refresh_status_panels()

    def _partial_view(self) -> tuple[Any, str]:
        from ..app.status import NodeStatus, Snapshot

        cluster = self.workspace.cluster
        pair = [(n, node.role) for n, node in cluster.nodes.items() if node.role in ("primary", "standby")]
        nodes = {n: self.partial.get(n) or NodeStatus(n, role, None, errors=["no answer yet"]) for n, role in pair}
        waiting = [f"{n} ({role})" for n, role in pair if n not in self.partial]
        answered = [n for n, _ in pair if n in self.partial]
        note = f"reading: {', '.join(answered)} read; no answer yet from {', '.join(waiting)}" if waiting else ""
        return Snapshot(cluster.cluster.name, cluster.cluster.database, time.time(), nodes), note

    def on_status_read(self, message: StatusRead) -> None:
        self.reading = False
        if message.snapshot is not None:
            self.snapshot, self.snapshot_taken = message.snapshot, time.monotonic()
            if self.workspace.cluster is not None:  # a reading comes only from a cluster
                self.situation = assess(message.snapshot, self.workspace.cluster)
        self.status_error = message.error
        self.refresh_status_panels()
        if self.polling and self._poll_timer is None:
            self._poll_timer = self.set_timer(self.poll_s, self.poll_status)

    def poll_status_now(self, quiet: bool = False) -> None:
        if self.workspace.cluster is None:
            return
        if self.reading:
            if not quiet:
                self.notify("a reading is already under way")
            return
        if self._poll_timer is not None:
            self._poll_timer.stop()
            self._poll_timer = None
        self.poll_status()

    def refresh_status_panels(self) -> None:
        note = "" if self.workspace.cluster is not None else "no cluster file: give --cluster FILE or set HAMN_CLUSTER (hamn train needs none)"
        snapshot, reading_note = self.snapshot, ""
        if snapshot is None and self.partial and self.reading:
            snapshot, reading_note = self._partial_view()
        for screen in self.screen_stack:  # under a dialog that keeps the status live, the run screen's panels
            for panel in screen.query(StatusPanel):
                panel.show(snapshot, self.snapshot_taken, self.status_error, self.reading, note)
        for screen in self.screen_stack:
            for bar in screen.query(SituationBar):
                bar.show(self.situation, self.snapshot_taken, note or reading_note)
        follow = getattr(self.screen, "situation_changed", None)
        if follow is not None:
            follow(self.situation)

    def live_roles(self) -> dict[str, str]:
        """Roles as the cluster is now, from the last reading (see `app.status.live_roles`)."""
        return live_roles(self.snapshot)

    def settled(self) -> bool:
        """Whether a dialog on top is mounted and has focused its default. A pushed screen is
        `self.screen` at once, its widgets later: keys sent before that go nowhere (the tests
        and the screenshot script wait for this before typing)."""
        screen = self.screen
        return not isinstance(screen, ModalScreen) or (screen.is_mounted and screen.focused is not None)

    # --- runs ----------------------------------------------------------------------------------
    def run_started(self, screen: Any) -> None:
        self.active_run = screen

    def run_finished(self, screen: Any) -> None:
        if self.active_run is screen:
            self.active_run = None

    # --- app-wide actions ------------------------------------------------------------------------
    def action_help(self) -> None:
        from .screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_quit_safely(self) -> None:
        if self.active_run is None:
            self.exit()
            return
        self.push_screen(ConfirmModal("Quit while a run is going on?",
                                      "The run stops where it is, unfinished. Its audit log is kept; open the runbook again "
                                      "(or `hamn run RUNBOOK --resume`) to continue it. A command running now has an unknown outcome.",
                                      yes="Quit", no="Stay", danger=True),
                         lambda ok: self.exit() if ok else None)

    async def action_quit(self) -> None:
        self.action_quit_safely()

    async def on_unmount(self) -> None:
        await self.workspace.close()
