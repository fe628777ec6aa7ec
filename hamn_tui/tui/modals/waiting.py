"""Dialogs over a wait the engine may end by itself: a dangerous step waiting for a witness's
cosignature (typed PROCEED UNWITNESSED, or skip / abort), and a step waiting for a second
operator (nothing to type here: the code to compare and what they run). The run screen closes
them at once when the engine withdraws the question; the operator can only skip or abort."""
from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from ...textsafe import neutralise
from ..widgets.safe_text import clean
from .confirm import TypedConfirmModal

SKIP, ABORT = "\x00skip", "\x00abort"
"""What the dialogs return for their Skip and Abort buttons (never typed text: NUL cannot be typed)."""


class UnwitnessedModal(TypedConfirmModal):
    """Returns the typed text once it matches `expected`, SKIP or ABORT (the run screen then asks
    for the reason / confirmation), or None: keep waiting for a witness."""

    BINDINGS = [Binding("escape", "cancel", "Keep waiting", id="modal.cancel")]

    def __init__(self, title: str, body: Any, expected: str) -> None:
        super().__init__(title, body, expected, action="Proceed unwitnessed")

    def hint(self) -> Text:
        return Text.assemble("Type exactly ", (neutralise(self.expected), "bold reverse"),
                             " then Enter to run it without a witness (the run is marked DEGRADED); "
                             "Esc keeps waiting: this dialog closes by itself when a witness cosigns.")

    def buttons(self) -> ComposeResult:
        yield Button("Keep waiting", id="cancel", variant="primary")
        yield Button("Skip…", id="skip")
        yield Button("Abort…", id="abort")
        yield Button("Proceed unwitnessed", id="go", variant="error", disabled=True)

    def other(self, button_id: str) -> Any:
        return {"skip": SKIP, "abort": ABORT}.get(button_id)


def approval_body(code: str, step_title: str, where: str, request_id: str = "") -> Text:
    """What both operators need, compact enough for 80x24: the code to compare aloud, and what
    the second operator runs."""
    t = Text()
    t.append("WAITING FOR A SECOND OPERATOR\n", style="bold reverse")
    t.append("Code  ", style="bold")
    t.append(f" {neutralise(code)} ", style="bold reverse")
    t.append("  read it to them: their screen shows the same code\n", style="dim")
    t.append(neutralise(f"Step: {step_title}") + "\n")
    t.append("They run, logged in as themselves, with their own SSH key:\n", style="bold")
    spool = where.rsplit("/", 1)[0] if "/" in where else ""
    t.append(f"  on this machine:  hamn approve{' --spool ' + neutralise(spool) if spool else ''}\n", style="bold cyan")
    t.append("  elsewhere:        hamn approve --request FILE --out ANSWER\n", style="bold cyan")
    if where:
        t.append(neutralise(f"  (FILE: a copy of {where})") + "\n", style="dim")
    if request_id:
        t.append(neutralise(f"Request {request_id}. "), style="dim")
    t.append("The step runs once their approval passes every check; this closes by itself.", style="dim")
    return t


class ApprovalWaitModal(ModalScreen["str | None"]):
    """Nothing to type: SKIP or ABORT (the run screen asks for the reason / confirmation), or
    None (Esc, Hide): the wait goes on in the decision bar, `r` shows this again."""

    DEFAULT_CSS = "ApprovalWaitModal VerticalScroll { max-height: 16; }"
    BINDINGS = [Binding("escape", "hide", "Hide", id="modal.hide")]
    LIVE_STATUS = True
    """The wait may last minutes: the nodes' status goes on being read and shown beneath."""

    def __init__(self, title: str, body: Any) -> None:
        super().__init__(classes="hamn-modal")
        self.title_text, self.body = title, body

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(clean(self.title_text), classes="title")
            with VerticalScroll():
                yield Static(clean(self.body), id="approval-body")
            yield Label("Esc: hide (the run keeps waiting; r shows this again)", classes="hint")
            with Horizontal(classes="buttons"):
                yield Button("Hide", id="hide", variant="primary")
                yield Button("Skip…", id="skip")
                yield Button("Abort…", id="abort", variant="error")

    def on_mount(self) -> None:
        for button in self.query("#hide"):
            button.focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss({"skip": SKIP, "abort": ABORT}.get(event.button.id or ""))

    def action_hide(self) -> None:
        self.dismiss(None)
