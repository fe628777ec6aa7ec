"""Whether the TUI can start here — asked before Textual is imported, so `hamn train --list`
and a bare `hamn` without a terminal never load it."""
from __future__ import annotations

import os
import sys


def needs_terminal() -> str:
    """Why the TUI cannot start here ("" when it can)."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return "the TUI needs a terminal (stdin and stdout are not a tty)"
    if os.environ.get("TERM") == "dumb":
        return "the TUI needs a terminal that is not TERM=dumb"
    return ""
