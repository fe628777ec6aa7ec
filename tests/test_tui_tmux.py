"""The real `hamn train` process in a real terminal: a private tmux server (its own socket, no
user config) runs the console script, the test reads the screen with `capture-pane` and types
with `send-keys` — what an operator sees and presses, end to end, including start-up and exit.

The Pilot tests (test_tui_run.py) cover the logic; these catch what only a terminal shows: the
CLI choosing the TUI, the keys arriving through a tty (F1, Esc, ctrl+q), and the process really
ending. Each wait polls every 50 ms under a bounded timeout and fails with the screen it saw.
"""
from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)")

POLL_S = 0.05


class Terminal:
    """One 80x24 tmux session running one command, on a private tmux server."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        # a unix socket path must stay under ~100 bytes; pytest's tmp_path can be longer
        self.sock_dir = Path(tempfile.mkdtemp(prefix="hamn-tmux-"))
        self.sock = str(self.sock_dir / "s")
        self.rc_file = tmp / "rc"
        self.env = {
            "TERM": "xterm-256color",
            "XDG_STATE_HOME": str(tmp / "state"),
            "XDG_CONFIG_HOME": str(tmp / "config"),
            "HAMN_AUDIT_DIR": str(tmp / "runs"),
        }

    def tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-S", self.sock, "-f", "/dev/null", *args], capture_output=True, text=True, timeout=10, check=check)

    def start(self, hamn_args: str, *, redirect: str = "", env: dict[str, str] | None = None, hold: bool = False) -> None:
        """Run `python -m hamn_tui ARGS` (the same entry point as the `hamn` script) and record
        its exit status in rc_file when it ends; `hold` keeps the pane open afterwards, so its
        last screen can be read."""
        full_env = {**self.env, **(env or {})}
        envs = " ".join(f"{k}={shlex.quote(v)}" for k, v in full_env.items())
        cmd = f"env -u SSH_AUTH_SOCK -u HAMN_CLUSTER {envs} {shlex.quote(sys.executable)} -m hamn_tui {hamn_args}{redirect}"
        shell = f"{cmd}; echo $? > {shlex.quote(str(self.rc_file))}" + ("; exec sleep 600" if hold else "")
        self.tmux("new-session", "-d", "-s", "t", "-x", "80", "-y", "24", "-c", str(self.tmp), "sh -c " + shlex.quote(shell))

    def screen(self, history: bool = False) -> str:
        out = self.tmux("capture-pane", "-p", "-J", *(["-S", "-"] if history else []), "-t", "t", check=False)
        return out.stdout if out.returncode == 0 else f"<no screen: {out.stderr.strip()}>"

    def alive(self) -> bool:
        return self.tmux("has-session", "-t", "t", check=False).returncode == 0

    def wait_for(self, *texts: str, gone: tuple[str, ...] = (), timeout: float = 20.0, what: str = "") -> str:
        """Poll until every one of `texts` is on screen (and none of `gone`); the screen."""
        end = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < end:
            screen = self.screen()
            if "Traceback" in screen:
                break
            if all(t in screen for t in texts) and not any(g in screen for g in gone):
                return screen
            if not self.alive():
                screen = f"<the session ended; exit status {self.rc()}>\n{screen}"
                break
            time.sleep(POLL_S)
        want = ", ".join(repr(t) for t in texts) + (f"; gone: {', '.join(map(repr, gone))}" if gone else "")
        raise AssertionError(f"waiting for {what + ' (' + want + ')' if what else want} for {timeout:g} s; the screen was:\n{screen}")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "t", *keys)

    def wait_ended(self, timeout: float = 5.0) -> None:
        end = time.monotonic() + timeout
        last = ""
        while time.monotonic() < end:
            if not self.alive():
                return
            last = self.screen()
            time.sleep(POLL_S)
        raise AssertionError(f"the process was still running {timeout:g} s later; the screen was:\n{last}")

    def wait_exit_status(self, timeout: float) -> None:
        """For a held pane: until the command has ended and written its exit status."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.rc_file.exists() and self.rc_file.read_text().strip():
                return
            time.sleep(POLL_S)
        raise AssertionError(f"no exit status after {timeout:g} s; the screen was:\n{self.screen(history=True)}")

    def rc(self) -> str:
        return self.rc_file.read_text().strip() if self.rc_file.exists() else "<none recorded>"

    def close(self) -> None:
        self.tmux("kill-server", check=False)
        shutil.rmtree(self.sock_dir, ignore_errors=True)


@pytest.fixture
def term(tmp_path: Path):
    t = Terminal(tmp_path)
    try:
        yield t
    finally:
        t.close()


def _index_of(runbook_id: str) -> int:
    """How many Down presses from the first (recommended, highlighted) runbook on the healthy
    training pair's home screen reach `runbook_id` (group headings are skipped by the keys)."""
    import asyncio

    from hamn_tui.app.situation import arrange, classify
    from hamn_tui.app.status import StatusReader
    from hamn_tui.app.targets import TrainingTarget
    from hamn_tui.app.workspace import Workspace

    target = TrainingTarget.scenario("healthy")
    ids = [rb.runbook.id for _, rb in Workspace(target, audit_dir=Path("/nonexistent")).runbooks()[0]]
    ordered = [i for _, members in arrange(ids, classify(asyncio.run(StatusReader(target).read()))) for i in members]
    return ordered.index(runbook_id)


def _line(screen: str, label: str) -> str:
    return next((l for l in screen.splitlines() if l.strip().startswith(label)), f"<no line {label!r}>")


def test_hamn_train_in_a_terminal_opens_the_tui_runs_asks_and_quits(term: Terminal, tmp_path: Path):
    index = _index_of("failover-planned")
    started = time.monotonic()
    term.start("train")

    # home: the TRAINING banner, both nodes' live status, the runbooks
    home = term.wait_for("TRAINING", "Runbooks", "mn1 (primary)", "mn2 (standby)", "read ", "recommended now", "no runs yet",
                         what="the home screen")
    assert "Nothing real is touched" in home
    role, hadr, connect = _line(home, "role"), _line(home, "HADR state"), _line(home, "connect")
    assert role.split()[1:] == ["PRIMARY", "STANDBY"], home
    assert hadr.split()[2:] == ["PEER", "PEER"], home
    assert connect.split()[1:] == ["CONNECTED", "CONNECTED"], home
    assert "HEALTHY: mn1 primary, mn2 standby, in sync" in home and "▶ db2-hadr-verify" in home
    assert "Recent runs" in home and "no runs yet" in home
    print(f"home screen after {time.monotonic() - started:.2f} s")

    # open failover-planned with the arrow keys; nothing runs until r
    term.keys(*["Down"] * index, "Enter")
    run = term.wait_for("failover-planned v", "Nothing has run", what="the run screen of failover-planned")
    assert "TRAINING" in run and "PRIMARY PEER CONNECTED" in run

    # r: the first mutating step asks first, No focused, showing the exact command
    term.keys("r")
    modal = term.wait_for("Not yet", "Will run on", what="the first confirmation dialog")
    assert "Run: Stop xcatd on the service nodes?" in modal
    assert "$ service xcatd stop" in modal and "as root" in modal
    assert "Enter or n/Esc: Not yet" in modal

    # n = No: the dialog closes, the run keeps waiting in the decision bar
    term.keys("n")
    bar = term.wait_for("WAITING FOR YOU", gone=("Not yet",), what="the decision bar after No")
    assert "CONFIRM Stop xcatd on the service nodes" in bar and "r run" in bar

    # F1: every key; Esc back to the run
    term.keys("F1")
    help_screen = term.wait_for("what it does", "Open runbook", gone=("WAITING FOR YOU",), what="the help screen")
    assert "Ctrl+R" in help_screen
    term.keys("Escape")
    term.wait_for("WAITING FOR YOU", "failover-planned v", gone=("what it does",), what="the run screen again after Esc")

    # ctrl+q during a run asks first; y quits and the process ends
    term.keys("C-q")
    quit_dialog = term.wait_for("Quit while a run is going on?", what="the quit dialog")
    assert "Stay" in quit_dialog and "Quit" in quit_dialog
    term.keys("y")
    term.wait_ended(timeout=5.0)
    assert term.rc() == "0", f"hamn train exited with {term.rc()}"

    # the unfinished run's log went to HAMN_AUDIT_DIR, nowhere else
    runs = [d.name for d in (tmp_path / "runs").iterdir()]
    assert len(runs) == 1 and runs[0].startswith("failover-planned-"), runs


def test_hamn_train_with_stdout_not_a_tty_prints_the_overview(term: Terminal, tmp_path: Path):
    """stdin is a tty (tmux) but stdout is not (`hamn train > file`, `| less`): the text
    overview instead of a TUI, exit 0. (With no tty at all: test_training_cli.py.)"""
    term.start("train", redirect=" > out.txt")
    term.wait_ended(timeout=30.0)
    assert term.rc() == "0", f"exit {term.rc()}"
    _assert_overview((tmp_path / "out.txt").read_text())


def test_hamn_train_on_a_dumb_terminal_prints_the_overview(term: Terminal):
    """TERM=dumb: the overview on the terminal itself, no TUI."""
    term.start("train", env={"TERM": "dumb"}, hold=True)
    term.wait_exit_status(timeout=30.0)
    assert term.rc() == "0", f"exit {term.rc()}"
    _assert_overview(term.screen(history=True))


def _assert_overview(out: str) -> None:
    flat = " ".join(out.split())
    assert "TRAINING" in flat and "nothing real is touched" in flat, out
    assert "PEER" in out and "primary-node-crash" in out and "hamn train --scenario" in out, out
    assert "\x1b[?1049h" not in out, "the alternate screen was opened: the TUI started"


def test_at_80x24_the_home_screen_says_what_happened_and_enter_opens_the_right_runbook(term: Terminal):
    """3 a.m.: mn1's database died, its node is up. Without scrolling, the first screen names the
    situation, the runbook to run and what not to do; Enter opens that runbook (nothing runs)."""
    term.start("train --scenario primary-fails")
    home = term.wait_for("PRIMARY DATABASE DOWN", "recommended now", what="the situation and the runbook list on the home screen")
    assert "▶ event-primary-lost" in home and "do not force a takeover: mn1 still answers" in home
    assert all(len(line) <= 80 for line in home.splitlines()) and len(home.splitlines()) <= 24
    term.keys("Enter")
    run = term.wait_for("event-primary-lost v", "Nothing has run", what="the recommended runbook's run screen")
    assert "TRAINING" in run
    term.keys("C-q")
    term.wait_ended(10)
