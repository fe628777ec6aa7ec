"""`hamn audit verify … --witness-keys FILE --witness-copy WDIR --witness HOST`: the log's own
verdict, then how far witnesses cosigned it, then whether the console still holds what a witness
holds (a copy of its directory, or fetched from it over ssh). A cosignature or a witness's copy
that contradicts the log makes it INVALID (exit 1); a witness that cannot be asked, or answers
something that is not an export, is one line on stderr and exit 2 (nothing was checked)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import click


@dataclass
class Fetch:
    """What to ask of which witnesses (`--witness`, `--cluster`, `--witness-identity`, `--known-hosts`)."""

    hosts: list[str] = field(default_factory=list)
    cluster: Path | None = None
    identity: Path | None = None
    known_hosts: Path | None = None


def verify_witnessed(path: Path, allowed_signers: Path | None, outputs: bool, keys_file: Path | None, copy: Path | None,
                     fetch: Fetch | None = None) -> int:
    from ..audit.files import UnsafeFile
    from ..audit.verify import segments_of, verify_path
    from ..audit.witness.check import WitnessKeysError, compare_copy, read_witness_keys, witnessed

    try:
        keys = read_witness_keys(keys_file) if keys_file else None
    except WitnessKeysError as exc:
        click.echo(f"hamn audit verify: {exc}", err=True)
        return 2
    sources: list[tuple[str, list[str], list[str]]] = []
    """(where, failures, notes) per witness copy compared."""
    if fetch is not None and fetch.hosts:
        fetched = _fetch(path, fetch, keys)
        if isinstance(fetched, str):
            click.echo(f"hamn audit verify: {fetched}", err=True)
            return 2
        sources += fetched
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
        sources.insert(0, ("witness", failures, more))
    failed = False
    for where, failures, more in sources:
        notes += more
        if failures:
            notes += [f"{where}: {f}" for f in failures[1:]]
            if not failed:
                line, code, failed = f"INVALID: {where}: {failures[0]}", 1, True
    if sources and not failed and not is_log:
        held_by = f"the witness copy {copy} holds" if copy and len(sources) == 1 else "the witnesses hold"
        line, code = f"VALID: the console holds every record {held_by}", 0
    elif not sources and not is_log:
        line, code = f"INVALID: record 0: no audit log in {path}", 1
    for note in notes:
        click.echo(f"note: {note}")
    click.echo(line)
    return code


def _fetch(path: Path, fetch: Fetch, keys: list | None) -> list[tuple[str, list[str], list[str]]] | str:
    """Each --witness's copy of these logs compared with the console's; or the one-line reason none could be."""
    from ..audit.witness.check import compare_held
    from ..audit.witness.client import fetch as fetch_logs
    from ..audit.witness.protocol import ExportError
    from ..audit.witness.sender import label
    from ..cluster.loader import load_cluster
    from ..inputs.problems import InputError
    from .witness_fetch import Where, WitnessHostError, prefix_of, target_of

    try:
        cluster = load_cluster(fetch.cluster) if fetch.cluster else None
    except InputError as exc:
        return str(exc.problems[0]) if exc.problems else f"{fetch.cluster}: cannot be read"
    try:
        where = Where(cluster, fetch.identity, fetch.known_hosts)
        targets = [target_of(spec, where) for spec in fetch.hosts]
        prefix = prefix_of(path, cluster)
    except WitnessHostError as exc:
        return str(exc)
    out: list[tuple[str, list[str], list[str]]] = []
    for t in targets:
        who = label(t)
        try:
            held = fetch_logs(prefix, t)
        except ExportError as exc:
            return f"witness {who}: {exc}"
        failures, notes = compare_held(path, held, keys, f"witness {who}")
        notes.insert(0, f"witness {who}: fetched {len(held)} log(s) under {prefix}")
        out.append((f"witness {who}", failures, notes))
    return out
