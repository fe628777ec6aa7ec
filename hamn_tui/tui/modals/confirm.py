"""Yes/no and typed confirmations, showing exactly what will happen before it does."""
from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ...textsafe import neutralise
from ..widgets.safe_text import clean

# The dialogs' styles are in hamn.tcss (`.hamn-modal`): a screen's DEFAULT_CSS is scoped to the
# screen's own type, so one shared block there styles every dialog alike.


class ConfirmModal(ModalScreen[bool]):
    """Returns True only for an explicit yes; focus starts on No."""

    BINDINGS = [Binding("escape,n", "no", "No", id="modal.no"), Binding("y", "yes", "Yes", id="modal.yes")]

    def __init__(self, title: str, body: Any, *, yes: str = "Yes", no: str = "No", danger: bool = False, allow_y: bool = True) -> None:
        super().__init__(classes="hamn-modal -danger" if danger else "hamn-modal")
        self.title_text, self.body, self.yes_label, self.no_label, self.allow_y = title, body, yes, no, allow_y

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(clean(self.title_text), classes="title")
            with VerticalScroll():
                yield Static(clean(self.body))
            yield Label("Enter or n/Esc: " + self.no_label + (f" · y: {self.yes_label}" if self.allow_y else ""), classes="hint")
            with Horizontal(classes="buttons"):
                yield Button(self.no_label, id="no", variant="primary")
                yield Button(self.yes_label, id="yes", variant="error")

    def on_mount(self) -> None:
        for button in self.query("#no"):  # absent only if the app closes as the dialog opens
            button.focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_no(self) -> None:
        self.dismiss(False)

    def action_yes(self) -> None:
        if self.allow_y:
            self.dismiss(True)


class TypedConfirmModal(ModalScreen["str | None"]):
    """Returns the typed text once it matches `expected` exactly; None for cancel."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="modal.cancel")]

    def __init__(self, title: str, body: Any, expected: str, *, action: str = "Run") -> None:
        super().__init__(classes="hamn-modal -danger")
        self.title_text, self.body, self.expected, self.action_label = title, body, expected, action

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(clean(self.title_text), classes="title")
            with VerticalScroll():
                yield Static(clean(self.body))
            yield Static(self.hint())
            typed = Input(placeholder=neutralise(self.expected), id="typed")
            typed.cursor_blink = False  # no 2 Hz repaint over slow links (and stable snapshots)
            yield typed
            yield Label("", id="error", classes="error")
            with Horizontal(classes="buttons"):
                yield from self.buttons()

    def hint(self) -> Text:
        return Text.assemble("Type exactly ", (neutralise(self.expected), "bold reverse"), f" then Enter to {self.action_label.lower()}; Esc cancels.")

    def buttons(self) -> ComposeResult:
        """Every button but `go` (the action, enabled once the text matches) dismisses with `other(id)`."""
        yield Button("Cancel", id="cancel", variant="primary")
        yield Button(self.action_label, id="go", variant="error", disabled=True)

    def other(self, button_id: str) -> Any:
        """What a button other than the action returns (Cancel: None)."""
        return None

    def on_mount(self) -> None:
        for widget in self.query("#typed"):  # absent only if the app closes as the dialog opens
            widget.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#go", Button).disabled = event.value != self.expected
        self.query_one("#error", Label).update("")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._try(event.value)

    def _try(self, value: str) -> None:
        if value == self.expected:
            self.dismiss(value)
        else:
            self.query_one("#error", Label).update(Text(f"does not match: type exactly {neutralise(self.expected)}"))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "go":
            self._try(self.query_one("#typed", Input).value)
        else:
            self.dismiss(self.other(event.button.id or ""))

    def action_cancel(self) -> None:
        self.dismiss(None)
