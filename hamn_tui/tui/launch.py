"""Starting the app from the command line: `make_app` (shared with the tests and the
screenshot script) and `run_app` (terminal checks, --no-mouse, 16-colour mode)."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from .app import HamnApp
from .backend import Backend


def make_app(backend: Backend, **kw: Any) -> HamnApp:
    return HamnApp(backend, **kw)


def needs_terminal() -> str:
    """Why the TUI cannot start here ("" when it can)."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return "the TUI needs a terminal (stdin and stdout are not a tty)"
    if os.environ.get("TERM") == "dumb":
        return "the TUI needs a terminal that is not TERM=dumb"
    return ""


def run_app(backend: Backend, *, mouse: bool = True, ansi: bool = False, **kw: Any) -> None:
    """ansi: use the terminal's own 16 colours (Linux console, serial lines, plain tmux)."""
    make_app(backend, ansi_color=ansi, **kw).run(mouse=mouse)


def review_app(path: Path, *, mouse: bool = True, ansi: bool = False) -> None:
    run_app(Backend(use_cluster=False), mouse=mouse, ansi=ansi, review=path)
