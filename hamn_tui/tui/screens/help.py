"""Every binding on every screen, from the one command registry (so it cannot drift)."""
from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from ..commands import COMMANDS, key_label

SCREENS = {"home": "Home", "run": "Run", "review": "Review (hamn audit review)"}
EXTRA = {
    "run": [("↑ / ↓", "Pick a step: its command, gates and output"),
            ("Tab", "Move between the step list and the output; PgUp / PgDn / ↑ / ↓ then scroll the output "
                    "(new lines are counted while you read; End follows again)")],
    "review": [("i", "Who, what, where, when"), ("l", "The whole timeline")],
    "modals": [("Enter", "The focused button — No, when a dialog opens"), ("y", "Yes (plain confirmations only)"),
               ("n / Esc", "No / not now: the run keeps waiting"), ("typed text + Enter", "Dangerous steps: type exactly what is shown")],
}


class HelpScreen(Screen[None]):
    SCREEN_NAME = "help"
    BINDINGS = [Binding("escape,q,f1,question_mark", "app.pop_screen", "Close", id="help.close")]
    DEFAULT_CSS = "HelpScreen VerticalScroll { padding: 0 1; }"

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            for screen, title in SCREENS.items():
                table = Table(title=title, title_justify="left", title_style="bold", expand=True, box=None)
                table.add_column("key", style="bold cyan", no_wrap=True, width=18)
                table.add_column("what it does")
                for c in COMMANDS:
                    if screen in c.screens:
                        table.add_row(key_label(c.keys), f"{c.label} — {c.help}")
                for key, what in EXTRA.get(screen, []):
                    table.add_row(key, what)
                yield Static(table)
            modal = Table(title="Dialogs", title_justify="left", title_style="bold", expand=True, box=None)
            modal.add_column("key", style="bold cyan", no_wrap=True, width=18)
            modal.add_column("what it does")
            for key, what in EXTRA["modals"]:
                modal.add_row(key, what)
            yield Static(modal)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#help-body").focus()
