"""Starting the app from the command line: `make_app` (shared with the tests and the
screenshot script) and `run_app` (--no-mouse, 16-colour mode). Whether a terminal is there is
the CLI's question (`cli/terminal.py`), answered before Textual is imported."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..app.workspace import Workspace
from .app import HamnApp


def make_app(workspace: Workspace, **kw: Any) -> HamnApp:
    return HamnApp(workspace, **kw)


def run_app(workspace: Workspace, *, mouse: bool = True, ansi: bool = False, **kw: Any) -> None:
    """ansi: use the terminal's own 16 colours (Linux console, serial lines, plain tmux)."""
    make_app(workspace, ansi_color=ansi, **kw).run(mouse=mouse)


def review_app(path: Path, *, mouse: bool = True, ansi: bool = False) -> None:
    run_app(Workspace.reviewing(), mouse=mouse, ansi=ansi, review=path)
