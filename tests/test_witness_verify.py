"""`hamn audit verify --witness-keys FILE` (how far a log is witnessed, by whom; a cosignature
the log contradicts) and `--witness-copy WDIR` (a run deleted, rewritten or cut on the console
against what a witness holds). Logs without witnesses verify as before."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hamn_tui.audit.witness.check import append_cosignature
from hamn_tui.audit.witness.checkpoint import cosign
from hamn_tui.audit.witness import note
from hamn_tui.cli.main import main

from .test_audit_support import hermetic, write_lines  # noqa: F401
from .witness_support import Log, store, write_log


def verify(*args: str) -> tuple[int, list[str]]:
    r = CliRunner().invoke(main, ["audit", "verify", *map(str, args)])
    return r.exit_code, r.output.strip().splitlines()


@pytest.fixture
def runs(tmp_path, monkeypatch) -> tuple[Path, Log, Path, Path]:
    """A run directory under `runs/`, witnessed to its end by one witness (its copy in `w/`), and
    the witness keys file."""
    log = write_log(tmp_path / "runs", monkeypatch)
    w = store(tmp_path / "w", "hamn-witness/mn2")
    n = len(log.lines)
    for first, size in ((0, 6), (6, n)):
        signed = log.checkpoint(size)
        append_cosignature(log.path, signed, w.add(signed, first, log.lines[first:size]))
    keys = tmp_path / "witness_keys"
    keys.write_text(w.key.verifier.vkey + "\n")
    return tmp_path / "runs", log, tmp_path / "w", keys


def test_without_witness_options_nothing_changes(runs):
    root, log, copy, keys = runs
    code, lines = verify(log.path.parent)
    assert code == 0 and lines[-1].startswith("VALID") and not any("witness" in line for line in lines)


def test_how_far_and_by_whom(runs, tmp_path):
    root, log, copy, keys = runs
    n = len(log.lines)
    code, lines = verify(log.path.parent, "--witness-keys", keys)
    assert code == 0 and lines[-1].endswith("— fully witnessed")
    assert any(f"audit-000.jsonl: witnessed {n} of {n} records: hamn-witness/mn2 to record {n - 1} at 20" in x for x in lines)
    # only the first checkpoint's cosignature kept: partly witnessed, and the rest named
    cosig = Path(f"{log.path}.cosig")
    cosig.write_bytes(cosig.read_bytes().split(b"\n")[0] + b"\n")
    code, lines = verify(log.path.parent, "--witness-keys", keys)
    assert code == 0 and lines[-1].endswith("— not fully witnessed")
    assert f"note: audit-000.jsonl: unwitnessed: records 6–{n - 1}" in lines
    # a witness the auditor does not trust counts for nothing
    stranger = tmp_path / "stranger_keys"
    stranger.write_text(note.Verifier("hamn-witness/x", 4, note.ed25519_public(Ed25519PrivateKey.generate())).vkey + "\n")
    code, lines = verify(log.path.parent, "--witness-keys", stranger)
    assert code == 0 and lines[-1].endswith("not fully witnessed") and "note: audit-000.jsonl: not witnessed (%d records)" % n in lines


def test_a_log_rewritten_after_it_was_witnessed_is_invalid(runs, tmp_path, monkeypatch):
    root, log, copy, keys = runs
    # root on the console regenerates the run (same directory, a new log) and keeps the old cosignatures
    cosig = Path(f"{log.path}.cosig").read_bytes()
    shutil.rmtree(log.path.parent)
    again = write_log(root, monkeypatch)
    Path(f"{again.path}.cosig").write_bytes(cosig)
    assert verify(again.path.parent)[0] == 0  # the log alone cannot tell
    code, lines = verify(again.path.parent, "--witness-keys", keys)
    assert code == 1 and "hamn-witness/mn2 cosigned 6 records with a root this log does not have" in lines[-1]


def test_a_forged_cosignature_is_invalid(runs):
    root, log, copy, keys = runs
    cosig = Path(f"{log.path}.cosig")
    line = cosig.read_bytes().split(b"\n")[0]
    forged_key = Ed25519PrivateKey.generate()
    body = note.parse_note(log.checkpoint(6)).text
    bad = cosign(body, "hamn-witness/mn2", forged_key)
    real = note.parse_vkey(keys.read_text().strip())
    bad = note.Signature(bad.name, real.key_id, bad.signature)  # claims the real witness's key ID
    append_cosignature(log.path, log.checkpoint(6), bad)
    code, lines = verify(log.path.parent, "--witness-keys", keys)
    assert code == 1 and "does not verify" in lines[-1] and line


def test_a_bad_witness_keys_file_is_one_line(runs, tmp_path):
    root, log, copy, keys = runs
    bad = tmp_path / "bad_keys"
    bad.write_text("# ok\nnot-a-key\n")
    r = CliRunner().invoke(main, ["audit", "verify", str(log.path.parent), "--witness-keys", str(bad)])
    assert r.exit_code == 2 and f"{bad}:2: bad verifier key" in r.output and "Traceback" not in r.output


def test_the_witness_copy_finds_a_deleted_run(runs):
    root, log, copy, keys = runs
    code, lines = verify(root, "--witness-copy", copy)
    assert code == 0 and lines[-1].startswith("VALID: the console holds every record")
    shutil.rmtree(log.path.parent)
    code, lines = verify(root, "--witness-copy", copy, "--witness-keys", keys)
    assert code == 1
    assert lines[-1] == f"INVALID: witness: t-run-1/audit-000.jsonl: deleted on the console: hamn-witness/mn2 holds {len(log.lines)} records of it"


def test_the_witness_copy_finds_a_rewritten_or_cut_run(runs, monkeypatch):
    root, log, copy, keys = runs
    code, lines = verify(log.path.parent, "--witness-copy", copy)
    assert code == 0 and lines[-1].startswith("VALID") and any("the console holds the" in x for x in lines)
    original = log.path.read_bytes()
    # rewritten: the same run regenerated from scratch (a valid log on its own)
    shutil.rmtree(log.path.parent)
    again = write_log(root, monkeypatch)
    code, lines = verify(again.path.parent, "--witness-copy", copy)
    assert code == 1 and lines[-1] == "INVALID: witness: t-run-1/audit-000.jsonl: rewritten on the console: record 0 differs from hamn-witness/mn2's copy"
    # cut: the original log with its last records removed
    shutil.rmtree(again.path.parent)
    log.path.parent.mkdir()
    write_lines(log.path, original.split(b"\n")[:-4])
    code, lines = verify(log.path.parent, "--witness-copy", copy)
    assert code == 1 and "cut on the console: it has" in lines[-1]


def test_a_tampered_witness_copy_is_not_trusted(runs):
    root, log, copy, keys = runs
    records = next(copy.glob("logs/*/records.jsonl"))
    records.write_bytes(records.read_bytes().replace(b"looked", b"lookeD"))
    code, lines = verify(log.path.parent, "--witness-copy", copy, "--witness-keys", keys)
    assert code == 1 and lines[-1] == ("INVALID: witness: t-run-1/audit-000.jsonl: the witness copy is not genuine: "
                                       "the records it holds are not those of its cosigned checkpoint")
