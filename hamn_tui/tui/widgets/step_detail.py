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
from ...record.fold import CommandRow, StepRow

VERDICT = {"pass": ("ok", "green"), "fail": ("FAIL", "bold red"), "unknown": ("UNKNOWN", "bold magenta")}


MANY = 12
"""Past this many nodes (a group step), the detail lists only what did not pass or end well, up to this many."""


def check_lines(outcomes: Iterable[CheckOutcome], phase: str = "", limit: int = MANY) -> Text:
    """One line per check; past `limit` outcomes (a check on every node of a large group), only
    those that did not pass, up to `limit`, and a count of the rest."""
    outcomes = list(outcomes)
    hidden = ""
    if len(outcomes) > limit:
        bad = [o for o in outcomes if o.verdict != "pass"]
        hidden = f"  … and {len(outcomes) - len(bad)} ok" + (f", {len(bad) - limit} more not ok" if len(bad) > limit else "") + "\n"
        outcomes = bad[:limit]
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
    if hidden:
        t.append(hidden, style="dim")
    return t


def _ended_badly(c: CommandRow) -> bool:
    return c.ending not in ("running", "exited") or c.exit_status not in (0, None)


def _command_lines(t: Text, row: StepRow) -> None:
    """Each command with its result; for a large group step each command once, then only the
    nodes where it did not end well (the fan-out line above the output counts them all)."""
    shown = row.commands
    many = len({c.node for c in shown}) > MANY
    if many:
        for text in dict.fromkeys(c.command for c in shown):
            t.append(safe(f"{row.node}$ "), style="bold cyan")
            t.append(safe(text) + "\n")
        shown = [c for c in shown if _ended_badly(c)]
    for c in shown[:MANY] if many else shown:
        who = f" as {c.user}" if c.user else ""
        t.append(safe(f"{'rollback ' if c.rollback else ''}{c.node}{who}$ "), style="bold cyan")
        t.append(safe(c.command))
        t.append(f"  → {safe(c.result())}\n", style="red" if _ended_badly(c) else "green")
    if many and len(shown) > MANY:
        t.append(f"  … and {len(shown) - MANY} more that did not end well\n", style="bold")


def describe(row: StepRow, operator: str = "") -> Text:
    t = Text()
    t.append(safe(row.title), style="bold")
    t.append(f"  [{safe(row.status.replace('_', ' '))}]", style="bold")
    if row.reason:
        t.append(f" {safe(row.reason)[:300]}")
    t.append("\n")
    node, user = row.node, row.user
    if row.commands:  # what actually ran (a review has no context to resolve the template)
        ran = list(dict.fromkeys(c.node for c in row.commands if not c.rollback))
        node = (", ".join(ran) if len(ran) <= MANY else f"{len(ran)} nodes of {row.node}") or node
        user = row.commands[0].user
    if row.role and node == row.node:
        node = f"{node} ({row.role})"
    where = f"on {node}" + (f" as {user}" if user else "") + f"  ({row.kind})"
    t.append(safe(where) + "\n", style="cyan")
    for line, style in guard_lines(row, operator):  # who asked, who approved, the witness: first, for an auditor
        t.append(f"{safe(line)[:300]}\n", style=style)
    if row.commands:
        _command_lines(t, row)
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


GUARD_STYLES = {"requested": "cyan", "approved": "bold green", "cosigned": "green", "unwitnessed": "bold white on red"}
"""The rest (rejected, refused, expired, withdrawn) in bold red."""


def guard_lines(row: StepRow, operator: str = "") -> list[tuple[str, str]]:
    """A step's four-eyes requests and verdicts and its witness gate, as the fold recorded them
    (live and in review alike): both people — the run's operator asked, the approver signed."""
    return [(f"requested by {operator or 'the operator'} — {text}" if kind == "requested" else text, GUARD_STYLES.get(kind, "bold red"))
            for kind, text in row.guards]


class StepDetail(VerticalScroll):
    DEFAULT_CSS = """
    StepDetail { height: auto; max-height: 45%; border-bottom: solid $primary-darken-2; }
    StepDetail > Static { height: auto; }
    """

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static(id="step-detail-text")

    def show(self, row: StepRow | None, operator: str = "") -> None:
        """`operator`: who ran the run (the requester of its four-eyes approvals)."""
        self.query_one("#step-detail-text", Static).update(describe(row, operator) if row else Text("no step selected", style="dim"))
