"""One line on home: the doctor's verdict on a real cluster ("ready · 9 checks", or the first
problem and "run hamn doctor"). Hidden in training: the doctor checks a real cluster."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ...app.doctor import Report
from ...textsafe import neutralise


class DoctorLine(Static):
    DEFAULT_CSS = """
    DoctorLine { height: 1; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.report: Report | None = None
        self.text = ""
        """The line as shown (tests read it)."""

    def checking(self) -> None:
        self._set(Text("readiness: checking (hamn doctor)…", style="dim"))

    def show(self, report: Report) -> None:
        self.report = report
        line = neutralise(report.line())
        self._set(Text(line, style="green" if report.ready else "bold yellow"))

    def failed(self, why: str) -> None:
        """The doctor itself could not run: say so, never "ready"."""
        self._set(Text(f"readiness unknown: {neutralise(why)} — run hamn doctor", style="magenta"))

    def _set(self, text: Text) -> None:
        self.text = text.plain
        self.update(text)
