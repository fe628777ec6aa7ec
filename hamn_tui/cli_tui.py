"""Options and start-up shared by the commands that open the TUI (`hamn`, `hamn train`,
`hamn run` without --headless, `hamn audit review`). Only click here: Textual is imported
when the TUI actually starts, so `hamn validate` and headless runs never load it."""
from __future__ import annotations

import sys
from typing import Any, Callable

import click


def tui_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--ansi", is_flag=True, help="Use the terminal's 16 colours (Linux console, serial line, plain tmux).")(f)
    f = click.option("--no-mouse", is_flag=True, help="Keyboard only: no mouse reporting (quieter over slow links and serial consoles).")(f)
    return f


def can_start(prog: str) -> bool:
    """Whether a terminal is there; says why not (and the headless alternative) when it is not."""
    from .tui.launch import needs_terminal

    why = needs_terminal()
    if why:
        click.echo(f"{prog}: {why}", err=True)
        return False
    return True


def start(backend_kw: dict[str, Any], *, no_mouse: bool, ansi: bool, prog: str, **app_kw: Any) -> None:
    from .source.problems import InputError
    from .tui.backend import Backend
    from .tui.launch import run_app

    try:
        backend = Backend(**backend_kw)
    except InputError as exc:
        for p in exc.problems:
            click.echo(str(p), err=True)
        sys.exit(2)
    run_app(backend, mouse=not no_mouse, ansi=ansi, **app_kw)
