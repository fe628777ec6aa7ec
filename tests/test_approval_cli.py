"""`hamn approve` as a second operator would run it: a real process, real ssh-keygen keys, a
real ssh-agent of their own, and (as root) a second OS user with their own key."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hamn_tui.audit.approval.check import check_spool
from hamn_tui.audit.approval.spool import Spool

from .approval_support import COMMAND, GATES, SecondUser, World, make_world, second_user  # noqa: F401
from .test_audit_support import hermetic  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def world(tmp_path: Path, hermetic) -> World:  # noqa: F811
    return make_world(tmp_path)


def hamn_approve(world: World, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
    base.update(XDG_STATE_HOME=str(world.tmp / "state-approver"), XDG_CONFIG_HOME=str(world.tmp / "config-approver"))
    base.update(env or {})
    return subprocess.run([sys.executable, "-m", "hamn_tui", "approve", *args], capture_output=True, text=True,
                          env=base, cwd=ROOT, timeout=60, stdin=subprocess.DEVNULL)


def check(world: World, spool: Spool, request):
    return check_spool(spool, request, approvers=world.approvers, nonces=world.nonces, command=COMMAND, gates=GATES,
                       head=world.heads[3], run_dir=world.run_dir)


def test_approve_shows_the_facts_and_signs_with_a_key_file(world: World):
    spool = Spool(world.tmp / "spool")
    request = world.request()
    spool.put_request(request)
    assert check(world, spool, request).reason == "no answer yet"
    r = hamn_approve(world, "--spool", str(spool.dir), "--key", str(world.bob), "--principal", "bob", "--code", request.code)
    assert r.returncode == 0, r.stderr
    assert f"CODE {request.code}" in r.stdout and COMMAND in r.stdout and "mn2  as db2inst1" in r.stdout
    assert "pass  standby-peer — PEER/CONNECTED" in r.stdout
    assert f"approved: request {request.id}" in r.stdout
    v = check(world, spool, request)
    assert v.ok and v.approver == "bob", v.reason


def test_a_wrong_code_signs_nothing(world: World):
    spool = Spool(world.tmp / "spool")
    request = world.request()
    spool.put_request(request)
    wrong = "000 000" if request.code != "000 000" else "000 001"
    r = hamn_approve(world, "--spool", str(spool.dir), "--key", str(world.bob), "--principal", "bob", "--code", wrong)
    assert r.returncode == 1
    assert r.stderr.strip().endswith("the code does not match: you are not looking at the same request; nothing signed")
    assert spool.answered(request.id) == ""


def test_reject_signs_a_rejection_that_ends_the_request(world: World):
    spool = Spool(world.tmp / "spool")
    request = world.request()
    spool.put_request(request)
    r = hamn_approve(world, request.id, "--spool", str(spool.dir), "--key", str(world.bob), "--principal", "bob",
                     "--code", request.code.replace(" ", ""), "--reject", "--reason", "standby not in PEER")
    assert r.returncode == 0, r.stderr
    v = check(world, spool, request)
    assert v.rejected and v.reason == "rejected by bob: standby not in PEER"
    again = hamn_approve(world, "--spool", str(spool.dir), "--list")
    assert again.returncode == 3 and again.stdout.strip() == "no pending requests"


def test_bad_input_is_one_line_and_exit_2(world: World, tmp_path: Path):
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    r = hamn_approve(world, "--spool", str(tmp_path / "link"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not a symlink" in r.stderr
    spool = Spool(world.tmp / "spool")
    request = world.request()
    spool.put_request(request)
    r = hamn_approve(world, "--spool", str(spool.dir), "--key", str(tmp_path / "nokey"), "--principal", "bob", "--code", request.code)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "ssh-keygen -Y sign failed" in r.stderr
    r = hamn_approve(world, "ffffffffffffffff", "--spool", str(spool.dir))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "request ffffffffffffffff" in r.stderr


@pytest.fixture
def bobs_agent(world: World):
    """bob's own ssh-agent (a process of this test), holding bob's key."""
    if shutil.which("ssh-agent") is None or shutil.which("ssh-add") is None:
        pytest.skip("ssh-agent/ssh-add are not installed (package openssh-client)")
    sock = world.tmp / "bob-agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.05)
        subprocess.run(["ssh-add", "-q", str(world.bob)], env={**os.environ, "SSH_AUTH_SOCK": str(sock)}, check=True,
                       capture_output=True)
        yield sock
    finally:
        agent.terminate()
        agent.wait(5)


def test_approve_signs_with_the_approvers_own_agent_never_the_requesters(world: World, bobs_agent: Path):
    spool = Spool(world.tmp / "spool")
    theirs = world.request(agent_socket=str(bobs_agent))  # as if this agent were the requester's
    spool.put_request(theirs)
    r = hamn_approve(world, theirs.id, "--spool", str(spool.dir), "--principal", "bob", "--code", theirs.code,
                     env={"SSH_AUTH_SOCK": str(bobs_agent)})
    assert r.returncode == 1 and "is the requester's agent" in r.stderr and spool.answered(theirs.id) == ""
    mine = world.request()
    spool.put_request(mine)
    r = hamn_approve(world, mine.id, "--spool", str(spool.dir), "--principal", "bob", "--code", mine.code,
                     env={"SSH_AUTH_SOCK": str(bobs_agent)})
    assert r.returncode == 0, r.stderr
    v = check(world, spool, mine)
    assert v.ok and v.approver == "bob", v.reason


def test_a_second_os_user_approves_from_their_own_login(world: World, second_user: SecondUser):
    """The requester is root; the approver is another OS user with a key only they can read,
    running `hamn approve` under their own uid, in a group spool (2770, files 0640)."""
    spool = Spool(second_user.spool)
    request = world.request()
    path = spool.put_request(request)
    assert (path.stat().st_mode & 0o777) == 0o640
    r = subprocess.run([*second_user.hamn, "approve", "--spool", str(second_user.spool), "--key", str(second_user.key),
                        "--principal", "dave", "--code", request.code], capture_output=True, text=True, timeout=60, cwd="/")
    assert r.returncode == 0, r.stderr
    sig = spool.answer_paths(request.id, "approval")[1]
    assert sig.stat().st_uid == second_user.uid  # written by the approver's own process
    v = check(world, spool, request)
    assert v.ok and v.approver == "dave", v.reason


def test_the_requesters_agent_keys_are_recorded_and_refused(world: World, bobs_agent: Path, monkeypatch):
    """If the requester's own agent holds bob's key, that key cannot approve their request,
    whoever uses it."""
    from hamn_tui.audit.approval.answer import NotYours, sign_answer
    from hamn_tui.audit.approval.request import make_request, requester_for
    from hamn_tui.audit.keys import load_key_file

    from .approval_support import fingerprint

    monkeypatch.setenv("SSH_AUTH_SOCK", str(bobs_agent))
    requester = requester_for(load_key_file(world.alice, "operator", "alice"))
    assert requester.agent_socket == str(bobs_agent) and requester.agent_keys == (fingerprint(world.bob),)
    assert requester.key_fingerprint == fingerprint(world.alice)
    request = make_request(head=world.heads[1], step_id="s", command=COMMAND, node="mn2", run_as="db2inst1", gates=GATES,
                           requester=requester)
    with pytest.raises(NotYours, match="is the requester's agent"):
        sign_answer(request, "approve", "bob")
    with pytest.raises(NotYours, match="is the requester's"):
        sign_answer(request, "approve", "bob", key_file=world.bob)


def test_a_request_file_carried_off_the_console_answered_into_a_file_and_its_bad_inputs(world: World, tmp_path: Path):
    """`hamn approve --request FILE --out ANSWER`: the answer file the first operator gives `hamn run
    --approval`; every bad input is one line (exit 2) and writes nothing."""
    from hamn_tui.audit.approval.answer import parse_bundle
    from hamn_tui.audit.approval.check import check_answer

    request = world.request()
    carried = tmp_path / "carried.request.json"
    carried.write_bytes(request.raw + b"\n")
    out = tmp_path / "answer"
    r = hamn_approve(world, "--request", str(carried), "--out", str(out), "--key", str(world.bob), "--principal", "bob",
                     "--code", request.code)
    assert r.returncode == 0, r.stdout + r.stderr
    statement, signature = parse_bundle(out.read_bytes(), str(out))
    v = check_answer(request, statement, signature, approvers=world.approvers, nonces=world.nonces, command=COMMAND, gates=GATES,
                     head=world.heads[3], run_dir=world.run_dir)
    assert v.ok and v.approver == "bob", v

    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"\x00\xff" * 1000)
    edited = tmp_path / "edited"
    edited.write_bytes(request.raw.replace(COMMAND.encode(), b"rm -rf /") + b"\n")  # the command's hash no longer matches
    link = tmp_path / "link"
    link.symlink_to(carried)
    cases = [
        (["--request", str(garbage), "--out", str(tmp_path / "a1")], "--request"),
        (["--request", str(edited), "--out", str(tmp_path / "a2")], "command.sha256"),
        (["--request", str(link), "--out", str(tmp_path / "a3")], "--request"),
        (["--request", str(tmp_path / "missing"), "--out", str(tmp_path / "a4")], "--request"),
        (["--request", str(carried)], "go together"),
        (["--out", str(tmp_path / "a5")], "go together"),
        (["--request", str(carried), "--out", str(out)], "never overwritten"),
    ]
    for args, says in cases:
        r = hamn_approve(world, *args, "--key", str(world.bob), "--principal", "bob", "--code", request.code)
        assert r.returncode == 2 and says in r.stderr and len(r.stderr.strip().splitlines()) == 1, (args, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr
    assert not any((tmp_path / f"a{n}").exists() for n in range(1, 6))  # nothing written
