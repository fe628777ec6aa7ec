"""Four eyes through the real TUI, two OS users, two terminals (issue 15): operator A (root) runs
`hamn run` on a cluster file (nodes: the loopback test sshd) whose `[approval]` names the
approvers and a 2770 group spool shared with operator B (`hamnappr`, their own key). A's screen
waits for a second operator with a code; B, logged in as themselves, runs `hamn approve --code`,
and A's screen shows the step run and who approved. Then an approval of A's own request signed with
A's own key (which `hamn approve` itself will not sign) is refused on A's screen in one line, `t` makes a new request, and B's signed
rejection ends it."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hamn_tui.audit.approval.answer import signed_message, ssh_keygen_sign, statement_bytes
from hamn_tui.audit.approval.spool import Spool

from .approval_support import ROOT, SecondUser, World, make_world, second_user  # noqa: F401
from .sshd_fixture import sshd  # noqa: F401
from .test_approval_tmux import Tmux
from .test_audit_support import hermetic  # noqa: F401
from .test_four_eyes_run import BOOK as BOOK_WITH_GATE

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)")

BOOK = """
[runbook]
id = "four-eyes-tui"
title = "Two steps a second operator approves"
version = "1"
databases = ["pg"]
summary = "s"

[[steps]]
id = "first"
title = "First step that cannot be undone"
run = "echo FIRST-RAN; echo first >> TMP/ran"
irreversible = true
confirm = "typed"
confirm_text = "FIRST"
approval = "second-operator"

[[steps]]
id = "second"
title = "Second step that cannot be undone"
run = "echo second >> TMP/ran"
irreversible = true
confirm = "typed"
confirm_text = "SECOND"
approval = "second-operator"
"""
CODE = re.compile(r"Code\s+(\d{3} \d{3})")


@pytest.fixture
def world(tmp_path: Path, hermetic) -> World:  # noqa: F811
    return make_world(tmp_path)


class Screens(Tmux):
    """The private tmux server of test_approval_tmux (80x24 terminals); waits fail on a traceback."""

    def wait_for(self, name: str, text: str, timeout: float = 30.0) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            screen = self.screen(name)
            if text in screen:
                return screen
            if "Traceback" in screen:
                break
            time.sleep(0.05)
        raise AssertionError(f"{name}: waiting {timeout:g} s for {text!r}; the screen was:\n{self.screen(name)}")

    def wait_line(self, name: str, text: str, timeout: float = 30.0) -> str:
        """Until one line of the screen holds `text` whole (a passing notification can cover part of it)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            screen = self.screen(name)
            if any(text in line for line in screen.splitlines()):
                return screen
            time.sleep(0.05)
        raise AssertionError(f"{name}: no line with {text!r} in {timeout:g} s; the screen was:\n{self.screen(name)}")

    def code(self, name: str, not_: tuple[str, ...] = ()) -> str:
        """The code on the waiting dialog (a new one: not any of `not_`)."""
        end = time.monotonic() + 30
        while time.monotonic() < end:
            found = CODE.search(self.screen(name))
            if found and found.group(1) not in not_:
                return found.group(1)
            time.sleep(0.05)
        raise AssertionError(f"{name}: no new code on screen:\n{self.screen(name)}")


def test_operator_b_approves_from_their_own_terminal_and_a_refusal_and_a_rejection_show_on_a(
        world: World, second_user: SecondUser, sshd, tmp_path: Path):  # noqa: F811
    spool = second_user.spool
    cluster = sshd.cluster_toml(tmp_path / "cluster.toml")
    with open(cluster, "a") as fh:
        fh.write(f'\n[approval]\napprovers = "{world.approvers_file}"\nspool = "{spool}"\nttl_s = 300\n')
    book = tmp_path / "four-eyes-tui.toml"
    book.write_text(textwrap.dedent(BOOK).replace("TMP", str(tmp_path)))
    (tmp_path / "locks").mkdir()
    env = {"TERM": "xterm-256color", "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    a_env = ["env", "-u", "SSH_AUTH_SOCK", "-u", "HAMN_CLUSTER", *(f"{k}={v}" for k, v in env.items())]
    hamn_a = [*a_env, sys.executable, "-m", "hamn_tui"]
    audit = tmp_path / "runs"
    t = Screens()
    try:
        t.start("a", [*hamn_a, "run", str(book), "--cluster", str(cluster), "--audit-dir", str(audit), "--lock-dir",
                      str(tmp_path / "locks"), "--key", str(world.alice)], ROOT)
        t.wait_for("a", "Nothing has run")
        t.run("send-keys", "-t", "a", "r")
        t.wait_for("a", "Type exactly")
        t.run("send-keys", "-t", "a", "FIRST", "Enter")

        # A waits for a second operator; B approves from their own terminal, as themselves
        t.wait_for("a", "WAITING FOR A SECOND OPERATOR")
        code = t.code("a")
        screen = t.screen("a")
        assert "hamn approve --spool " + str(spool) in screen, screen
        assert "hamn approve --request FILE --out ANSWER" in screen, screen
        assert not (tmp_path / "ran").exists()
        t.start("b", [*second_user.hamn, "approve", "--spool", str(spool), "--key", str(second_user.key), "--principal", "dave",
                      "--code", code])
        assert "EXIT=0" in t.wait_for("b", "EXIT="), t.screen("b")
        assert "approved: request" in t.screen("b")

        # A's screen: the dialog closed by itself, the step ran, the next one asks
        t.wait_for("a", "Type exactly")
        assert (tmp_path / "ran").read_text() == "first\n"
        assert "WAITING FOR A SECOND OPERATOR" not in t.screen("a")
        t.run("send-keys", "-t", "a", "Escape")  # look at the first step before confirming the second
        t.run("send-keys", "-t", "a", "Up")
        shown = t.wait_for("a", "approved by dave")
        assert "FIRST-RAN" in shown or "first" in shown
        t.run("send-keys", "-t", "a", "r")
        t.wait_for("a", "Type exactly")
        t.run("send-keys", "-t", "a", "SECOND", "Enter")

        # A approves their own request with their own key: signed, but refused on A's screen in one line
        t.wait_for("a", "WAITING FOR A SECOND OPERATOR")
        code2 = t.code("a", not_=(code,))
        own = subprocess.run([*hamn_a, "approve", "--spool", str(spool), "--key", str(world.alice), "--principal", "alice",
                              "--code", code2], capture_output=True, text=True, timeout=60)
        assert own.returncode == 1 and "requester" in own.stderr, own.stdout + own.stderr  # hamn approve refuses A's own key
        # signed anyway (a tampered hamn approve): A's run refuses it
        store = Spool(spool, create=False)
        req = next(r for r in store.pending()[0] if r.code == code2)
        statement = statement_bytes(req, "approve", "alice")
        store.put_answer(req.id, "approval", statement, ssh_keygen_sign(signed_message(req.raw, statement), world.alice, {}))
        refused = t.wait_line("a", "APPROVAL REFUSED: refused: self-approval refused")
        assert "t new request" in refused and "s skip" in refused and "a abort" in refused, refused
        assert (tmp_path / "ran").read_text() == "first\n"

        # a new request; B rejects it: the request ends, A's screen says so
        t.run("send-keys", "-t", "a", "t")
        t.wait_for("a", "WAITING FOR A SECOND OPERATOR")
        code3 = t.code("a", not_=(code, code2))
        t.run("kill-session", "-t", "b")
        t.start("b", [*second_user.hamn, "approve", "--spool", str(spool), "--key", str(second_user.key), "--principal", "dave",
                      "--code", code3, "--reject", "--reason", "not tonight"])
        assert "EXIT=0" in t.wait_for("b", "EXIT="), t.screen("b")
        t.wait_line("a", "APPROVAL REFUSED: rejected: rejected by dave: not tonight")
        t.run("send-keys", "-t", "a", "a")
        t.wait_for("a", "Abort the run?")
        t.run("send-keys", "-t", "a", "y")
        t.wait_for("a", "Run aborted")
        assert (tmp_path / "ran").read_text() == "first\n"  # the second step never ran
    finally:
        t.close()

    records = [json.loads(line) for seg in sorted(audit.glob("*/audit-*.jsonl")) for line in seg.read_bytes().splitlines()]
    decided = [(r["data"]["step_id"], r["data"]["verdict"], r["data"]["approver"]) for r in records if r["type"] == "approval_decided"]
    assert decided == [("first", "approved", "dave"), ("second", "refused", "alice"), ("second", "rejected", "dave")], decided
    assert os.stat(spool).st_mode & 0o7777 == 0o2770




def test_every_refusal_shows_on_a_in_one_line_and_the_step_runs_only_when_b_approves(
        world: World, second_user: SecondUser, sshd, tmp_path: Path):  # noqa: F811
    """Wrong namespace, an unknown key, a request edited in the spool, an earlier approval replayed,
    gates that changed since the request, an expired request: each refused on A's screen in one
    line, and A asks again (`t`); then B's own approval runs the step."""
    from hamn_tui.audit.approval.answer import sign_answer
    from hamn_tui.audit.approval.request import command_sha256
    from hamn_tui.audit.canon import canonical, parse_line

    spool = second_user.spool
    cluster = sshd.cluster_toml(tmp_path / "cluster.toml")
    with open(cluster, "a") as fh:
        fh.write(f'\n[approval]\napprovers = "{world.approvers_file}"\nspool = "{spool}"\nttl_s = 30\n')
    book = tmp_path / "four-eyes.toml"
    book.write_text(textwrap.dedent(BOOK_WITH_GATE).replace("TMP", str(tmp_path)))
    (tmp_path / "locks").mkdir()
    (tmp_path / "gate").touch()
    env = {"TERM": "xterm-256color", "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    hamn_a = ["env", "-u", "SSH_AUTH_SOCK", "-u", "HAMN_CLUSTER", *(f"{k}={v}" for k, v in env.items()), sys.executable, "-m", "hamn_tui"]
    store = Spool(spool, create=False)
    t = Screens()
    codes: list[str] = []

    def waiting():  # type: ignore[no-untyped-def]
        t.wait_for("a", "WAITING FOR A SECOND OPERATOR")
        codes.append(t.code("a", not_=tuple(codes)))
        return next(r for r in store.pending()[0] if r.code == codes[-1])

    def put(req, statement: bytes, signature: str) -> None:  # type: ignore[no-untyped-def]
        store.put_answer(req.id, "approval", statement, signature)

    def refused(text: str, timeout: float = 30.0) -> None:
        """The reason is one line; the decision bar wraps it at 80 columns, so the screen is read with its lines joined."""
        want = f"APPROVAL REFUSED: {text}"
        end = time.monotonic() + timeout
        while want not in " ".join(x.strip() for x in t.screen("a").splitlines()) and time.monotonic() < end:
            time.sleep(0.05)
        assert want in " ".join(x.strip() for x in t.screen("a").splitlines()), t.screen("a")
        assert not (tmp_path / "forced").exists()
        t.run("send-keys", "-t", "a", "t")  # a new request

    def b_approves(code: str) -> None:
        t.run("kill-session", "-t", "b", check=False)
        t.start("b", [*second_user.hamn, "approve", "--spool", str(spool), "--key", str(second_user.key), "--principal", "dave",
                      "--code", code])
        assert "EXIT=0" in t.wait_for("b", "EXIT="), t.screen("b")

    try:
        t.start("a", [*hamn_a, "run", str(book), "--cluster", str(cluster), "--audit-dir", str(tmp_path / "runs"), "--lock-dir",
                      str(tmp_path / "locks"), "--key", str(world.alice)], ROOT)
        t.wait_for("a", "Nothing has run")
        t.run("send-keys", "-t", "a", "r")
        t.wait_for("a", "Type exactly")
        t.run("send-keys", "-t", "a", "FORCE", "Enter")

        first = waiting()  # wrong namespace: B's key, signed for the audit log's namespace
        statement = statement_bytes(first, "approve", "dave")
        r = subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-n", "hamn-audit-v1", "-f", str(second_user.key)],
                           input=signed_message(first.raw, statement), capture_output=True, check=True)
        kept = sign_answer(first, "approve", "dave", key_file=second_user.key, env={})  # B's genuine answer to it, kept for later
        put(first, statement, r.stdout.decode())
        refused("refused: bad approval signature: signature namespace is 'hamn-audit-v1'")

        req = waiting()  # a stranger's key: carol is no approver
        carol = statement_bytes(req, "approve", "carol")
        put(req, carol, ssh_keygen_sign(signed_message(req.raw, carol), world.carol, {}))
        refused("refused: approver carol")

        req = waiting()  # the request edited in the spool (another command), and B signs what they are shown
        data = parse_line(req.raw)
        data["command"] = {"text": "rm -rf /var/lib/db2", "sha256": command_sha256("rm -rf /var/lib/db2")}
        store.request_path(req.id).write_bytes(canonical(data) + b"\n")
        edited = store.load(req.id)
        assert edited.code != codes[-1]  # B's screen would show another code than A's
        b_approves(edited.code)
        refused("refused: the answer was signed for another request, or the request file was changed")

        req = waiting()  # B's earlier approval (of the first request) replayed for this one
        put(req, kept.raw, kept.signature)
        refused("refused: the answer was signed for another request")

        req = waiting()  # the gate's reading changed after the request was made
        (tmp_path / "gate").unlink()
        b_approves(codes[-1])
        refused("refused: the gates changed since the request")
        (tmp_path / "gate").touch()

        waiting()  # nobody answers within the request's 30 s
        refused("expired: no answer before the request expired", timeout=60)

        b_approves(waiting().code)  # at last B approves, as themselves: the step runs
        t.wait_for("a", "Run done", timeout=60)
        assert (tmp_path / "forced").read_text() == "forced\n"
    finally:
        t.close()
    records = [json.loads(x) for seg in sorted((tmp_path / "runs").glob("*/audit-*.jsonl")) for x in seg.read_bytes().splitlines()]
    verdicts = [r["data"]["verdict"] for r in records if r["type"] == "approval_decided"]
    assert verdicts == ["refused"] * 5 + ["expired", "approved"], verdicts
    assert all("\n" not in r["data"]["reason"] for r in records if r["type"] == "approval_decided")
