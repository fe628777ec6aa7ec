"""Both nodes at a glance: role, replication state, connection, log gap, peer window, who holds
the service IP — and how old the reading is.

A value that could not be read is printed "unknown" (never blank, never green); a reading
older than `STALE_AFTER_S` is marked STALE. Text marks (yes/no/unknown) carry the meaning, so
it reads the same on a 16-colour console.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from ...app.status import Snapshot
from ...textsafe import neutralise

STALE_AFTER_S = 30.0


def _v(value: Any, unit: str = "") -> Text:
    if value is None or value == "":
        return Text("unknown", style="magenta")
    if value is True:
        return Text("yes", style="green")
    if value is False:
        return Text("no", style="red")
    return Text(neutralise(f"{value}{unit}"))  # read from the node: its bytes must not drive the terminal


def _wal(r: dict[str, Any]) -> Any:
    """A primary has no WAL receiver: "n/a" there, so "unknown" keeps meaning "could not read"."""
    return "n/a" if r.get("role") == "primary" else r.get("wal_receiver")


Getter = Callable[[dict[str, Any]], Any]
FACTS: dict[str, list[tuple[str, str | None, Getter]]] = {
    "db2": [("role", "", lambda r: r.get("role")), ("HADR state", "", lambda r: r.get("state")),
            ("connect", "", lambda r: r.get("connect_status")), ("log gap", "gap ", lambda r: _bytes(r.get("log_gap_bytes"))),
            ("peer window left", None, lambda r: _secs(r.get("peer_window_left_s")))],
    "pg": [("role", "", lambda r: r.get("role")), ("WAL receiver", "wal ", _wal),
           ("standbys streaming", None, lambda r: r.get("streaming_standbys")), ("lag", "lag ", lambda r: _bytes(r.get("lag_bytes"))),
           ("timeline", None, lambda r: r.get("timeline"))],
}
"""Per database: (label in the table, prefix in the one-line form or None to leave it out there, value)."""


def rows(snap: Snapshot) -> list[tuple[str, list[Text]]]:
    """(label, one cell per node) — the facts an operator needs before touching anything."""
    nodes = list(snap.nodes.values())
    cells = [("ssh", [_v(n.reachable) for n in nodes])]
    cells += [(label, [_v(get(n.replication)) for n in nodes]) for label, _, get in FACTS[snap.database]]
    return [*cells, ("service IP", [_v(n.holds_service_ip) for n in nodes])]


def _bytes(v: Any) -> Any:
    if v is None or not isinstance(v, (int, float)):
        return v
    return f"{int(v):,} B"


def _secs(v: Any) -> Any:
    if v is None or not isinstance(v, (int, float)):
        return v
    return f"{int(v)} s"


def now() -> float:
    """The clock ages are measured with (a seam: snapshot tests hold it still)."""
    return time.monotonic()


def age_text(taken_mono: float | None, error: str, reading: bool) -> Text:
    if taken_mono is None:
        return Text("reading…" if reading else "not read yet", style="magenta")
    age = now() - taken_mono
    t = Text(f"read {int(age)} s ago")
    if age > STALE_AFTER_S:
        t = Text(f"STALE: read {int(age)} s ago", style="bold red")
    if error:
        t.append(f" — last reading failed: {neutralise(error)}", style="red")
    return t


class StatusPanel(Static):
    """`show()` it a snapshot; `compact` (the run screen) is one line per node."""

    DEFAULT_CSS = """
    StatusPanel { height: auto; padding: 0 1; }
    """

    def __init__(self, *, compact: bool = False, **kw: Any) -> None:
        super().__init__(**kw)
        self.compact = compact
        self.snap: Snapshot | None = None
        self.taken: float | None = None
        self.error = ""
        self.reading = False
        self.note = ""

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)
        self._redraw()

    def _tick(self) -> None:
        if self.taken is not None:
            self._redraw()

    def show(self, snap: Snapshot | None, taken: float | None, error: str = "", reading: bool = False, note: str = "") -> None:
        self.snap, self.taken, self.error, self.reading, self.note = snap, taken, error, reading, note
        self._redraw()

    def _redraw(self) -> None:
        self.update(self.renderable_now())

    def renderable_now(self) -> Any:
        snap = self.snap
        if snap is None:
            return Text(self.note or "cluster status: " + age_text(None, self.error, self.reading).plain, style="magenta")
        age = age_text(self.taken, self.error, self.reading)
        if self.compact:
            out = Text()
            for name, n in snap.nodes.items():
                r = n.replication
                out.append(f"{name:<6}", style="bold")
                parts = [(prefix, get(r)) for _, prefix, get in FACTS[snap.database] if prefix is not None]
                for label, value in parts:
                    out.append(" " + label)
                    out.append_text(_v(value))
                out.append("  VIP ")
                out.append_text(_v(n.holds_service_ip))
                if n.reachable is not True:
                    out.append("  ssh ")
                    out.append_text(_v(n.reachable))
                out.append("\n")
            out.append_text(age)
            return out
        table = Table(box=None, pad_edge=False, expand=False, show_header=True, title=None)
        table.add_column(f"{snap.cluster} ({snap.database})", style="bold", no_wrap=True)
        for name, n in snap.nodes.items():
            table.add_column(f"{name} ({n.role_at_setup})", no_wrap=True)
        for label, cells in rows(snap):
            table.add_row(label, *cells)
        notes = [Text(neutralise(f"{name}: could not read: {e[:100]}"), style="magenta") for name, n in snap.nodes.items() for e in n.errors[:1]]
        from rich.console import Group

        return Group(table, age, *notes)
