"""`hamn witness serve | key`: the witness side, run by the forced command of a dedicated SSH
account (`command="hamn witness serve --dir D",restrict ssh-ed25519 …` in its authorized_keys).
One request on stdin, one answer on stdout; exit 0 accepted, 1 refused, 2 a local error."""
from __future__ import annotations

import sys

import click

DIR = click.option("--dir", "directory", type=click.Path(file_okay=False), metavar="DIR",
                   help="The witness's state directory (default: <state dir>/witness).")
NAME = click.option("--name", metavar="NAME", help="The witness's key name when its key is made (default: hamn-witness/<host>).")


def _dir(directory: str | None):
    from pathlib import Path

    from ..settings import settings

    return Path(directory) if directory else settings().state_dir / "witness"


@click.group()
def witness() -> None:
    """Cosign other consoles' audit-log checkpoints (docs/audit-log.md, "Witnesses")."""


@witness.command()
@DIR
@NAME
def serve(directory: str | None, name: str | None) -> None:
    """Answer one request read from stdin: check a checkpoint extends what this witness holds, store its records, cosign."""
    from ..audit.files import UnsafeFile
    from ..audit.witness.key import load_or_create
    from ..audit.witness.note import NoteError
    from ..audit.witness.protocol import MAX_REQUEST, handle
    from ..audit.witness.store import WitnessStore

    root = _dir(directory)
    try:
        key = load_or_create(root, name)
    except (NoteError, UnsafeFile, OSError) as exc:
        click.echo(f"refused: the witness cannot start: {exc}")
        sys.exit(2)
    data = sys.stdin.buffer.read(MAX_REQUEST + 1)
    try:
        answer, ok = handle(WitnessStore(root, key), data)
    except OSError as exc:  # a full disk, a read-only state directory: nothing was stored
        answer, ok = f"refused: the witness cannot store: {exc}\n".encode(), False
    sys.stdout.buffer.write(answer)
    sys.stdout.buffer.flush()
    sys.exit(0 if ok else 1)


@witness.command()
@DIR
@NAME
def key(directory: str | None, name: str | None) -> None:
    """Print this witness's verifier key (made on first use) for auditors' witness keys files."""
    from ..audit.files import UnsafeFile
    from ..audit.witness.key import load_or_create
    from ..audit.witness.note import NoteError

    try:
        click.echo(load_or_create(_dir(directory), name).verifier.vkey)
    except (NoteError, UnsafeFile, OSError) as exc:
        click.echo(f"hamn witness key: {exc}", err=True)
        sys.exit(2)
