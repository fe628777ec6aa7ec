"""A choice step: the options with what each means; Enter picks, Esc leaves it for later."""
from __future__ import annotations

from typing import Any, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from ...record.questions import Option as Choice
from ...textsafe import neutralise
from ..widgets.safe_text import clean


class ChoiceModal(ModalScreen["str | None"]):
    DEFAULT_CSS = "ChoiceModal OptionList { height: auto; max-height: 12; }"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="modal.cancel")]

    def __init__(self, title: str, body: Any, options: Sequence[Choice]) -> None:
        super().__init__(classes="hamn-modal")
        self.title_text, self.body, self.options = title, body, options

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(clean(self.title_text), classes="title")
            if self.body:
                yield Static(clean(self.body))
            items = []
            for o in self.options:
                t = Text.assemble((neutralise(o.label), "bold"), f"  [{neutralise(o.id)}]")
                if o.explain:
                    t.append("\n  " + neutralise(o.explain).strip(), style="dim")
                items.append(Option(t, id=o.id))
            yield OptionList(*items, id="choices")
            yield Label("↑/↓ and Enter to choose · Esc: not now", classes="hint")

    def on_mount(self) -> None:
        for widget in self.query("#choices"):  # absent only if the app closes as the dialog opens
            widget.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
