"""Four eyes in two terminals as two OS users: the first operator's screen waits with a code;
the second operator, logged in as themselves, runs `hamn approve`, compares the code and types
it; the first screen then shows who approved."""
from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from hamn_tui.audit.approval.spool import Spool

from .approval_support import COMMAND, GATES, ROOT, SecondUser, World, make_world, second_user  # noqa: F401
from .test_audit_support import hermetic  # noqa: F401

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)")


@pytest.fixture
def world(tmp_path: Path, hermetic) -> World:  # noqa: F811
    return make_world(tmp_path)


class Tmux:
    """A private tmux server (its own socket) with one 80x24 session per operator."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="hamn-tmux-"))
        self.sock = str(self.dir / "s")

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-S", self.sock, "-f", "/dev/null", *args], capture_output=True, text=True,
                              timeout=10, check=check)

    def start(self, name: str, argv: list[str], cwd: Path = Path("/")) -> None:
        shell = shlex.join(argv) + "; echo EXIT=$?; exec sleep 600"
        self.run("new-session", "-d", "-s", name, "-x", "80", "-y", "24", "-c", str(cwd), "sh -c " + shlex.quote(shell))

    def screen(self, name: str) -> str:
        return self.run("capture-pane", "-p", "-J", "-t", name, check=False).stdout

    def wait_for(self, name: str, text: str, timeout: float = 20.0) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            screen = self.screen(name)
            if text in screen:
                return screen
            time.sleep(0.05)
        raise AssertionError(f"{name}: waiting {timeout:g} s for {text!r}; the screen was:\n{self.screen(name)}")

    def close(self) -> None:
        self.run("kill-server", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def test_two_operators_two_terminals_two_users(world: World, second_user: SecondUser):
    spool = Spool(second_user.spool)
    request = world.request()
    spool.put_request(request)
    config = world.tmp / "requester.json"
    config.write_text(json.dumps({
        "spool": str(spool.dir), "request_id": request.id, "request_sha256": request.sha256,
        "approvers": str(world.approvers_file), "nonces": str(world.nonces.path), "command": COMMAND, "gates": GATES,
        "head": world.heads[3].as_json(), "run_dir": str(world.run_dir)}))
    tmux = Tmux()
    try:
        tmux.start("first", [sys.executable, "-m", "tests.approval_requester", str(config)], cwd=ROOT)
        first = tmux.wait_for("first", "waiting for a second operator")
        code = re.search(r"code (\d{3} \d{3})", first).group(1)  # type: ignore[union-attr]
        tmux.start("second", [*second_user.hamn, "approve", "--spool", str(spool.dir), "--key", str(second_user.key),
                              "--principal", "dave"])
        second = tmux.wait_for("second", "Type the code")
        assert f"CODE {code}" in second and COMMAND in second  # the same request, on both screens
        tmux.run("send-keys", "-t", "second", code, "Enter")
        assert "EXIT=0" in tmux.wait_for("second", "EXIT=")
        assert f"approved: request {request.id}" in tmux.screen("second")
        first = tmux.wait_for("first", "EXIT=")
        assert "approved by dave" in first and "EXIT=0" in first, first
    finally:
        tmux.close()
