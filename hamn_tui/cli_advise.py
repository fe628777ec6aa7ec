"""`hamn hadr advise`: on a standby's status, is a graceful takeover, PEER WINDOW ONLY or BY FORCE allowed, and why."""
from __future__ import annotations

import json
import sys
import time

import click


def _read(path: str) -> tuple[str, str]:
    if path == "-":
        return "<stdin>", sys.stdin.read()
    try:
        with open(path, "rb") as fh:
            raw = fh.read(4 * 1024 * 1024)
    except OSError as exc:
        raise click.ClickException(f"{path}: cannot read: {exc.strerror}") from None
    return path, raw.decode("utf-8", "replace")


@click.command()
@click.argument("file", default="-")
@click.option("--second", metavar="FILE", help="The same node's status read again after a delay (a change makes every verdict unknown).")
@click.option("--primary", "primary_file", metavar="FILE", help="The primary's own db2pd output (both sides must be in PEER for graceful).")
@click.option("--now", "now", type=float, help="Epoch seconds to judge the peer window against (default: the status's own date, else now).")
@click.option("--primary-down", is_flag=True, help="The old primary is confirmed down.")
@click.option("--fenced", is_flag=True, help="The old primary is fenced (powered off, cannot restart).")
@click.option("--json", "as_json", is_flag=True)
def advise(file: str, second: str | None, primary_file: str | None, now: float | None, primary_down: bool, fenced: bool, as_json: bool) -> None:
    """Takeover verdicts for the standby whose status FILE holds (db2pd or snapshot output)."""
    from .probes.db2.gates import advise as decide
    from .probes.db2.model import ParseError
    from .probes.db2.parse import parse_any

    def parse(path: str):
        name, text = _read(path)
        try:
            return parse_any(text)
        except ParseError as exc:
            raise click.ClickException(f"{name}: {exc}") from None

    status = parse(file)
    again = parse(second) if second else None
    primary = parse(primary_file) if primary_file else None
    when = now if now is not None else (status.timestamp_epoch or time.time())
    advice = decide(status, now_epoch=when, second=again, primary=primary, primary_down=primary_down or None, primary_fenced=fenced or None)
    if as_json:
        click.echo(json.dumps(advice.to_json(), indent=2))
        return
    for name, v in (("graceful TAKEOVER", advice.graceful), ("BY FORCE PEER WINDOW ONLY", advice.peer_window_only), ("BY FORCE", advice.force)):
        colour = {"allowed": "green", "refused": "red", "unknown": "magenta"}[v.verdict]
        click.echo(click.style(f"{name}: {v.verdict.upper()}", fg=colour, bold=True))
        for r in v.reasons:
            click.echo(f"  - {r}")
