"""The live command output pane: bounded, batched, and it never pulls the view from under the operator.

Built on `textual.widgets.Log` (plain `str` lines, renders only the visible ones), not
`RichLog`, which renders every line through Rich on write: ~17x the memory and 9-13x slower
when batched (textual-research.md §3.3). `Log` passes ESC straight to the terminal (§3.4), so
lines reach it only through `OutputFeed`, which neutralises them. Every `Log.write_lines` call
starts a width worker thread, so the pane writes at most one batch per tick (~30 Hz) and never
a line at a time.

One node at a time, with a node strip in the header (`[` / `]` cycle) rather than all nodes
interleaved with a "node | " prefix: at an 80x24 console the prefix costs 8-12 of 78 columns
on every line, and the interleaved output of a group step (db2 on two hosts, say) is hard to
read when the operator needs to compare or follow one host. A node that printed something the
operator has not looked at is starred in the strip. With one node the strip is only its name;
past `STRIP_MAX` nodes (a group step over a large site) the header names the shown node, its
place among them and how many have unseen output, instead of a strip that could not fit.

Following: while the view is at the bottom, new lines scroll it. Scrolling up freezes the view:
the `Log` is not written at all (so pruning to `max_lines` cannot shift the lines being read),
and a "+N new lines (End to follow)" marker counts what arrived. End (`follow`), or scrolling
back to the bottom, rewrites the view from the node's buffer and follows again.

Memory: every (step, node) keeps at most `max_lines` lines in a deque, and the `Log` holds the
same strings for the shown one; the full output is in the audit log on disk.
"""
from __future__ import annotations

from collections import deque
from itertools import chain
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.reactive import reactive
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Log, Static

if TYPE_CHECKING:
    from ..output_feed import OutputFeed

DEFAULT_MAX_LINES = 20_000
STRIP_MAX = 8
"""Up to this many nodes the header shows them all as a strip; past it, the shown node and its place."""


class _View:
    """One command's output on one node: the newest `max_lines` lines, and how many arrived in all."""

    __slots__ = ("lines", "total", "unseen")

    def __init__(self, max_lines: int) -> None:
        self.lines: deque[str] = deque(maxlen=max_lines)
        self.total = 0
        self.unseen = False


class OutputLog(Log):
    """The pane's `Log`: End means "follow the live output", and line widths are measured inline.

    `Log.write_lines` starts a thread worker per call to measure the new lines' widths
    (`_update_size`, textual 8.2.8, pinned). In a flood those threads compete for the GIL with
    the event loop and pile up, holding their batches (a traced 10M-line run peaked at 274 MB
    RSS). Measuring inline is cheaper: `len` in C for plain ASCII lines, `cell_len` only for the
    few with wide characters or tabs.
    """

    def __init__(self, pane: OutputPane, max_lines: int) -> None:
        super().__init__(max_lines=max_lines, auto_scroll=False, id="output-log")
        self._pane = pane

    def action_scroll_end(self) -> None:
        self._pane.action_follow()

    def _update_size(self, updates: int, lines: list[str]) -> None:  # replaces the thread worker
        if not lines:
            return
        width = max(map(len, lines))
        odd = [line for line in lines if "\t" in line or not line.isascii()]
        if odd:
            width = max(width, max(cell_len(self._process_line(line)) for line in odd))
        self._update_maximum_width(updates, width)


class OutputPane(Widget):
    """Shows one step's output on one node; `attach(feed)` keeps it fed from an `OutputFeed`."""

    DEFAULT_CSS = """
    OutputPane {
        layout: vertical;
        height: 1fr;
    }
    OutputPane > #output-header {
        height: 1;
        background: $boost;
        color: $text-muted;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    OutputPane > #output-log {
        height: 1fr;
    }
    OutputPane > #output-marker {
        height: 1;
        display: none;
        background: $warning;
        color: $text;
        text-style: bold;
    }
    OutputPane.-paused > #output-marker {
        display: block;
    }
    """

    BINDINGS = [
        Binding("end", "follow", "Follow", show=False),
        Binding("left_square_bracket", "prev_node", "Prev node", show=False),
        Binding("right_square_bracket", "next_node", "Next node", show=False),
    ]

    new_lines: reactive[int] = reactive(0, repaint=False)
    """Lines that arrived for the shown node while the operator was scrolled up."""
    following: reactive[bool] = reactive(True, repaint=False)
    """Whether new lines scroll the view (False once the operator scrolls up)."""

    def __init__(self, max_lines: int = DEFAULT_MAX_LINES, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.max_lines = max_lines
        self._steps: dict[str, dict[str, _View]] = {}
        self._step: str | None = None
        self._node: str | None = None
        self._unwritten: list[list[str]] = []
        self._unwritten_n = 0
        self._write_scheduled = False
        self._pumping = False
        self._quiet = False
        self._header = ""
        self._feed: OutputFeed | None = None
        self._interval = 1 / 30
        self._timer: Timer | None = None
        self._log = OutputLog(self, max_lines)

    def compose(self) -> ComposeResult:
        yield Static("", id="output-header")
        yield self._log
        yield Static("", id="output-marker")

    def on_mount(self) -> None:
        self.watch(self._log, "scroll_y", self._scrolled, init=False)
        self.watch_new_lines(self.new_lines)
        self._rewrite()  # anything appended before mounting
        self._update_header()
        if self._feed is not None and self._timer is None:
            self._timer = self.set_timer(self._interval, self._tick)

    # --- read-only views ------------------------------------------------------------------------------
    @property
    def log_widget(self) -> Log:
        """The underlying `Log` (its `lines` are what the operator can scroll through)."""
        return self._log

    @property
    def step(self) -> str | None:
        return self._step

    @property
    def node(self) -> str | None:
        return self._node

    def nodes(self, step_id: str | None = None) -> list[str]:
        """Nodes with output for a step (default: the shown one), in first-output order."""
        return list(self._steps.get(step_id if step_id is not None else self._step or "", {}))

    def buffered(self, step_id: str, node: str) -> list[str]:
        """The lines kept for (step, node): at most `max_lines`, newest last."""
        view = self._steps.get(step_id, {}).get(node)
        return list(view.lines) if view else []

    # --- feeding ---------------------------------------------------------------------------------------
    def append(self, step_id: str, node: str, lines: list[str], arrived: int | None = None) -> None:
        """Add display-safe lines (from `OutputFeed`) for a step on a node; written to the `Log` in one batch.

        `arrived`: how many lines these stand for, when older ones were skipped unsplit
        (`OutputFeed.drain_tail`); it keeps the counts (marker, notice) exact.
        """
        if not lines:
            return
        n = len(lines) if arrived is None else max(arrived, len(lines))
        views = self._steps.get(step_id)
        if views is None:
            views = self._steps[step_id] = {}
        view = views.get(node)
        if view is None:
            view = views[node] = _View(self.max_lines)
            if step_id == self._step:
                self._header_changed()
        if self._step is None:
            self._step, self._node = step_id, node  # the first output shows itself
            self._header_changed()
        elif step_id == self._step and self._node is None:
            self._node = node
            self._header_changed()
        view.lines.extend(lines)
        view.total += n
        if step_id != self._step:
            return
        if node != self._node:
            if not view.unseen:
                view.unseen = True
                self._header_changed()
            return
        if view.total > self.max_lines and view.total - n <= self.max_lines:
            self._header_changed()  # the notice that older lines are only in the audit log
        if self.following:
            self._unwritten.append(lines)
            self._unwritten_n += n
            self._schedule_write()
        else:
            self.new_lines += n

    def attach(self, feed: OutputFeed, interval: float = 1 / 30) -> None:
        """Drain `feed` every `interval` seconds; each tick is scheduled when the previous one ends."""
        self._feed = feed
        self._interval = interval
        if self._timer is None and self.is_mounted:
            self._timer = self.set_timer(interval, self._tick)

    def detach(self) -> None:
        """Stop draining (what the feed already holds is shown first)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self._feed is not None:
            self.pump()
        self._feed = None

    def _tick(self) -> None:
        self._timer = None
        try:
            self.pump()
        finally:
            if self._feed is not None and self.is_attached:
                self._timer = self.set_timer(self._interval, self._tick)

    def pump(self) -> int:
        """Drain the attached feed now and write what it held; returns the number of lines."""
        if self._feed is None:
            return 0
        n = 0
        self._pumping = True
        try:
            for (step_id, node), lines, arrived in self._feed.drain_tail(self.max_lines):
                n += arrived
                self.append(step_id, node, lines, arrived)
        finally:
            self._pumping = False
        self._write_pending()
        return n

    def _schedule_write(self) -> None:
        if not self._write_scheduled and not self._pumping:
            self._write_scheduled = True
            self.call_later(self._write_pending)

    def _header_changed(self) -> None:
        self._header = ""  # recomputed on the next write
        self._schedule_write()

    def _write_pending(self) -> None:
        """One `write_lines` for everything since the last write: at most `max_lines` lines."""
        self._write_scheduled = False
        if not self._header and self.is_mounted:
            self._update_header()
        batches, self._unwritten = self._unwritten, []
        arrived, self._unwritten_n = self._unwritten_n, 0
        if not batches or not self.is_mounted:
            return
        if not self.following:  # the operator scrolled up after these arrived
            self.new_lines += arrived
            return
        lines = batches[0] if len(batches) == 1 else list(chain.from_iterable(batches))
        if len(lines) > self.max_lines:
            lines = lines[-self.max_lines:]
        self._log.write_lines(lines, scroll_end=False)
        self._log.scroll_end(animate=False, immediate=True, x_axis=False)

    # --- showing -----------------------------------------------------------------------------------------
    def show_step(self, step_id: str) -> None:
        """Show a step's output (kept while other steps run), following its newest line."""
        nodes = self._steps.get(step_id, {})
        node = self._node if self._node in nodes else next(iter(nodes), None)
        self._show(step_id, node)

    def show_node(self, node: str) -> None:
        """Show the current step's output on `node`."""
        if self._step is not None:
            self._show(self._step, node)

    def clear(self) -> None:
        """Forget every step's output (a new run)."""
        self._steps.clear()
        self._show(None, None)

    def _show(self, step_id: str | None, node: str | None) -> None:
        self._step, self._node = step_id, node
        self._unwritten = []
        self._unwritten_n = 0
        self._rewrite()
        self._header = ""
        if self.is_mounted:
            self._update_header()

    def _rewrite(self) -> None:
        """Replace the `Log`'s lines with the shown node's buffer and follow its end."""
        view = self._current()
        if view is not None:
            view.unseen = False
        self.new_lines = 0
        self.following = True
        if not self.is_mounted:
            return
        self._quiet = True
        try:
            self._log.clear()
            if view is not None and view.lines:
                self._log.write_lines(list(view.lines), scroll_end=False)
            self._log.scroll_end(animate=False, immediate=True, x_axis=False)
        finally:
            self._quiet = False
        self._log.scroll_end(animate=False, x_axis=False)  # again once the marker is gone from the layout

    def _current(self) -> _View | None:
        if self._step is None or self._node is None:
            return None
        return self._steps.get(self._step, {}).get(self._node)

    # --- following --------------------------------------------------------------------------------------
    def _scrolled(self, old: float, new: float) -> None:
        """The operator scrolled: up from the bottom stops following, back down to it resumes."""
        if self._quiet:
            return
        at_end = new >= self._log.max_scroll_y
        if self.following and new < old and not at_end:
            self.following = False
        elif not self.following and new > old and at_end:
            self.call_later(self._follow_if_at_end)  # not from inside the Log's own scroll update

    def _follow_if_at_end(self) -> None:
        if not self.following and self._log.scroll_y >= self._log.max_scroll_y:
            self.follow()

    def follow(self) -> None:
        """Jump to the newest line and follow again."""
        if self.following and not self.new_lines and not self._unwritten:
            self._log.scroll_end(animate=False, immediate=True, x_axis=False)
            return
        self._rewrite()

    def action_follow(self) -> None:
        self.follow()

    def action_next_node(self) -> None:
        self._cycle(1)

    def action_prev_node(self) -> None:
        self._cycle(-1)

    def _cycle(self, step: int) -> None:
        nodes = self.nodes()
        if len(nodes) < 2:
            return
        i = nodes.index(self._node) if self._node in nodes else 0
        self.show_node(nodes[(i + step) % len(nodes)])

    def watch_following(self, following: bool) -> None:
        self.set_class(not following, "-paused")

    def watch_new_lines(self, n: int) -> None:
        if self.is_mounted:
            self.query_one("#output-marker", Static).update(f"+{n:,} new lines (End to follow)")

    # --- header ---------------------------------------------------------------------------------------------
    def _update_header(self) -> None:
        text = self._header_text()
        self._header = text.plain or " "
        self.query_one("#output-header", Static).update(text)

    def _header_text(self) -> Text:
        """`step  node` (or a node strip, `[`/`]` to switch) and, once lines were dropped, where they are."""
        text = Text(no_wrap=True, overflow="ellipsis")
        if self._step is None:
            text.append("no output yet", style="italic")
            return text
        text.append(self._step, style="bold")
        nodes = self.nodes()
        if len(nodes) == 1:
            text.append(f"  {nodes[0]}")
        elif len(nodes) > STRIP_MAX:  # a large group step: where we are among its nodes, not a strip of hundreds
            views = self._steps[self._step]
            at = nodes.index(self._node) + 1 if self._node in views else 0
            unseen = sum(1 for v in views.values() if v.unseen)
            text.append("  ")
            text.append(f"[{self._node}]", style="reverse bold")
            text.append(f" {at} of {len(nodes)} nodes with output" + (f", {unseen} not looked at" if unseen else "") + " ")
            text.append("([ ] node)", style="dim")
        elif nodes:
            text.append("  ")
            views = self._steps[self._step]
            for node in nodes:
                if node == self._node:
                    text.append(f"[{node}]", style="reverse bold")
                else:
                    text.append(f" {node}{'*' if views[node].unseen else ''} ")
                text.append(" ")
            text.append("([ ] node)", style="dim")
        view = self._current()
        if view is not None and view.total > self.max_lines:
            text.append(f"  showing last {self.max_lines:,} lines - full output in the audit log", style="italic")
        return text


class PaneKeys:
    """Screen actions for the pane's keys (End, [ and ]), so they work wherever the focus is on
    a screen that shows an OutputPane, not only inside it."""

    def action_follow(self) -> None:
        self.query_one(OutputPane).follow()  # type: ignore[attr-defined]

    def action_next_node(self) -> None:
        self.query_one(OutputPane).action_next_node()  # type: ignore[attr-defined]

    def action_prev_node(self) -> None:
        self.query_one(OutputPane).action_prev_node()  # type: ignore[attr-defined]
