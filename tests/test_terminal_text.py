"""A value captured from a command's output reaches titles, explanations, prompts and commands.
Its bytes must never reach the operator's terminal as control sequences: not on the headless
screen, not in the TUI's step list, step detail or dialogs."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hamn_tui.app.targets import ClusterTarget
from hamn_tui.app.workspace import Workspace
from hamn_tui.tui.launch import make_app
from hamn_tui.tui.modals import ConfirmModal

from .tui_support import run, screen_name, wait_for

# The first step prints A, an OSC that retitles the terminal, B, a CSI that clears it, C; the
# capture keeps all of it, and the next step puts it in its title, explanation and command.
BOOK = r'''
[runbook]
id = "escapes"
title = "a captured value with control sequences"
version = "1"
databases = ["db2", "pg"]
summary = "s"

[[steps]]
id = "read"
title = "read a value"
run = "printf 'V=A\\033]0;pwned\\007B\\033[2JC=END\\n'"
mutating = false
capture = [ { name = "v", regex = "V=(.*)=END" } ]

[[steps]]
id = "use"
title = "Use {{ captured.v }}"
explain = "The value read was {{ captured.v }}."
run = "echo {{ captured.v }}"
irreversible = true
'''
CONTROL = ("\x1b", "\x07", "\x9b", "\x9d")


def _book(tmp_path: Path) -> Path:
    path = tmp_path / "escapes.toml"
    path.write_text(BOOK)
    return path


def test_headless_run_prints_no_control_sequence(tmp_path: Path):
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "cfg"), XDG_STATE_HOME=str(tmp_path / "state"))
    env.pop("SSH_AUTH_SOCK", None)
    out = subprocess.run([sys.executable, "-m", "hamn_tui", "run", str(_book(tmp_path)), "--headless", "--yes", "--audit-dir", str(tmp_path / "runs")],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    shown = out.stdout + out.stderr
    assert not [c for c in CONTROL if c in shown], repr(shown)
    # the value did reach the screen, as text: in the title, the confirmation and the command
    assert "Use ABC" in out.stdout
    assert out.stdout.count("ABC") >= 3, out.stdout


def test_tui_step_detail_list_and_dialog_show_no_control_sequence(tmp_path: Path):
    app = make_app(Workspace(ClusterTarget(None), audit_dir=tmp_path / "runs"), open_runbook=str(_book(tmp_path)))

    async def go():
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: screen_name(app) == "RunScreen")
            rs = app.screen
            await pilot.press("r")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the confirmation of the step that uses the value")
            row = rs.ctl.model.steps["use"]
            assert "\x1b" in row.title  # the raw value did arrive: what follows is what the screen makes of it
            dialog = app.screen
            texts = {
                "step detail": str(rs.query_one("#step-detail-text").render()),
                "step list": str(rs.query_one("#steps").get_option("use").prompt),
                "decision bar": str(rs.query_one("#decision").render()),
                "dialog title": str(dialog.query_one(".title").render()),
                "dialog body": str(dialog.query_one("VerticalScroll Static").render()),
            }
            for where, text in texts.items():
                assert not [c for c in CONTROL if c in text], f"{where}: {text!r}"
                assert "ABC" in text, f"{where}: {text!r}"
            await pilot.press("escape")
        return True

    run(go())
