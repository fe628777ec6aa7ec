"""Home: the cluster at a glance, the runbooks that apply to it, and recent runs with their
verification result."""
from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Label, OptionList, Static
from textual.widgets.option_list import Option

from ...app.doctor import diagnose
from ...app.situation import Situation, arrange
from ...app.targets import ClusterTarget
from ...app.workspace import RecentRun
from ..commands import bindings
from ..widgets.doctor_line import DoctorLine
from ..widgets.situation_bar import SituationBar
from ..widgets.status_panel import StatusPanel

if TYPE_CHECKING:
    from ..app import HamnApp

VERDICT_STYLE = {"VALID": "green", "INVALID": "bold red", "INCOMPLETE": "yellow"}


def recent_prompt(r: RecentRun) -> Text:
    verdict = r.verification.split(":", 1)[0]
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(f"{verdict:<10}", style=VERDICT_STYLE.get(verdict, "magenta"))
    t.append(f" {r.started[:16].replace('T', ' ')}  ")
    t.append(f"{r.runbook_id}", style="bold")
    t.append(f"  {r.outcome}", style="green" if r.outcome == "done" else "red" if r.outcome in ("failed", "aborted") else "yellow")
    if r.training:
        t.append("  TRAINING", style="magenta")
    return t


class HomeScreen(Screen[None]):
    SCREEN_NAME = "home"
    BINDINGS = bindings("home")
    DEFAULT_CSS = """
    HomeScreen #banner { height: auto; padding: 0 1; background: $primary-background; }
    HomeScreen #banner.-training { background: $secondary-background; text-style: bold; }
    HomeScreen StatusPanel { height: auto; max-height: 10; border-bottom: solid $primary-darken-2; }
    HomeScreen .heading { text-style: bold; padding: 0 1; width: 100%; background: $boost; }
    HomeScreen #runbooks { height: 1fr; min-height: 4; }
    HomeScreen #recent { height: auto; max-height: 6; min-height: 2; }
    """

    @property
    def hamn(self) -> HamnApp:
        return cast("HamnApp", self.app)

    def __init__(self) -> None:
        super().__init__()
        self.recent: list[RecentRun] = []
        self.runbook_list: list = []
        self.arranged_for: tuple[str, ...] | None = None
        """The recommended runbooks the list was last ordered for: it is re-ordered (and the first
        recommendation highlighted) only when they change, never under the operator's cursor otherwise."""
        self.doctor_started = False
        """The readiness check runs once, after the first status reading is on screen."""

    def compose(self) -> ComposeResult:
        yield Static(id="banner")
        yield SituationBar(id="situation", clock=None if self.hamn.is_training else time.monotonic)
        yield StatusPanel(id="home-status")
        yield DoctorLine(id="doctor")
        with Vertical():
            yield Label("Runbooks — Enter opens one (nothing runs until you start it)", classes="heading")
            yield OptionList(id="runbooks")
            yield Label("Recent runs — v reviews one", classes="heading")
            yield OptionList(id="recent")
        yield Footer()

    def on_mount(self) -> None:
        workspace = self.hamn.workspace
        banner = self.query_one("#banner", Static)
        if workspace.is_training:
            banner.add_class("-training")
            banner.update(f"TRAINING — {workspace.label or 'a simulated cluster'}. Nothing real is touched; faults are injected.")
        elif workspace.cluster is not None:
            c = workspace.cluster
            banner.update(f"cluster {c.cluster.name} ({c.cluster.database}) — {workspace.cluster_path}")
        else:
            banner.update("no cluster file: hamn --cluster FILE (or HAMN_CLUSTER); `hamn train` needs none")
        self.query_one("#doctor", DoctorLine).display = self._checks_readiness()
        self.load_runbooks()
        self.query_one("#runbooks", OptionList).focus()
        self.hamn.refresh_status_panels()
        self.load_recent()

    @work(thread=True, group="runbooks", exit_on_error=False, description="read the runbooks")
    def load_runbooks(self) -> None:
        good, problems = self.hamn.workspace.runbooks()
        self.app.call_from_thread(self._show_runbooks, good, problems)

    def _show_runbooks(self, good: list, problems: list[str]) -> None:
        self.runbook_list = good
        self.arranged_for = None
        self._arrange(self.hamn.situation)
        for p in problems[:3]:
            self.notify(p, severity="error", timeout=20)

    def situation_changed(self, situation: Situation | None) -> None:
        """A new reading: lead with what it recommends, if that changed."""
        if self.runbook_list:
            self._arrange(situation)
        self._check_readiness_once()

    def _checks_readiness(self) -> bool:
        """Only a real cluster is checked (training's is simulated; no cluster file, nothing to check)."""
        workspace = self.hamn.workspace
        return not workspace.is_training and workspace.cluster is not None

    def _check_readiness_once(self) -> None:
        """After the first reading (or its failure) is shown, so the check never delays the situation line."""
        app = self.hamn
        if self.doctor_started or not self._checks_readiness() or (app.snapshot_taken is None and not app.status_error):
            return
        self.doctor_started = True
        self.query_one("#doctor", DoctorLine).checking()
        self.check_readiness()

    @work(thread=True, exclusive=True, group="doctor", exit_on_error=False, description="hamn doctor: is the cluster ready")
    def check_readiness(self) -> None:
        workspace = self.hamn.workspace
        line = self.query_one("#doctor", DoctorLine)
        if not isinstance(workspace.target, ClusterTarget):
            return
        try:
            report = asyncio.run(diagnose(workspace.target, audit_dir=workspace.audit_dir, lock_dir=workspace.lock_dir,
                                          key=workspace.key))
        except Exception as exc:  # the doctor's own failure is shown as such: never "ready"
            self.app.call_from_thread(line.failed, f"{type(exc).__name__}: {exc}")
            return
        self.app.call_from_thread(line.show, report)

    def _arrange(self, situation: Situation | None) -> None:
        wanted = tuple(r.runbook for r in situation.recommended) if situation is not None else ()
        if wanted == self.arranged_for:
            return
        self.arranged_for = wanted
        by_id = {rb.runbook.id: rb for _, rb in self.runbook_list}
        why = {r.runbook: r.why for r in situation.recommended} if situation is not None else {}
        options: list[Option] = []
        for group, ids in arrange(list(by_id), situation):
            heading = "recommended now" if group == "recommended" else group
            options.append(Option(Text(f"── {heading} ──", style="bold" if group == "recommended" else "dim"), disabled=True))
            for rid in ids:
                m = by_id[rid].runbook
                t = Text(no_wrap=True, overflow="ellipsis")
                t.append("▶ " if rid in why else "  ", style="bold")
                t.append(f"{m.id:<25} ", style="bold")
                t.append(m.title)
                t.append(f"\n    {why.get(rid) or m.summary}", style="bold" if rid in why else "dim")
                options.append(Option(t, id=m.id))
        rbl = self.query_one("#runbooks", OptionList)
        rbl.set_options(options)
        first = next((i for i, o in enumerate(options) if not o.disabled), None)
        if first is not None:
            rbl.highlighted = first

    def on_screen_resume(self) -> None:
        self.hamn.refresh_status_panels()
        self.load_recent()

    @work(thread=True, exclusive=True, group="recent", exit_on_error=False, description="verify recent runs' audit logs")
    def load_recent(self) -> None:
        runs = self.hamn.workspace.recent_runs()
        self.app.call_from_thread(self._show_recent, runs)

    def _show_recent(self, runs: list[RecentRun]) -> None:
        self.recent = runs
        lst = self.query_one("#recent", OptionList)
        lst.set_options([Option(recent_prompt(r), id=str(i)) for i, r in enumerate(runs)] or [Option(Text("no runs yet", style="dim"), disabled=True)])
        if runs:
            lst.highlighted = 0

    @on(OptionList.OptionSelected, "#runbooks")
    def _open(self, event: OptionList.OptionSelected) -> None:
        self._open_runbook(event.option.id)

    @on(OptionList.OptionSelected, "#recent")
    def _review_selected(self, event: OptionList.OptionSelected) -> None:
        self.action_review_run()

    def _open_runbook(self, runbook_id: str | None) -> None:
        from .run import RunScreen

        if runbook_id:
            app = self.hamn
            self.app.push_screen(RunScreen(runbook_id, sets=app.sets, roles=app.roles, dry_run=app.dry_run))

    def action_open_runbook(self) -> None:
        opt = self.query_one("#runbooks", OptionList).highlighted_option
        self._open_runbook(opt.id if opt else None)

    def action_review_run(self) -> None:
        from .review import ReviewScreen

        opt = self.query_one("#recent", OptionList).highlighted_option
        if opt is None or opt.id is None:
            self.notify("no run selected: Tab to the recent runs, ↑/↓ to pick one")
            return
        self.app.push_screen(ReviewScreen(self.recent[int(opt.id)].path))

    def action_refresh(self) -> None:
        self.hamn.poll_status_now()
        self.load_recent()
