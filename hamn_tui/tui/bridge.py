"""Where the engine meets the UI: events become Textual messages, questions become futures.

The runner runs as an async worker on the App (so popping a screen never cancels a failover)
in the same event loop. Its subscribers are synchronous: `EventRelay` posts each event as a
message (never dropped: no `can_replace`) and hands output chunks to the `OutputFeed`, which
the output pane drains in batches. `TuiOperator.ask` posts the question and awaits the answer
the screen gives; the runner checks every answer (`check_answer`) as it does headless.
"""
from __future__ import annotations

import asyncio
from typing import Any, Callable

from textual.message import Message

from ..record.events import Event, OutputChunk
from ..record.questions import Answer, Question


class EngineEvent(Message):
    """One engine event (all but output chunks, which go through the feed)."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class QuestionPending(Message):
    """The engine waits for the operator; resolve `future` with an `Answer`."""

    def __init__(self, question: Question, future: asyncio.Future[Answer]) -> None:
        super().__init__()
        self.question = question
        self.future = future


class RunEnded(Message):
    def __init__(self, outcome: str, error: str = "") -> None:
        super().__init__()
        self.outcome = outcome
        self.error = error


class EventRelay:
    """The UI's engine subscriber."""

    def __init__(self, post: Callable[[Message], Any], feed: Any = None) -> None:
        self.post = post
        self.feed = feed

    def __call__(self, event: Event) -> None:
        if self.feed is not None:
            self.feed.feed(event)
        if not isinstance(event, OutputChunk):
            self.post(EngineEvent(event))


class TuiOperator:
    """The Operator protocol answered by a person at the TUI."""

    def __init__(self, post: Callable[[Message], Any]) -> None:
        self.post = post
        self.pending: asyncio.Future[Answer] | None = None
        self.preset: dict[str, Answer] = {}
        """Answers the operator already gave before the engine asked (the resume prompt)."""

    async def ask(self, question: Question) -> Answer:
        if question.kind in self.preset:
            return self.preset.pop(question.kind)
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self.pending = future
        self.post(QuestionPending(question, future))
        try:
            return await future
        finally:
            self.pending = None
