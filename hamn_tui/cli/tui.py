"""Options and start-up shared by the commands that open the TUI (`hamn`, `hamn train`,
`hamn run` without --headless, `hamn audit review`). Only click here: Textual is imported
when the TUI actually starts, so `hamn validate` and headless runs never load it."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import click

from .errors import bad_input_exits
from .terminal import needs_terminal


def tui_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--ansi", is_flag=True, help="Use the terminal's 16 colours (Linux console, serial line, plain tmux).")(f)
    f = click.option("--no-mouse", is_flag=True, help="Keyboard only: no mouse reporting (quieter over slow links and serial consoles).")(f)
    return f


def can_start(prog: str) -> bool:
    """Whether a terminal is there; says why not (and the headless alternative) when it is not."""
    why = needs_terminal()
    if why:
        click.echo(f"{prog}: {why}", err=True)
        return False
    return True


def start(target: Any = None, *, cluster_path: str | None = None, label: str = "", audit_dir: Path | None = None,
          lock_dir: str | None = None, key: str | None = None, no_mouse: bool, ansi: bool, prog: str, **app_kw: Any) -> None:
    """Open the TUI on `target` (default: the cluster file given, else the configured one)."""
    from ..app.targets import ClusterTarget
    from ..app.workspace import Workspace
    from ..settings import settings

    with bad_input_exits(prog):
        if target is None:
            target = ClusterTarget(cluster_path or settings().cluster_path, label)
        workspace = Workspace(target, audit_dir=audit_dir, lock_dir=lock_dir, key=key)
    workspace.dial_early()  # the pair's connections start now, while Textual loads
    from ..tui.launch import run_app

    run_app(workspace, mouse=not no_mouse, ansi=ansi, **app_kw)
