"""Text for a widget with its control sequences removed.

A Rich `Text` does not interpret `ESC ]…` or `ESC [2J`, but Textual writes its characters to
the terminal as they are, and the terminal does. Titles, explanations and commands can carry
values captured from a command's output, so every text a widget shows passes through here.
A plain string becomes a `Text` too, so `[…]` in it is never read as markup.
"""
from __future__ import annotations

from typing import Any

from rich.text import Text

from ...textsafe import neutralise


def clean(value: Any) -> Any:
    """A str or Text without control sequences, styles kept; any other renderable as it is."""
    if isinstance(value, str):
        return Text(neutralise(value))
    if not isinstance(value, Text) or neutralise(value.plain) == value.plain:
        return value
    cuts = sorted({0, len(value.plain), *(s.start for s in value.spans), *(s.end for s in value.spans)})
    out = value.blank_copy()
    for part in value.divide(cuts[1:-1]):
        piece = Text(neutralise(part.plain))
        for span in part.spans:
            piece.stylize(span.style)
        out.append_text(piece)
    return out
