"""A group step's progress in two lines, however many nodes it reaches: how many are running,
done, failed, unknown and not reached yet, then the nodes that need a look — failed first, then
unknown, then those still running — with "+N more" past what fits.

One widget for the whole group, never one per node: a site with hundreds of service nodes
gets the same two lines (the output pane shows one node's output at a time, `[`/`]` to move).
Hidden for single-node steps.
"""
from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ...record.fold import StepRow
from ...textsafe import neutralise as safe

MAX_NAMED = 12
"""Node names shown before "+N more" (the step detail and the audit log have every node)."""


def fanout_text(row: StepRow, max_named: int = MAX_NAMED) -> Text:
    """`@group · 256 nodes: ▶ 4 running · ✓ 240 done · ✗ 5 failed · ? 2 unknown · 5 waiting`, then
    the failed, unknown and running nodes by name."""
    t = row.tally()
    text = Text(no_wrap=True, overflow="ellipsis")
    group = row.node if row.node.startswith("@") else "group"
    text.append(safe(f"{group} · {t.total} nodes: "), style="bold")
    parts = [(f"▶ {t.running} running", "cyan" if t.running else "dim"), (f"✓ {t.done} done", "green" if t.done else "dim"),
             (f"✗ {t.failed} failed", "bold red" if t.failed else "dim"), (f"? {t.unknown} unknown", "bold magenta" if t.unknown else "dim")]
    if t.waiting:
        parts.append((f"{t.waiting} waiting", "dim"))
    for i, (label, style) in enumerate(parts):
        if i:
            text.append(" · ", style="dim")
        text.append(label, style=style)
    named = [(n, "✗", "bold red") for n in t.failed_nodes] + [(n, "?", "bold magenta") for n in t.unknown_nodes]
    named += [(n, "▶", "cyan") for n in t.running_nodes]
    if named:
        text.append("\n")
        for i, (node, mark, style) in enumerate(named[:max_named]):
            if i:
                text.append(" ")
            text.append(f"{mark} ", style=style)
            text.append(safe(node), style=style)
        if len(named) > max_named:
            text.append(f"  +{len(named) - max_named} more", style="bold")
    return text


class FanoutProgress(Static):
    """The selected group step's counts and the nodes that need a look (hidden for other steps)."""

    DEFAULT_CSS = """
    FanoutProgress { height: auto; max-height: 2; padding: 0 1; background: $boost; display: none; }
    FanoutProgress.-shown { display: block; }
    """

    def show(self, row: StepRow | None) -> None:
        shown = row is not None and row.is_group
        self.set_class(shown, "-shown")
        if shown:
            assert row is not None
            self.update(fanout_text(row))
