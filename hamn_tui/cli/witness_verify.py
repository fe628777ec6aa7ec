"""`hamn audit verify … --witness-keys FILE --witness-copy WDIR`: the log's own verdict, then
how far witnesses cosigned it, then whether the console still holds what a witness holds.
A cosignature or a witness copy that contradicts the log makes it INVALID (exit 1)."""
from __future__ import annotations

from pathlib import Path

import click


def verify_witnessed(path: Path, allowed_signers: Path | None, outputs: bool, keys_file: Path | None, copy: Path | None) -> int:
    from ..audit.files import UnsafeFile
    from ..audit.verify import segments_of, verify_path
    from ..audit.witness.check import WitnessKeysError, compare_copy, read_witness_keys, witnessed

    try:
        keys = read_witness_keys(keys_file) if keys_file else None
    except WitnessKeysError as exc:
        click.echo(f"hamn audit verify: {exc}", err=True)
        return 2
    notes: list[str] = []
    is_log = path.is_file() or bool(segments_of(path))
    line, code = "", 0
    if is_log:
        report = verify_path(path, allowed_signers, outputs=outputs, keep=False)
        notes += report.notes
        line, code = report.line, report.exit_code
        if keys is not None and report.segments and code != 1:
            try:
                w = witnessed([s.path for s in report.segments], keys)
            except (OSError, UnsafeFile) as exc:
                w = None
                line, code = f"INVALID: record 0: {exc}", 1
            if w is not None:
                notes += w.notes
                if w.failure:
                    line, code = w.failure, 1
                else:
                    line += " — fully witnessed" if w.fully else " — not fully witnessed"
    if copy is not None:
        failures, more = compare_copy(path, copy, keys)
        notes += more
        if failures:
            notes += [f"witness: {f}" for f in failures[1:]]
            line, code = f"INVALID: witness: {failures[0]}", 1
        elif not is_log:
            line, code = f"VALID: the console holds every record the witness copy {copy} holds", 0
    elif not is_log:
        line, code = f"INVALID: record 0: no audit log in {path}", 1
    for note in notes:
        click.echo(f"note: {note}")
    click.echo(line)
    return code
