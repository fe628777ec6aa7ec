"""Asks for a reason (skip, a decided outcome) or a note; empty text is refused, not accepted."""
from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from ..widgets.safe_text import clean


class ReasonModal(ModalScreen["str | None"]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="modal.cancel")]

    def __init__(self, title: str, body: Any = "", *, placeholder: str = "why (recorded in the audit log)", required: str = "a reason is required") -> None:
        super().__init__(classes="hamn-modal")
        self.title_text, self.body, self.placeholder, self.required = title, body, placeholder, required

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(clean(self.title_text), classes="title")
            if self.body:
                yield Static(clean(self.body))
            reason = Input(placeholder=self.placeholder, id="reason")
            reason.cursor_blink = False
            yield reason
            yield Label("Enter to record · Esc cancels", classes="hint")
            yield Label("", id="error", classes="error")

    def on_mount(self) -> None:
        for widget in self.query("#reason"):  # absent only if the app closes as the dialog opens
            widget.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip():
            self.dismiss(event.value.strip())
        else:
            self.query_one("#error", Label).update(self.required)

    def action_cancel(self) -> None:
        self.dismiss(None)
