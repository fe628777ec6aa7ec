"""`hamn hadr …`: DB2 HADR status tools. `parse` turns db2pd / snapshot / db cfg text into the normalised status;
`advise` says, on a standby's status, whether a graceful takeover, PEER WINDOW ONLY or BY FORCE is allowed, and why.

Errors are one line on stderr, `hamn hadr parse: FILE[:LINE]: message`, exit 1 — never a traceback
(the operator may be reading this at 3 a.m.). The JSON shape is HadrStatus.to_json(), documented
in docs/hadr-json.md.
"""
from __future__ import annotations

import json
import sys
import time
from typing import Any, NoReturn

import click

MAX_INPUT = 16 * 1024 * 1024


@click.group()
def hadr() -> None:
    """DB2 HADR status: parse db2pd, snapshot and db cfg output."""


def _fail(name: str, message: str, line: int | None = None) -> NoReturn:
    where = f"{name}:{line}" if line else name
    click.echo(f"hamn hadr parse: {where}: {' '.join(message.split())}", err=True)
    sys.exit(1)


def _read(path: str) -> tuple[str, bytes]:
    name = "<stdin>" if path == "-" else path
    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_INPUT + 1)
        else:
            with open(path, "rb") as fh:
                data = fh.read(MAX_INPUT + 1)
    except OSError as exc:
        _fail(name, f"cannot read: {exc.strerror or exc}")
    if len(data) > MAX_INPUT:
        _fail(name, f"larger than {MAX_INPUT // (1024 * 1024)} MiB: not a DB2 status output")
    return name, data


@hadr.command("parse")
@click.argument("file", default="-", metavar="[FILE|-]")
@click.option("--json", "as_json", is_flag=True, help="Print the normalised status as JSON (docs/hadr-json.md).")
def parse(file: str, as_json: bool) -> None:
    """Parse FILE (or stdin: -) as db2pd -hadr, snapshot or db cfg output and print the normalised status."""
    from ..probes.db2.model import ParseError
    from ..probes.db2.parse import parse_bytes

    name, data = _read(file)
    try:
        status = parse_bytes(data)
    except ParseError as exc:
        _fail(name, exc.message, exc.line)
    out = status.to_json()
    if as_json:
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        _table(out)


def _show(value: Any) -> str:
    from ..textsafe import neutralise

    if value is None:
        return "?"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return " ".join(map(str, value)) or "-"
    return neutralise(str(value))


def _table(out: dict[str, Any]) -> None:
    """A readable view: what the status says, unknowns shown as '?', warnings last."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    head = Table.grid(padding=(0, 2))
    for key in ("format", "database", "activated", "hadr_active", "role", "timestamp_local"):
        head.add_row(key, escape(_show(out.get(key))))
    console.print(head)
    if out["channels"]:
        rows = [
            ("role", "role"), ("state", "state"), ("syncmode", "syncmode"), ("connect status", "connect_status"),
            ("flags", "flags"), ("standby id", "standby_id"), ("primary host", "primary_host"), ("standby host", "standby_host"),
            ("primary log", "primary_log"), ("standby log", "standby_log"), ("standby replay log", "standby_replay_log"),
            ("log gap (bytes)", "log_gap_bytes"), ("recv-replay gap (bytes)", "standby_recv_replay_gap_bytes"),
            ("hadr timeout (s)", "hadr_timeout_s"), ("since last recv (s)", "time_since_last_recv_s"),
            ("peer window (s)", "peer_window_s"), ("peer window end (epoch)", "peer_window_end_epoch"),
        ]
        table = Table(title="HADR channels", expand=False)
        table.add_column("field")
        for i, _ in enumerate(out["channels"], 1):
            table.add_column(f"#{i}", overflow="fold")
        for label, key in rows:
            cells = []
            for ch in out["channels"]:
                if key.endswith("_log"):
                    f, p, pos = ch[f"{key}_file"], ch[f"{key}_page"], ch[f"{key}_pos"]
                    lsn = ch[f"{key}_lsn"]
                    cells.append("?" if f is None and p is None and pos is None and lsn is None else
                                 f"{_show(f)} page {_show(p)} pos {_show(pos)}" + (f" lsn {lsn}" if lsn else ""))
                elif key == "flags" and not ch["flags_reported"]:
                    cells.append("? (not reported)")
                else:
                    cells.append(_show(ch[key]))
            table.add_row(label, *(escape(c) for c in cells))
        console.print(table)
    if out["cfg"]:
        cfg = Table(title="db cfg", expand=False)
        cfg.add_column("field")
        cfg.add_column("value", overflow="fold")
        for key, value in out["cfg"].items():
            cfg.add_row(key, escape(_show(value)))
        console.print(cfg)
    for w in out["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {escape(_show(w))}")


# --- hamn hadr advise ------------------------------------------------------------------------------
def _read_text(path: str) -> tuple[str, str]:
    if path == "-":
        return "<stdin>", sys.stdin.read()
    try:
        with open(path, "rb") as fh:
            raw = fh.read(4 * 1024 * 1024)
    except OSError as exc:
        raise click.ClickException(f"{path}: cannot read: {exc.strerror}") from None
    return path, raw.decode("utf-8", "replace")


@hadr.command()
@click.argument("file", default="-")
@click.option("--second", metavar="FILE", help="The same node's status read again after a delay (a change makes every verdict unknown).")
@click.option("--primary", "primary_file", metavar="FILE", help="The primary's own db2pd output (both sides must be in PEER for graceful).")
@click.option("--now", "now", type=float, help="Epoch seconds to judge the peer window against (default: the status's own date, else now).")
@click.option("--primary-down", is_flag=True, help="The old primary is confirmed down.")
@click.option("--fenced", is_flag=True, help="The old primary is fenced (powered off, cannot restart).")
@click.option("--json", "as_json", is_flag=True)
def advise(file: str, second: str | None, primary_file: str | None, now: float | None, primary_down: bool, fenced: bool, as_json: bool) -> None:
    """Takeover verdicts for the standby whose status FILE holds (db2pd or snapshot output)."""
    from ..probes.db2.gates import advise as decide
    from ..probes.db2.model import ParseError
    from ..probes.db2.parse import parse_any

    def parse(path: str):
        name, text = _read_text(path)
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
