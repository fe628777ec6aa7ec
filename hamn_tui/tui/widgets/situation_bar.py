"""The top of the home screen: what is going on, what to run, what not to do — and, while a
primary holds its commits for a lost standby, the seconds left before it goes on alone."""
from __future__ import annotations

import time
from typing import Callable

from rich.text import Text
from textual.widgets import Static

from ...app.situation import Situation
from ...textsafe import neutralise

STYLE = {"healthy": "bold green", "not_set_up": "bold yellow", "unknown": "bold magenta"}


class SituationBar(Static):
    DEFAULT_CSS = """
    SituationBar { height: auto; max-height: 3; padding: 0 1; background: $boost; text-wrap: nowrap; text-overflow: ellipsis; }
    SituationBar.-alarm { background: $error-muted; }
    """

    def __init__(self, *, clock: Callable[[], float] | None = time.monotonic, **kw: object) -> None:
        """clock: real time for a live cluster (the peer window counts down); None in training,
        where time is the simulator's and only a new reading moves it."""
        super().__init__(**kw)  # type: ignore[arg-type]
        self.clock = clock
        self.situation: Situation | None = None
        self.taken: float | None = None
        self.note = ""

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)
        self._redraw()

    def _tick(self) -> None:
        if self.situation is not None and self.situation.peer_window_left_s is not None:
            self._redraw()

    def show(self, situation: Situation | None, taken: float | None, note: str = "") -> None:
        self.situation, self.taken, self.note = situation, taken, note
        if self.is_mounted:
            self._redraw()

    def left_s(self) -> float | None:
        s = self.situation
        if s is None or s.peer_window_left_s is None:
            return None
        if self.clock is None or self.taken is None:
            return s.peer_window_left_s
        return max(0.0, s.peer_window_left_s - (self.clock() - self.taken))

    def _redraw(self) -> None:
        s = self.situation
        self.set_class(s is not None and s.kind not in ("healthy", "not_set_up"), "-alarm")
        self.update(self.renderable_now())

    def renderable_now(self) -> Text:
        s = self.situation
        if s is None:
            return Text(self.note or "situation: not read yet", style="magenta")
        title, _, rest = s.line(self.left_s()).partition(": ")
        # one line each, cut with … rather than wrapped: the runbook list must stay on an 80x24 screen
        out = Text.assemble((title, STYLE.get(s.kind, "bold red")), ": ", neutralise(rest), no_wrap=True, overflow="ellipsis")
        if s.recommended:
            r = s.recommended[0]
            out.append("\n▶ ", style="bold")
            out.append(r.runbook, style="bold")
            out.append(f" — {neutralise(r.why)}")
        if s.avoid:
            out.append(f"\n✗ {neutralise(s.avoid[0])}", style="yellow")
        return out
