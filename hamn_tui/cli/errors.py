"""The one place bad input becomes an exit code: each problem is one line on stderr
(`file:line:col: key: message` for files) and the command exits 2 — never a traceback."""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator, NoReturn

import click

BAD_INPUT = 2


def refuse(prog: str, why: str) -> NoReturn:
    click.echo(f"{prog}: {why}", err=True)
    sys.exit(BAD_INPUT)


@contextmanager
def bad_input_exits(prog: str, what: str = "") -> Iterator[None]:
    """Turn a bad file, a run that cannot start, or a broken scenario into lines on stderr and exit 2.

    `what` prefixes the one-line errors (e.g. "training scenario X: "). Imported here, not above:
    `hamn validate` must not load the audit package."""
    from ..app.errors import SetupError
    from ..audit.errors import AuditError
    from ..inputs.problems import InputError
    from ..sim.errors import ScenarioError

    try:
        yield
    except InputError as exc:
        for p in exc.problems:
            click.echo(str(p), err=True)
        sys.exit(BAD_INPUT)
    except (SetupError, AuditError, ScenarioError) as exc:
        refuse(prog, f"{what}{exc}")
