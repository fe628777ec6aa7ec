"""`hamn audit review LOG`: a finished run replayed in the run screen's widgets.

The verification result comes first (VALID / INVALID / INCOMPLETE, and why); then the steps as
the operator saw them, rebuilt from the log's records by the same fold (`record.fold`) the live run
uses; the selected step's commands, checks and decisions; and its recorded output, read from
the log's output store (neutralised and redacted, as it was written).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from ...audit.report import build, facts  # module level: never import inside a thread worker (see app/workspace.py)
from ...audit.store import OutputStore
from ...textsafe import neutralise
from ..commands import bindings
from ..modals import TextModal
from ...app.plan import plan
from ...record.fold import RunFold
from ..widgets.output_pane import OutputPane, PaneKeys
from ..widgets.fanout_progress import FanoutProgress
from ..widgets.step_detail import StepDetail
from ..widgets.step_list import StepList

STATUS_STYLE = {"VALID": "bold green", "INVALID": "bold white on red", "INCOMPLETE": "bold black on yellow"}


class ReviewScreen(PaneKeys, Screen[None]):
    SCREEN_NAME = "review"
    BINDINGS = [*bindings("review"), Binding("i", "facts", "Facts", id="review.facts"), Binding("l", "timeline", "Timeline", id="review.timeline")]
    DEFAULT_CSS = """
    ReviewScreen #verdict { height: auto; padding: 0 1; }
    ReviewScreen #facts { height: auto; max-height: 3; padding: 0 1; color: $text-muted; border-bottom: solid $primary-darken-2; }
    ReviewScreen #review-body { height: 1fr; }
    ReviewScreen StepList { width: 32; max-width: 40%; border-right: solid $primary-darken-2; }
    ReviewScreen #review-right { width: 1fr; }
    ReviewScreen OutputPane { height: 1fr; }
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.model = RunFold()
        self.view: Any = None
        self.status = ""
        self._loaded_outputs: set[str] = set()

    def compose(self) -> ComposeResult:
        yield Static(Text("verifying the audit log…", style="magenta"), id="verdict")
        yield Static(id="facts")
        with Horizontal(id="review-body"):
            yield StepList(id="steps")
            with Vertical(id="review-right"):
                yield StepDetail(id="detail")
                yield FanoutProgress(id="fanout")
                yield OutputPane(id="output")
        yield Footer()

    def on_mount(self) -> None:
        self.load()

    @work(thread=True, group="review", exit_on_error=False, description="verify and read the audit log")
    def load(self) -> None:
        try:
            view = build(self.path)
        except Exception as exc:  # not a log, unreadable: say so on the screen
            self.app.call_from_thread(self._failed, f"{self.path}: {exc}")
            return
        model = plan(_runbook_of(view.started))
        for rec in view.report.records:
            model.apply_record(rec)
        self.app.call_from_thread(self._loaded, view, model, facts(view))

    def _failed(self, text: str) -> None:
        self.query_one("#verdict", Static).update(Text(f"INVALID: cannot read: {text}", style=STATUS_STYLE["INVALID"]))

    def _loaded(self, view: Any, model: RunFold, facts: list[tuple[str, str]]) -> None:
        self.view, self.model, self.facts = view, model, facts
        rep = view.report
        self.status = rep.status
        self.query_one("#verdict", Static).update(Text(rep.line, style=STATUS_STYLE.get(rep.status, "bold magenta")))
        st = view.started
        mode = "TRAINING · " if st.get("training") else "DRY RUN · " if st.get("dry_run") else ""
        outcome = (view.finished or {}).get("outcome", "never finished")
        facts_line = Text()
        if model.state.degraded:  # a dangerous step ran without a witness's cosignature
            facts_line.append("DEGRADED", style="bold white on red")
            facts_line.append(neutralise(f" ({'; '.join(model.state.degraded)})") + "\n")
        facts_line.append(neutralise(
            f"{mode}{st.get('runbook_id', '?')} v{st.get('runbook_version', '?')} on {st.get('cluster') or 'this machine'} "
            f"by {st.get('operator', '?')} — outcome {outcome} · i: who/what/when · l: timeline"))
        self.query_one("#facts", Static).update(facts_line)
        steps = self.query_one(StepList)
        steps.load(model)
        steps.follow_running = False
        steps.focus()
        self._show_selected()

    @on(StepList.OptionHighlighted, "#steps")
    def _highlighted(self, event: StepList.OptionHighlighted) -> None:
        self._show_selected()

    def _show_selected(self) -> None:
        sid = self.query_one(StepList).selected_id
        row = self.model.steps.get(sid or "")
        self.query_one(StepDetail).show(row, str(self.model.started.get("operator", "")))
        self.query_one(FanoutProgress).show(row)
        if sid is None or row is None:
            return
        pane = self.query_one(OutputPane)
        if sid not in self._loaded_outputs:
            self._loaded_outputs.add(sid)
            self._read_output(sid, [(c.node, c.stdout_sha256, c.stdout_size, c.stderr_sha256, c.stderr_size) for c in row.commands])
        pane.show_step(sid)

    @work(thread=True, group="review-output", exit_on_error=False, description="read a step's recorded output")
    def _read_output(self, sid: str, commands: list[tuple[str, str, int, str, int]]) -> None:
        base = self.path if self.path.is_dir() else self.path.parent
        store = OutputStore(base / "outputs")
        for node, out_sha, out_size, err_sha, err_size in commands:
            lines: list[str] = []
            for sha, size in ((out_sha, out_size), (err_sha, err_size)):
                if not size:
                    continue
                try:
                    text = store.read(sha).decode("utf-8", "replace")
                except OSError:
                    text = f"[output {sha} is missing from the store]\n"
                lines.extend(neutralise(text).splitlines())
            if lines:
                self.app.call_from_thread(self.query_one(OutputPane).append, sid, node, lines)

    def action_show_output(self) -> None:
        self._show_selected()

    def action_facts(self) -> None:
        if self.view is not None:
            t = Text()
            t.append(self.view.report.line + "\n\n", style=STATUS_STYLE.get(self.status, ""))
            for label, value in self.facts:
                t.append(f"{label}: ", style="bold")
                t.append(f"{value}\n")
            self.app.push_screen(TextModal("Who, what, where, when", t))

    def action_timeline(self) -> None:
        from ...audit.report import _when, describe

        if self.view is None:
            return
        t = Text()
        for rec in self.view.timeline:
            if rec["type"] == "output":
                continue
            t.append(f"{_when(rec['ts'])[11:19]} ", style="dim")
            t.append(neutralise(describe(rec))[:400] + "\n")
        self.app.push_screen(TextModal("Timeline", t))

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()
        else:
            self.app.exit()


def _runbook_of(started: dict[str, Any]) -> Any:
    """The runbook the run used, if its file is still here unchanged: then steps that never
    started (skipped by a condition) show their titles and the plan, not bare ids."""
    import hashlib

    from ...runbook.loader import load_runbook

    path = Path(started.get("runbook_path") or "")
    try:
        if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == started.get("runbook_sha256"):
            return load_runbook(path, None)
    except Exception:  # an unreadable or now-invalid file: the log alone is enough
        pass
    return None
