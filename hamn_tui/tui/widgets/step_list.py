"""The run's steps in order, each with a status glyph and its node: the operator's place.

The highlighted row is the step shown in the detail and output panes; it follows the running
step until the operator moves it, so reading an earlier step's output never loses the run.
"""
from __future__ import annotations

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from ...record.fold import RunFold, StepRow
from ...textsafe import neutralise

STYLE = {"done": "green", "failed": "bold red", "unknown": "bold magenta", "asking": "bold yellow", "running": "bold cyan",
         "skipped": "yellow", "rolled_back": "cyan", "rolling_back": "cyan", "pending": ""}


def prompt(row: StepRow, number: int) -> Text:
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(f"{row.mark} ", style=STYLE.get(row.status, ""))
    t.append(f"{number:>2} " if row.section == "steps" else " ∞ ", style="dim")
    t.append(neutralise(row.title), style=STYLE.get(row.status, "") if row.status in ("running", "asking", "failed", "unknown") else "")
    return t


class StepList(OptionList):
    DEFAULT_CSS = """
    StepList { height: 1fr; }
    """

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.follow_running = True
        self._numbers: dict[str, int] = {}

    def load(self, model: RunFold) -> None:
        self._numbers = {}
        options = []
        n = 0
        for row in model.order():
            if row.section == "steps":
                n += 1
            self._numbers[row.id] = n
            options.append(Option(prompt(row, n), id=row.id))
        self.set_options(options)
        if options:
            self.highlighted = 0

    def update_row(self, row: StepRow) -> None:
        if row.id not in self._numbers:
            self._numbers[row.id] = len(self._numbers) + 1
            self.add_option(Option(prompt(row, self._numbers[row.id]), id=row.id))
        else:
            self.replace_option_prompt(row.id, prompt(row, self._numbers[row.id]))

    def select_step(self, step_id: str) -> None:
        try:
            self.highlighted = self.get_option_index(step_id)
        except Exception:
            pass

    @property
    def selected_id(self) -> str | None:
        opt = self.highlighted_option
        return opt.id if opt is not None else None
