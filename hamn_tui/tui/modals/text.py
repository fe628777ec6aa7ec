"""Read-only text: a step's documentation, the help screen's sections."""
from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from ..widgets.safe_text import clean


class TextModal(ModalScreen[None]):
    DEFAULT_CSS = "TextModal VerticalScroll { max-height: 20; }"
    BINDINGS = [Binding("escape,q,enter", "close", "Close", id="modal.close")]

    def __init__(self, title: str, body: Any) -> None:
        super().__init__(classes="hamn-modal")
        self.title_text, self.body = title, body

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(clean(self.title_text), classes="title")
            with VerticalScroll(id="text-body"):
                yield Static(clean(self.body))
            yield Label("Esc / q / Enter: close · ↑/↓ scroll", classes="hint")

    def on_mount(self) -> None:
        for widget in self.query("#text-body"):  # absent only if the app closes as the dialog opens
            widget.focus()

    def action_close(self) -> None:
        self.dismiss(None)
