"""Four eyes in a real run (issue 15): `approval = "second-operator"` on a step makes the engine
write a request to the spool and wait; the second operator's `hamn approve` (their own key) lets
the command run; `--approval STEP=FILE` takes an answer made elsewhere; self-approval, an
expired request, gates that changed and a rejection are refused with one line, and the log
names both people. Headless `hamn run` over a real loopback sshd (the cluster lock), real
ssh-keygen keys, the real spool."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from hamn_tui.audit.allowed import AllowedSigners
from hamn_tui.audit.approval.answer import sign_answer, signed_message, ssh_keygen_sign, statement_bytes
from hamn_tui.audit.approval.check import NonceStore
from hamn_tui.audit.approval.request import LogHead, Requester
from hamn_tui.audit.approval.spool import Spool
from hamn_tui.app.approvals import SpoolDesk
from hamn_tui.engine.operator import ScriptedOperator
from hamn_tui.engine.runner import Runner
from hamn_tui.record.events import ApprovalDecided, ApprovalRequested, QuestionWithdrawn
from hamn_tui.record.questions import Answer
from hamn_tui.runbook.context import RunContext
from hamn_tui.runbook.loader import load_runbook
from hamn_tui.transport.local import LocalTransport

from .approval_support import keygen, pub_line
from .test_audit_support import hermetic  # noqa: F401
from .test_witness_run import HEAD
from .test_witness_ssh import HAMN, witness_host  # noqa: F401

BOOK = HEAD.replace("{id}", "four-eyes") + """
[[steps]]
id = "look"
title = "look around"
run = "echo looked"
mutating = false

[[steps]]
id = "force"
title = "the step that can lose data"
run = "echo forced >> TMP/forced"
irreversible = true
confirm = "typed"
confirm_text = "FORCE"
approval = "second-operator"
[[steps.require]]
node = "local"
probe = "command"
args = { run = "test -e TMP/gate" }
field = "exit_status"
equals = 0
why = "the gate the second operator sees"
"""


@dataclass
class Four:
    tmp: Path
    cluster: Path
    book: Path
    alice: Path
    bob: Path
    spool: Path
    env: dict[str, str]

    def run(self, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(HAMN), "run", str(self.book), "--headless", "--cluster", str(self.cluster), "--audit-dir",
                               str(self.tmp / "runs"), "--lock-dir", str(self.tmp / "locks"), "--key", str(self.alice),
                               "--confirm", "force=FORCE", *extra], capture_output=True, text=True, timeout=120, env=self.env)

    def approve(self, key: Path, principal: str, *extra: str) -> subprocess.CompletedProcess[str]:
        req = self.pending()
        return subprocess.run([str(HAMN), "approve", req["id"], "--spool", str(self.spool), "--key", str(key), "--principal",
                               principal, "--code", code_of(self.spool, req["id"]), *extra],
                              capture_output=True, text=True, timeout=60, env=self.env)

    def pending(self) -> dict:
        [path] = sorted(self.spool.glob("*.request.json"), key=os.path.getmtime)[-1:]
        return json.loads(path.read_text())

    def records(self) -> list[dict]:
        return [json.loads(line) for seg in sorted((self.tmp / "runs").glob("*/audit-*.jsonl")) for line in seg.read_bytes().splitlines()]


def code_of(spool: Path, rid: str) -> str:
    return Spool(spool, create=False).load(rid).code


@pytest.fixture
def four(tmp_path, witness_host) -> Four:  # noqa: F811
    lab = witness_host[0]
    keys = tmp_path / "keys"
    alice, bob = keygen(keys, "alice"), keygen(keys, "bob")
    approvers = tmp_path / "approvers"
    approvers.write_text(f'alice namespaces="hamn-approval@v1" {pub_line(alice)}\nbob namespaces="hamn-approval@v1" {pub_line(bob)}\n')
    spool = tmp_path / "spool"
    cluster = lab.cluster_toml(tmp_path / "cluster.toml")
    with open(cluster, "a") as fh:
        fh.write(f'\n[approval]\napprovers = "{approvers}"\nspool = "{spool}"\n')
    book = tmp_path / "four-eyes.toml"
    book.write_text(textwrap.dedent(BOOK).replace("TMP", str(tmp_path)))
    (tmp_path / "locks").mkdir()
    (tmp_path / "gate").touch()
    Spool(spool)  # made by the administrator (0700): `hamn approve --spool` does not make one
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    env.pop("SSH_AUTH_SOCK", None)
    return Four(tmp_path, cluster, book, alice, bob, spool, env)


def test_a_second_operator_approves_from_the_spool_and_the_command_runs(four):
    first = four.run()
    assert first.returncode == 4, first.stdout + first.stderr  # waiting: nothing ran
    assert not (four.tmp / "forced").exists()
    req = four.pending()
    code = code_of(four.spool, req["id"])
    assert f"waiting for a second operator — code {code}" in first.stdout
    assert "hamn approve" in first.stdout + first.stderr and "--approval force=" in first.stdout + first.stderr
    assert req["command"]["text"] == f"echo forced >> {four.tmp}/forced" and req["step_id"] == "force"
    assert [g["verdict"] for g in req["gates"]] == ["pass"]

    a = four.approve(four.bob, "bob")
    assert a.returncode == 0, a.stdout + a.stderr
    second = four.run("--resume")
    assert second.returncode == 0, second.stdout + second.stderr
    assert (four.tmp / "forced").read_text() == "forced\n"
    assert "approval approved by bob" in second.stdout

    recs = four.records()
    asked = [r["data"] for r in recs if r["type"] == "approval_requested"]
    decided = [r["data"] for r in recs if r["type"] == "approval_decided"]
    assert len(asked) == 1 and asked[0]["request_id"] == req["id"] and json.loads(asked[0]["request"]) == req
    assert [(d["verdict"], d["approver"]) for d in decided] == [("approved", "bob")]
    assert "-----BEGIN SSH SIGNATURE-----" in decided[0]["signature"] and json.loads(decided[0]["statement"])["verdict"] == "approve"
    sent = [i for i, r in enumerate(recs) if r["type"] == "command_sent" and r["data"]["step_id"] == "force"]
    assert sent and sent[0] > next(i for i, r in enumerate(recs) if r["type"] == "approval_decided")  # approved, then run

    run_dir = next((four.tmp / "runs").iterdir())
    show = subprocess.run([str(HAMN), "audit", "show", str(run_dir)], capture_output=True, text=True, env={**four.env, "COLUMNS": "400"})
    assert show.returncode == 0, show.stdout + show.stderr
    requester = req["requester"]["principal"]
    assert f"requested by {requester}" in show.stdout and "approved by bob" in show.stdout  # both people
    verify = subprocess.run([str(HAMN), "audit", "verify", str(run_dir)], capture_output=True, text=True, env=four.env)
    assert verify.returncode == 0 and "four eyes: " in verify.stdout and "approved by bob" in verify.stdout, verify.stdout


def test_an_answer_made_elsewhere_is_taken_with_approval_file(four):
    assert four.run().returncode == 4
    req = four.pending()
    carried = four.tmp / "carried.request.json"  # copied off the console to the approver's machine
    carried.write_bytes(Spool(four.spool, create=False).request_path(req["id"]).read_bytes())
    answer = four.tmp / "answer.txt"
    a = subprocess.run([str(HAMN), "approve", "--request", str(carried), "--out", str(answer), "--key", str(four.bob), "--principal",
                        "bob", "--code", code_of(four.spool, req["id"])], capture_output=True, text=True, env=four.env)
    assert a.returncode == 0, a.stdout + a.stderr
    again = subprocess.run([str(HAMN), "approve", "--request", str(carried), "--out", str(answer), "--key", str(four.bob),
                            "--principal", "bob", "--code", code_of(four.spool, req["id"])], capture_output=True, text=True, env=four.env)
    assert again.returncode == 2 and "never overwritten" in again.stderr
    r = four.run("--resume", "--approval", f"force={answer}")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (four.tmp / "forced").exists() and "approval approved by bob" in r.stdout


def test_self_approval_is_refused_in_one_line_and_a_rejection_ends_the_request(four):
    assert four.run().returncode == 4
    own = four.approve(four.alice, "alice")  # alice is an approver, but this is her own request (her key)
    assert own.returncode == 1 and "requester" in own.stderr  # hamn approve itself refuses the requester's key
    # signed anyway (a tampered hamn approve): the run refuses it, one line, and nothing runs
    req = Spool(four.spool, create=False).load(four.pending()["id"])
    statement = statement_bytes(req, "approve", "alice")
    forged = ssh_keygen_sign(signed_message(req.raw, statement), four.alice, {})
    Spool(four.spool, create=False).put_answer(req.id, "approval", statement, forged)
    r = four.run("--resume")
    assert r.returncode == 4, r.stdout + r.stderr
    assert not (four.tmp / "forced").exists()
    refused = [rec["data"] for rec in four.records() if rec["type"] == "approval_decided"]
    assert refused[-1]["verdict"] == "refused" and "self-approval refused" in refused[-1]["reason"] and "\n" not in refused[-1]["reason"]
    assert "--answer force=retry" in r.stdout + r.stderr

    r = four.run("--resume", "--answer", "force=retry")  # a new request
    assert r.returncode == 4, r.stdout + r.stderr
    rej = four.approve(four.bob, "bob", "--reject", "--reason", "the old primary still answers")
    assert rej.returncode == 0, rej.stdout + rej.stderr
    r = four.run("--resume")
    assert r.returncode == 4 and not (four.tmp / "forced").exists()
    last = [rec["data"] for rec in four.records() if rec["type"] == "approval_decided"][-1]
    assert last["verdict"] == "rejected" and last["approver"] == "bob" and "the old primary still answers" in last["reason"]


def test_a_step_that_needs_approval_without_approvers_fails_before_running(four):
    text = four.cluster.read_text()
    four.cluster.write_text(text[: text.index("[approval]")])
    r = four.run("--answer", "force=abort")
    assert r.returncode == 3, r.stdout + r.stderr
    [ended] = [rec["data"] for rec in four.records() if rec["type"] == "step_finished" and rec["data"]["step_id"] == "force"]
    assert ended["outcome"] == "failed" and "has no approvers" in ended["reason"] and not (four.tmp / "forced").exists()
    assert not any(rec["type"] == "command_sent" and rec["data"]["step_id"] == "force" for rec in four.records())


# --- in one process: what a resume cannot show --------------------------------------------------------
def _runner(tmp: Path, desk: SpoolDesk, operator, events: list) -> Runner:
    rb = load_runbook_text(tmp, textwrap.dedent(BOOK).replace("TMP", str(tmp)))
    ctx = RunContext({}, None, {})
    from hamn_tui.probes.registry import cluster_probes

    transport = LocalTransport()
    return Runner(rb, ctx, transport, cluster_probes(transport, None, ctx), operator, run_id="r1", subscribers=[events.append],
                  second_operator=desk)


def load_runbook_text(tmp: Path, text: str):
    p = tmp / "four-eyes.toml"
    p.write_text(text)
    return load_runbook(p)


def _desk(tmp: Path, bob: Path, ttl_s: int = 600) -> SpoolDesk:
    spool = Spool(tmp / "spool")
    (tmp / "approvers").write_text(f'bob namespaces="hamn-approval@v1" {pub_line(bob)}\n')
    run_dir = tmp / "run"
    run_dir.mkdir()
    (run_dir / "audit-000.jsonl").write_bytes(b'{"x":1}\n')
    import hashlib

    head = LogHead("r1", "audit-000.jsonl", hashlib.sha256(b'{"x":1}').hexdigest())
    return SpoolDesk(spool, AllowedSigners.read(tmp / "approvers"), NonceStore(tmp / "nonces"),
                     Requester("alice", "alice@console", "SHA256:alice-key"), lambda: head, run_dir, ttl_s)


def _confirm(q):
    if q.kind == "typed":
        return Answer("run", text="FORCE")
    return Answer("abort")


class Patient(ScriptedOperator):
    """A person looking at "waiting for a second operator" who does not press anything."""

    async def ask(self, q):
        if q.kind == "approval":
            self.asked.append(q)
            await asyncio.sleep(3600)
        return await super().ask(q)


@pytest.mark.usefixtures("hermetic")
def test_gates_that_changed_since_the_request_refuse_the_approval(tmp_path):
    bob = keygen(tmp_path / "keys", "bob")
    (tmp_path / "gate").touch()
    desk = _desk(tmp_path, bob)
    events: list = []
    asked = []

    async def second_operator() -> None:
        while not any(q.kind == "approval" for q in asked):  # the dialog is on the screen
            await asyncio.sleep(0.05)
        (tmp_path / "gate").unlink()  # the situation changed after the request was made
        [rid] = desk.spool.request_ids()
        req = desk.spool.load(rid)
        a = sign_answer(req, "approve", "bob", key_file=bob, env={})
        desk.spool.put_answer(rid, "approval", a.raw, a.signature)

    async def both():
        runner = _runner(tmp_path, desk, Patient(_confirm, asked), events)
        return await asyncio.gather(runner.run(), second_operator())

    outcome, _ = asyncio.run(both())
    assert outcome == "aborted" and not (tmp_path / "forced").exists()
    [decided] = [e for e in events if isinstance(e, ApprovalDecided)]
    assert decided.verdict == "refused" and "the gates changed since the request" in decided.reason and decided.approver == "bob"
    assert [e.reason for e in events if isinstance(e, QuestionWithdrawn) and e.kind == "approval"] == ["the second operator answered"]
    assert [q.kind for q in asked] == ["typed", "approval", "approval_refused"]
    assert asked[1].expected_text == desk.spool.load(decided.request_id).code  # the voice code on screen


@pytest.mark.usefixtures("hermetic")
def test_an_unanswered_request_expires_and_the_operator_may_ask_again(tmp_path):
    bob = keygen(tmp_path / "keys", "bob")
    (tmp_path / "gate").touch()
    desk = _desk(tmp_path, bob, ttl_s=1)
    events: list = []
    refused = []

    def operator(q):
        if q.kind == "approval_refused":
            refused.append(q.detail)
            return Answer("abort")
        return _confirm(q)

    outcome = asyncio.run(_runner(tmp_path, desk, Patient(operator), events).run())
    assert outcome == "aborted"
    [decided] = [e for e in events if isinstance(e, ApprovalDecided)]
    assert decided.verdict == "expired" and refused and refused[0].startswith("expired: no answer before the request expired")
    assert [e.reason for e in events if isinstance(e, QuestionWithdrawn)] == ["the request expired"]  # said as it was
    assert len([e for e in events if isinstance(e, ApprovalRequested)]) == 1 and not (tmp_path / "forced").exists()


def test_bad_approval_files_are_one_line(four):
    assert four.run().returncode == 4
    junk = four.tmp / "junk"
    junk.write_bytes(b"\x00" * 5000)
    r = four.run("--resume", "--approval", f"force={junk}")
    assert r.returncode == 4 and not (four.tmp / "forced").exists(), r.stdout + r.stderr
    last = [rec["data"] for rec in four.records() if rec["type"] == "approval_decided"][-1]
    assert last["verdict"] == "refused" and "not an answer file" in last["reason"] and "\n" not in last["reason"]
    for args, says in ((["--approval", f"force={four.tmp / 'missing'}"], "no such file"),
                       (["--approval", f"forse={junk}"], "has no step 'forse'"),
                       (["--approval", "force"], "--approval")):
        r = four.run("--resume", *args)
        assert r.returncode == 2 and says in r.stderr and "Traceback" not in r.stderr, (args, r.stdout, r.stderr)
