"""Nothing outside hamn_tui/tui/ imports Textual: the engine runs headless and in tests."""
from __future__ import annotations

import ast
import subprocess
import sys

from .conftest import REPO


def test_no_textual_import_outside_tui():
    offenders = []
    for path in (REPO / "hamn_tui").rglob("*.py"):
        if "tui" in path.relative_to(REPO / "hamn_tui").parts[:1]:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n == "textual" or n.startswith("textual.") for n in names):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offenders == []


def test_validate_does_not_load_textual():
    code = "import sys; from hamn_tui.cli import main; from hamn_tui.validate import validate_paths; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
