"""The selected step: what it does and why, exactly what runs where as whom, and its gates with
the values last read and why each passed or failed. Every text is neutralised: titles,
explanations and commands can hold values captured from a command's output."""
from __future__ import annotations

from typing import Iterable

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from ...record.events import CheckOutcome
from ...textsafe import neutralise as safe
from ...record.fold import StepRow

VERDICT = {"pass": ("ok", "green"), "fail": ("FAIL", "bold red"), "unknown": ("UNKNOWN", "bold magenta")}


def check_lines(outcomes: Iterable[CheckOutcome], phase: str = "") -> Text:
    t = Text()
    for o in outcomes:
        mark, style = VERDICT.get(o.verdict, ("?", "magenta"))
        t.append(f"  [{mark}] ", style=style)
        t.append(safe(f"{o.node}: {o.probe}.{o.field} {o.expected}"))
        observed = "unknown" if o.observed is None else repr(o.observed)
        t.append(f" — now {safe(observed)}", style="bold")
        if o.reason and o.verdict != "pass":
            t.append(f" ({safe(o.reason)[:160]})", style="dim")
        t.append("\n")
        if o.why and o.verdict != "pass":
            t.append(f"      why it matters: {safe(o.why)}\n", style="italic")
    return t


def describe(row: StepRow) -> Text:
    t = Text()
    t.append(safe(row.title), style="bold")
    t.append(f"  [{safe(row.status.replace('_', ' '))}]", style="bold")
    if row.reason:
        t.append(f" {safe(row.reason)[:300]}")
    t.append("\n")
    node, user = row.node, row.user
    if row.commands:  # what actually ran (a review has no context to resolve the template)
        node = ", ".join(dict.fromkeys(c.node for c in row.commands if not c.rollback)) or node
        user = row.commands[0].user
    if row.role and node == row.node:
        node = f"{node} ({row.role})"
    where = f"on {node}" + (f" as {user}" if user else "") + f"  ({row.kind})"
    t.append(safe(where) + "\n", style="cyan")
    if row.commands:
        for c in row.commands:
            who = f" as {c.user}" if c.user else ""
            t.append(safe(f"{'rollback ' if c.rollback else ''}{c.node}{who}$ "), style="bold cyan")
            t.append(safe(c.command))
            t.append(f"  → {safe(c.result())}\n", style="red" if c.ending not in ("running", "exited") or c.exit_status not in (0, None) else "green")
    elif row.planned:
        for cmd in row.planned:
            t.append(f"{safe(row.node)}$ ", style="bold cyan")
            t.append(safe(cmd) + "\n")
    for phase in ("require", "until", "verify", "reprobe"):
        if phase in row.checks:
            t.append(f"{phase} checks:\n", style="bold")
            t.append_text(check_lines(row.checks[phase]))
    if row.explain:
        t.append(safe(row.explain) + "\n", style="dim")
    for a in row.answers[-3:]:
        t.append(f"answer: {safe(a)}\n", style="yellow")
    for n in row.notes[-3:]:
        t.append(f"note: {safe(n)[:300]}\n", style="dim")
    return t


class StepDetail(VerticalScroll):
    DEFAULT_CSS = """
    StepDetail { height: auto; max-height: 45%; border-bottom: solid $primary-darken-2; }
    StepDetail > Static { height: auto; }
    """

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static(id="step-detail-text")

    def show(self, row: StepRow | None) -> None:
        self.query_one("#step-detail-text", Static).update(describe(row) if row else Text("no step selected", style="dim"))
