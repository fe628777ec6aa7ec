"""The layers hold: import-linter's contracts (pyproject.toml) over the whole package, and the
commands that must start without Textual really do (a contract sees imports, this sees a run)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from .conftest import REPO


LINT = [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()", "--no-cache"]


def _lint(root, cwd) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}  # grimp reads the package found first on the path
    return subprocess.run([*LINT, str(cwd / "pyproject.toml")], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def test_the_import_contracts_are_kept():
    """cli > tui > app > engine > audit | sim | lab > probes > runbook | transport > cluster > leaves > settings;
    Textual only in the TUI, Rich only where output is printed, the simulator behind the transport."""
    out = _lint(REPO, REPO)
    assert out.returncode == 0 and "0 broken" in out.stdout, out.stdout + out.stderr


@pytest.mark.parametrize("wrong", [
    ("audit/wrong_way.py", "from ..record.events import Event\nfrom ..engine.runner import Runner\n", "Layers"),
    ("engine/wrong_way.py", "from ..app.session import RunSession\n", "Layers"),
    ("record/wrong_way.py", "from ..engine.runner import Runner\n", "Layers"),
    ("sim/wrong_way.py", "from ..probes.registry import cluster_probes\n", "simulator"),
    ("app/wrong_way.py", "import textual\n", "Textual"),
    ("engine/wrong_way.py", "from rich.console import Console\n", "Rich"),
])
def test_the_contracts_see_a_wrong_arrow(tmp_path, wrong):
    """The contracts are not vacuous: each wrong import, added to a copy of the package, breaks its contract."""
    path, line, contract = wrong
    shutil.copytree(REPO / "hamn_tui", tmp_path / "hamn_tui", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "hamn_tui" / path).write_text(line)
    out = _lint(tmp_path, tmp_path)
    assert out.returncode != 0 and "1 broken" in out.stdout, out.stdout + out.stderr
    broken = out.stdout.split("Broken contracts", 1)[1]
    assert contract in broken and "wrong_way" in broken


@pytest.mark.parametrize("args", [["validate", "runbooks"], ["train", "--list"], [], ["run", "nosuch", "--headless"]])
def test_commands_without_a_terminal_do_not_load_textual(args):
    """`hamn validate`, `hamn train --list`, a bare `hamn` and a headless run check for a tty
    without importing Textual (it costs start-up time and is not needed)."""
    code = ("import sys, runpy; sys.argv = ['hamn', *sys.argv[1:]]\n"
            "try:\n    runpy.run_module('hamn_tui', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "print('TEXTUAL' if 'textual' in sys.modules else 'NO-TEXTUAL')")
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=REPO, timeout=120,
                         stdin=subprocess.DEVNULL)
    assert out.stdout.strip().splitlines()[-1] == "NO-TEXTUAL", out.stdout + out.stderr
