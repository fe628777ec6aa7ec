"""`hamn run --headless`: progress printed with Rich as the engine's events arrive."""
from __future__ import annotations

import sys
from typing import TextIO

from rich.console import Console
from rich.markup import escape

from ..record.events import (
    Answered, ApprovalDecided, ApprovalRequested, QuestionWithdrawn, WitnessGate, ChecksEvaluated, CommandFinished, CommandSent, Event, LockEvent, Note, OutputChunk, QuestionAsked,
    RollbackFinished, RollbackStarted, RunFinished, RunStarted, StepFinished, StepSkipped, StepStarted,
)
from ..record.redact import Redactor
from ..textsafe import neutralise


def safe(value: object) -> str:
    """Any field of an event as printed: control sequences gone, Rich markup inert. Titles, prompts
    and reasons can carry values captured from a command's output, which are a remote's bytes."""
    return escape(neutralise(str(value)))


MARK = {"done": "[green]✓[/]", "failed": "[red]✗[/]", "skipped": "[yellow]–[/]", "unknown": "[magenta]?[/]", "rolled_back": "[cyan]↶[/]"}


class HeadlessPrinter:
    """A subscriber; command output is written as it streams, neutralised, prefixed per node for group steps."""

    def __init__(self, console: Console | None = None, out: TextIO | None = None, show_output: bool = True):
        self.console = console or Console(highlight=False)
        self.out = out or sys.stdout
        self.show_output = show_output
        self.total = 0
        self._at_line_start = True
        self._redactor = Redactor()

    @property
    def secrets(self) -> list[str]:
        """The run's secret values: a command that echoes one shows ****** instead."""
        return self._redactor.secrets

    @secrets.setter
    def secrets(self, values: list[str]) -> None:
        self._redactor.secrets = values

    def redact(self, key: tuple[str, str, str], text: str, final: bool = False) -> str:
        """Replace secrets in a stream, holding back a tail that could be the start of one split across chunks."""
        return self._redactor.stream(key, text, final)

    def _write_output(self, text: str) -> None:
        text = neutralise(text)
        if text:
            self.out.write(text)
            self._at_line_start = text.endswith("\n")

    def p(self, text: str) -> None:
        self._newline()
        self.console.print(text)

    def _newline(self) -> None:
        if not self._at_line_start:
            self.out.write("\n")
            self._at_line_start = True

    def __call__(self, e: Event) -> None:
        if isinstance(e, RunStarted):
            mode = " [bold yellow]DRY RUN[/]" if e.dry_run else ""
            train = " [bold magenta]TRAINING[/]" if e.training else ""
            resumed = " (resumed)" if e.resumed else ""
            self.p(f"[bold]hamn run {safe(e.runbook_id)}[/] v{safe(e.runbook_version)} on {safe(e.cluster or 'this machine')}{mode}{train}{resumed} — run {safe(e.run_id)}")
            if e.roles:
                self.p("roles: " + ", ".join(f"{safe(r)}={safe(n)}" for r, n in e.roles.items()))
        elif isinstance(e, StepStarted):
            where = "" if e.section == "steps" else f" ({safe(e.section)})"
            self.p(f"[bold][{e.index + 1}/{e.total}][/]{where} {safe(e.title)} [dim]({safe(e.node)}, {safe(e.kind)})[/]")
        elif isinstance(e, StepSkipped):
            self.p(f"  {MARK['skipped']} skipped: {safe(e.reason)}")
        elif isinstance(e, ChecksEvaluated):
            for o in e.outcomes:
                colour = {"pass": "green", "fail": "red", "unknown": "magenta"}.get(o.verdict, "magenta")
                self.p(f"  [{colour}]{safe(f'{o.verdict:7}')}[/] {safe(e.phase)}: {safe(o.node)} {safe(o.probe)}.{safe(o.field)} {safe(o.expected)} — {safe(o.reason)}")
        elif isinstance(e, CommandSent):
            user = f" as {e.user}" if e.user else ""
            tag = "rollback " if e.rollback else ""
            self.p(f"  [cyan]{tag}$[/] {safe(e.command)} [dim]({safe(e.node)}{safe(user)})[/]")
        elif isinstance(e, OutputChunk) and self.show_output:
            self._write_output(self.redact((e.step_id, e.node, e.stream), e.data.decode("utf-8", "replace")))
        elif isinstance(e, CommandFinished):
            for key in [k for k in self._redactor.pending if k[:2] == (e.step_id, e.node)]:
                self._write_output(self.redact(key, "", final=True))
            if e.ending != "exited" or e.exit_status != 0:
                why = f"exit {e.exit_status}" if e.ending == "exited" else e.ending + (f": {e.error}" if e.error else "")
                self.p(f"  [yellow]→ {safe(why)}[/] [dim]({e.duration_us / 1e6:.1f} s)[/]")
        elif isinstance(e, QuestionAsked):
            self.p(f"  [bold]?[/] {safe(e.kind)}: {safe(e.prompt)}")
        elif isinstance(e, Answered):
            reason = f" — {safe(e.reason)}" if e.reason else ""
            self.p(f"  [bold]→[/] {safe(e.action)}{reason}")
        elif isinstance(e, StepFinished):
            reason = f": {safe(e.reason)}" if e.reason and e.outcome != "done" else ""
            self.p(f"  {MARK.get(e.outcome, '')} {safe(e.outcome)}{reason}")
        elif isinstance(e, RollbackStarted):
            self.p(f"  [cyan]↶ rolling back {safe(e.step_id)}[/]")
        elif isinstance(e, RollbackFinished):
            self.p(f"  {'[green]rolled back[/]' if e.ok else '[red]rollback failed: ' + safe(e.reason) + '[/]'} {safe(e.step_id)}")
        elif isinstance(e, LockEvent):
            self.p(f"[dim]lock {safe(e.action)}: {safe(e.holder)}[/]")
        elif isinstance(e, Note):
            self.p(f"  [dim]{safe(e.text)}[/]")
        elif isinstance(e, WitnessGate):
            self.p(f"  [green]cosigned by {safe(e.witness)}[/] (records 0–{e.records - 1})" if e.outcome == "cosigned"
                   else f"  [bold red]DEGRADED: runs without a witness's cosignature[/] ({safe(e.os_user)}: {safe(e.reason)})")
        elif isinstance(e, ApprovalRequested):
            self.p(f"  [bold]waiting for a second operator[/] — code [bold]{safe(e.code)}[/] — request {safe(e.request_id)}"
                   + (f" ({safe(e.where)})" if e.where else ""))
        elif isinstance(e, ApprovalDecided):
            who = f" by {safe(e.approver)} ({safe(e.approver_key)})" if e.approver else ""
            colour = "green" if e.verdict == "approved" else "red"
            self.p(f"  [{colour}]approval {safe(e.verdict)}[/]{who}" + (f": {safe(e.reason)}" if e.reason else ""))
        elif isinstance(e, QuestionWithdrawn):
            self.p(f"  [dim]question withdrawn: {safe(e.reason)}[/]")
        elif isinstance(e, RunFinished):
            colour = {"done": "green", "failed": "red", "aborted": "yellow", "waiting": "magenta"}.get(e.outcome, "red")
            reason = f": {safe(e.reason)}" if e.reason else ""
            self.p(f"[bold {colour}]run {safe(e.outcome)}[/]{reason}")
