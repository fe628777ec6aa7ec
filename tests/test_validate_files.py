"""Bad files, not bad runbooks: each gives one located line and exit 1, never a traceback."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from hamn_tui.cli import main

from .conftest import MINIMAL


def one_error(v) -> tuple[int, int, str]:
    assert v.exit_code == 1, v.output
    assert len(v.lines) == 1, v.output
    m = v.located()[0]
    return int(m["line"]), int(m["col"]), m["msg"]


def test_minimal_runbook_is_valid(validate_text):
    v = validate_text(MINIMAL)
    assert v.exit_code == 0, v.output
    assert v.lines == ['demo.toml: ok: runbook "demo" v1, 3 steps (1 mutating), 0 always']


def test_toml_syntax_error(validate_text):
    v = validate_text(MINIMAL.replace('title = "Look"', 'title = "Look'))
    line, col, msg = one_error(v)
    assert line == MINIMAL.splitlines().index('title = "Look"') + 1
    assert msg.startswith("TOML syntax error")


def test_syntax_error_at_end_of_file(validate_text):
    line, col, msg = one_error(validate_text("[runbook]\nx = [1,\n"))
    assert (line, msg) == (2, "TOML syntax error: invalid value at the end of the file")


def test_empty_file(validate_text):
    assert one_error(validate_text("")) == (1, 1, "empty file: expected a [runbook] or [cluster] table")
    assert one_error(validate_text("  \n\n"))[2].startswith("empty file")


def test_binary_file(validate_text):
    line, col, msg = one_error(validate_text(b"[runbook]\nid = \x00\x01\x02"))
    assert (line, col) == (2, 6)
    assert "binary file" in msg


def test_non_utf8_file(validate_text):
    line, col, msg = one_error(validate_text(b'[runbook]\ntitle = "caf\xe9"\n'))
    assert (line, col) == (2, 13)
    assert msg == "not UTF-8 text (byte 0xe9)"


def test_fifty_megabyte_file(validate_text, tmp_path: Path):
    big = tmp_path / "big.toml"
    with big.open("wb") as fh:
        fh.truncate(50 * 1000 * 1000)  # sparse: 50 MB without writing them
    result = CliRunner().invoke(main, ["validate", str(big)])
    assert result.exit_code == 1
    assert result.output.strip() == f"{big}:1:1: file is 50.0 MB; a runbook or cluster file is at most 1024 KiB"


def test_duplicate_key(validate_text):
    text = MINIMAL.replace('title = "Demo"', 'title = "Demo"\ntitle = "Again"')
    line, col, msg = one_error(validate_text(text))
    assert line == 4 and msg == 'duplicate key "title": it is already defined'


def test_duplicate_table(validate_text):
    line, _, msg = one_error(validate_text(MINIMAL + '\n[params.mode]\ntype = "int"\n'))
    assert line == MINIMAL.count("\n") + 2
    assert msg == 'duplicate key "params.mode": it is already defined'


def test_neither_runbook_nor_cluster(validate_text):
    _, _, msg = one_error(validate_text('[something]\na = 1\n'))
    assert msg.startswith("neither a runbook (no [runbook] table) nor a cluster file")


def test_missing_file(tmp_path: Path):
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "nope.toml")])
    assert result.exit_code == 1
    assert result.output.strip() == f"{tmp_path}/nope.toml:1:1: cannot read: No such file or directory"


def test_directory_expands_to_its_toml_files(tmp_path: Path):
    (tmp_path / "demo.toml").write_text(MINIMAL)
    (tmp_path / "notes.txt").write_text("not toml")
    result = CliRunner().invoke(main, ["validate", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.count(": ok:") == 1
