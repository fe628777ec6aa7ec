"""`hamn hadr …`: DB2 HADR status tools. `parse` turns db2pd / snapshot / db cfg text into the normalised status;
`advise` says, on a standby's status, whether a graceful takeover, PEER WINDOW ONLY or BY FORCE is allowed, and why.

Errors are one line on stderr, `hamn hadr parse: FILE[:LINE]: message` (or `hamn hadr advise: …`), exit 1 —
never a traceback (the operator may be reading this at 3 a.m.); a bad option is exit 2. The JSON shape is
HadrStatus.to_json(), documented in docs/hadr-json.md.
"""
from __future__ import annotations

import json
import math
import sys
import time
from typing import IO, TYPE_CHECKING, Any, NoReturn

import click

from .errors import refuse

if TYPE_CHECKING:
    from ..probes.db2.model import HadrStatus

MAX_INPUT = 4 * 1024 * 1024
"""The one input cap of `parse` and `advise`, files and stdin alike. db2pd output for even 100 standbys
is far smaller; anything larger is not a status, and reading it whole would cost time and memory."""
TOO_LARGE = f"input larger than {MAX_INPUT // (1024 * 1024)} MiB: not db2pd/snapshot/db cfg output"
FIELD_WIDTH = 26
"""Width of the field-name column of the channel table; each channel beside it needs CHANNEL_WIDTH more."""
CHANNEL_WIDTH = 32
MAX_EPOCH = 253402300799
"""9999-12-31T23:59:59Z: a --now beyond it is no time a peer window can be judged against."""


@click.group()
def hadr() -> None:
    """DB2 HADR status: parse db2pd, snapshot and db cfg output."""


def _fail(command: str, name: str, message: str, line: int | None = None) -> NoReturn:
    where = f"{name}:{line}" if line else name
    click.echo(f"hamn hadr {command}: {where}: {' '.join(message.split())}", err=True)
    sys.exit(1)


def _read_capped(fh: IO[bytes], limit: int) -> bytes:
    """At most `limit` bytes, read unbuffered where the stream allows it, so no more is ever taken."""
    raw = getattr(fh, "raw", fh)
    chunks: list[bytes] = []
    left = limit
    while left > 0:
        chunk = raw.read(min(left, 1024 * 1024))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read(command: str, path: str) -> tuple[str, bytes]:
    """FILE (or stdin: -) as bytes, refused when larger than MAX_INPUT; reads MAX_INPUT + 1 bytes at most."""
    name = "<stdin>" if path == "-" else path
    try:
        if path == "-":
            data = _read_capped(sys.stdin.buffer, MAX_INPUT + 1)
        else:
            with open(path, "rb", buffering=0) as fh:
                data = _read_capped(fh, MAX_INPUT + 1)
    except OSError as exc:
        _fail(command, name, f"cannot read: {exc.strerror or exc}")
    if len(data) > MAX_INPUT:
        _fail(command, name, TOO_LARGE)
    return name, data


def _status(command: str, path: str) -> HadrStatus:
    """Read and parse one input; any problem is one line naming the input (and its line), exit 1."""
    from ..probes.db2.model import ParseError
    from ..probes.db2.parse import parse_bytes

    name, data = _read(command, path)
    try:
        return parse_bytes(data)
    except ParseError as exc:
        _fail(command, name, exc.message, exc.line)


@hadr.command("parse")
@click.argument("file", default="-", metavar="[FILE|-]")
@click.option("--json", "as_json", is_flag=True, help="Print the normalised status as JSON (docs/hadr-json.md).")
def parse(file: str, as_json: bool) -> None:
    """Parse FILE (or stdin: -) as db2pd -hadr, snapshot or db cfg output and print the normalised status."""
    out = _status("parse", file).to_json()
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


CHANNEL_ROWS = (
    ("role", "role"), ("state", "state"), ("syncmode", "syncmode"), ("connect status", "connect_status"),
    ("flags", "flags"), ("standby id", "standby_id"), ("primary host", "primary_host"), ("standby host", "standby_host"),
    ("primary log", "primary_log"), ("standby log", "standby_log"), ("standby replay log", "standby_replay_log"),
    ("log gap (bytes)", "log_gap_bytes"), ("recv-replay gap (bytes)", "standby_recv_replay_gap_bytes"),
    ("hadr timeout (s)", "hadr_timeout_s"), ("since last recv (s)", "time_since_last_recv_s"),
    ("peer window (s)", "peer_window_s"), ("peer window end (epoch)", "peer_window_end_epoch"),
)


def _cell(ch: dict[str, Any], key: str) -> str:
    if key.endswith("_log"):
        f, p, pos = ch[f"{key}_file"], ch[f"{key}_page"], ch[f"{key}_pos"]
        lsn = ch[f"{key}_lsn"]
        if f is None and p is None and pos is None and lsn is None:
            return "?"
        return f"{_show(f)} page {_show(p)} pos {_show(pos)}" + (f" lsn {_show(lsn)}" if lsn else "")
    if key == "flags" and not ch["flags_reported"]:
        return "? (not reported)"
    return _show(ch[key])


def _table(out: dict[str, Any]) -> None:
    """A readable view: what the status says, unknowns shown as '?', warnings last.

    Channels side by side while each gets CHANNEL_WIDTH columns of the terminal; else (a narrow
    console, a primary with many standbys) one table per channel, so a line never outgrows the
    terminal and every standby's state stays readable."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    head = Table.grid(padding=(0, 2))
    head.add_column()
    head.add_column(overflow="fold")
    for key in ("format", "database", "activated", "hadr_active", "role", "timestamp_local"):
        head.add_row(key, escape(_show(out.get(key))))
    console.print(head)
    channels = out["channels"]
    if channels and console.width >= FIELD_WIDTH + CHANNEL_WIDTH * len(channels):
        table = Table(title="HADR channels", expand=False)
        table.add_column("field")
        for i, _ in enumerate(channels, 1):
            table.add_column(f"#{i}", overflow="fold")
        for label, key in CHANNEL_ROWS:
            table.add_row(label, *(escape(_cell(ch, key)) for ch in channels))
        console.print(table)
    else:
        for i, ch in enumerate(channels, 1):
            table = Table(title=f"HADR channel #{i} of {len(channels)}", expand=False)
            table.add_column("field")
            table.add_column("value", overflow="fold")
            for label, key in CHANNEL_ROWS:
                table.add_row(label, escape(_cell(ch, key)))
            console.print(table)
    if out["cfg"]:
        cfg = Table(title="db cfg", expand=False)
        cfg.add_column("field")
        cfg.add_column("value", overflow="fold")
        for key, value in out["cfg"].items():
            cfg.add_row(key, escape(_show(value)))
        console.print(cfg)
    for w in out["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {escape(_show(w))}", overflow="fold")


# --- hamn hadr advise ------------------------------------------------------------------------------
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

    if now is not None and not (math.isfinite(now) and 0 <= now <= MAX_EPOCH):
        refuse("hamn hadr advise", f"--now {now:g}: expected epoch seconds, a number from 0 to {MAX_EPOCH}")
    status = _status("advise", file)
    again = _status("advise", second) if second else None
    primary = _status("advise", primary_file) if primary_file else None
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
