"""A dangerous step waits for a witness (issue 15): before the command of a step that needs a typed
confirmation or cannot be undone runs, a witness that is not the node the step acts on must have
cosigned the log up to the confirmation. Without one the step waits; only the typed "PROCEED
UNWITNESSED" lets it run, and the run is then marked degraded in verify, show and export.
Headless `hamn run` over a real loopback sshd whose forced command is `hamn witness serve`."""
from __future__ import annotations

import asyncio
import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from hamn_tui.engine.guards import UNWITNESSED_TEXT
from hamn_tui.engine.operator import ScriptedOperator
from hamn_tui.engine.runner import Runner
from hamn_tui.record.events import Note, QuestionWithdrawn, WitnessGate
from hamn_tui.record.fold import RunFold
from hamn_tui.record.questions import Answer
from hamn_tui.runbook.context import RunContext
from hamn_tui.runbook.loader import load_runbook
from hamn_tui.transport.local import LocalTransport

from .test_audit_support import hermetic  # noqa: F401
from .test_witness_run import HEAD
from .test_witness_ssh import HAMN, witness_host  # noqa: F401

BOOK = HEAD + """
[[steps]]
id = "look"
title = "look around"
run = "echo looked"
mutating = false

[[steps]]
id = "force"
title = "the step that cannot be undone"
node = "{node}"
run = "echo forced >> TMP/forced"
irreversible = true
confirm = "typed"
confirm_text = "FORCE"
"""


def setup(tmp: Path, witness_host, rid: str, node: str, hosts: list[str]) -> tuple[Path, Path]:  # noqa: F811
    lab, wdir, target, vkey = witness_host
    keys = tmp / "witness_keys"
    keys.write_text(vkey.vkey + "\n")
    cluster = lab.cluster_toml(tmp / "cluster.toml")
    with open(cluster, "a") as fh:
        fh.write(f"\n[witness]\nnodes = false\nhosts = {json.dumps(hosts)}\nidentity = \"{target.identity}\"\nknown_hosts = \"{lab.known_hosts}\"\n"
                 f'keys = "{keys}"\ntimeout_s = 3\n')
    book = tmp / f"{rid}.toml"
    book.write_text(textwrap.dedent(BOOK).format(id=rid, node=node).replace("TMP", str(tmp)))
    (tmp / "locks").mkdir()
    return cluster, book


def run(tmp: Path, cluster: Path, book: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(HAMN), "run", str(book), "--headless", "--cluster", str(cluster), "--audit-dir", str(tmp / "runs"),
                           "--lock-dir", str(tmp / "locks"), "--confirm", "force=FORCE", *extra],
                          capture_output=True, text=True, timeout=120, env={"COLUMNS": "300", **_env()})


def _env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env.pop("SSH_AUTH_SOCK", None)
    return env


def records(tmp: Path) -> list[dict]:
    return [json.loads(x) for seg in sorted((tmp / "runs").glob("*/audit-*.jsonl")) for x in seg.read_bytes().splitlines()]


@pytest.mark.usefixtures("hermetic")
def test_the_step_runs_once_a_witness_cosigned_its_confirmation(tmp_path, witness_host):  # noqa: F811
    lab = witness_host[0]
    cluster, book = setup(tmp_path, witness_host, "gate-ok", "local", [f"root@127.0.0.1:{lab.port}"])
    r = run(tmp_path, cluster, book)
    assert r.returncode == 0, r.stdout + r.stderr
    recs = records(tmp_path)
    [gate] = [x for x in recs if x["type"] == "witness_gate"]
    confirmed = next(x["seq"] for x in recs if x["type"] == "answered" and x["data"]["step_id"] == "force")
    assert gate["data"]["outcome"] == "cosigned" and gate["data"]["witness"] == f"root@127.0.0.1:{lab.port}"
    assert gate["data"]["records"] > confirmed  # the cosigned checkpoint covers the confirmation
    sent = next(x["seq"] for x in recs if x["type"] == "command_sent" and x["data"]["step_id"] == "force")
    assert sent > gate["seq"] and (tmp_path / "forced").exists()
    v = subprocess.run([str(HAMN), "audit", "verify", str(next((tmp_path / "runs").iterdir()))], capture_output=True, text=True)
    assert v.returncode == 0 and "DEGRADED" not in v.stdout, v.stdout


@pytest.mark.usefixtures("hermetic")
def test_a_witness_on_the_node_the_step_acts_on_does_not_count_and_proceeding_marks_the_run_degraded(tmp_path, witness_host):  # noqa: F811
    lab = witness_host[0]
    # the only witness is at mn2's address and port: the step acts on mn2 (the standby)
    cluster, book = setup(tmp_path, witness_host, "gate-same", "standby", [f"root@127.0.0.1:{lab.port}"])
    r = run(tmp_path, cluster, book)
    assert r.returncode == 4, r.stdout + r.stderr  # waiting: nothing ran
    assert not (tmp_path / "forced").exists()
    assert "--proceed-unwitnessed force" in r.stdout + r.stderr and "the node this step acts on" in r.stdout + r.stderr
    assert not any(x["type"] == "command_sent" and x["data"]["step_id"] == "force" for x in records(tmp_path))

    r = run(tmp_path, cluster, book, "--resume", "--proceed-unwitnessed", "force")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "forced").exists() and "DEGRADED" in r.stdout
    [gate] = [x["data"] for x in records(tmp_path) if x["type"] == "witness_gate"]
    assert gate["outcome"] == "unwitnessed" and gate["reason"] == "--proceed-unwitnessed"

    run_dir = next((tmp_path / "runs").iterdir())
    v = subprocess.run([str(HAMN), "audit", "verify", str(run_dir)], capture_output=True, text=True)
    assert v.returncode == 0 and "DEGRADED: 1 dangerous step ran without a witness's cosignature" in v.stdout, v.stdout
    assert "degraded: audit-001.jsonl: record" in v.stdout and "force ran without a witness's cosignature" in v.stdout
    show = subprocess.run([str(HAMN), "audit", "show", str(run_dir)], capture_output=True, text=True, env={**_env(), "COLUMNS": "300"})
    assert "DEGRADED" in show.stdout, show.stdout
    for fmt in ("html", "md"):
        out = tmp_path / f"report.{fmt}"
        e = subprocess.run([str(HAMN), "audit", "export", str(run_dir), "--format", fmt, "--output", str(out)], capture_output=True, text=True)
        assert e.returncode == 0, e.stdout + e.stderr
        text = out.read_text()
        assert "DEGRADED: 1 dangerous step ran unwitnessed" in text and "force ran without a witness" in text


@pytest.mark.usefixtures("hermetic")
def test_both_witnesses_down_the_step_waits_and_says_why(tmp_path, witness_host):  # noqa: F811
    import socket

    dead = []
    for _ in range(2):  # loopback ports nobody listens on
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        dead.append(s.getsockname()[1])
        s.close()
    cluster, book = setup(tmp_path, witness_host, "gate-down", "local", [f"root@127.0.0.1:{p}" for p in dead])
    r = run(tmp_path, cluster, book)
    assert r.returncode == 4, r.stdout + r.stderr
    assert not (tmp_path / "forced").exists()
    text = r.stdout + r.stderr
    assert all(f"root@127.0.0.1:{p}" in text for p in dead) and "Connection refused" in text


# --- in one process: the typed text, and a witness that answers while the question is open ---------
class FakeWitnesses:
    grace_s = 0.05
    unattended_s = 0.0

    def __init__(self, after_s: float | None):
        self.after_s = after_s
        self.begun = 0

    def begin(self) -> int:
        self.begun += 1
        return 7

    async def cosigned(self, upto, exclude):
        if self.after_s is None:
            await asyncio.sleep(3600)
        await asyncio.sleep(self.after_s)
        return "hamn-witness@sn1"

    def status(self, upto, exclude):
        return "hamn-witness@sn1: unreachable: no route"


def _run(tmp: Path, witnesses, operator) -> tuple[str, list]:
    book = tmp / "gate.toml"
    book.write_text(textwrap.dedent(BOOK).format(id="gate", node="local").replace("TMP", str(tmp)))
    events: list = []
    from hamn_tui.probes.registry import cluster_probes

    ctx = RunContext({}, None, {})
    t = LocalTransport()
    runner = Runner(load_runbook(book), ctx, t, cluster_probes(t, None, ctx), operator, run_id="r", subscribers=[events.append],
                    witnesses=witnesses)
    return asyncio.run(runner.run()), events


class Slow(ScriptedOperator):
    """A person who takes `delay` seconds to answer each unwitnessed question."""

    delay = 0.5

    async def ask(self, q):
        if q.kind != "unwitnessed":
            return await super().ask(q)
        self.asked.append(q)
        await asyncio.sleep(self.delay)
        return self.script(q)  # type: ignore[operator]


def test_proceeding_unwitnessed_needs_the_exact_typed_text(tmp_path):
    answers = iter([Answer("proceed_unwitnessed", text="proceed"), Answer("proceed_unwitnessed", text=UNWITNESSED_TEXT)])

    def operator(q):
        return Answer("run", text="FORCE") if q.kind == "typed" else next(answers)

    outcome, events = _run(tmp_path, FakeWitnesses(None), ScriptedOperator(operator))
    assert outcome == "done" and (tmp_path / "forced").exists()
    assert any(isinstance(e, Note) and "proceeding without a witness needs the typed text" in e.text for e in events)
    [gate] = [e for e in events if isinstance(e, WitnessGate)]
    assert gate.outcome == "unwitnessed" and gate.records == 7
    fold = RunFold()
    for e in events:
        fold.apply(e)
    assert fold.state.degraded and "force ran unwitnessed" in fold.state.degraded[0]


def test_a_cosignature_while_the_question_is_open_withdraws_it(tmp_path):
    asked: list = []
    op = Slow(lambda q: Answer("run", text="FORCE") if q.kind == "typed" else Answer("abort"), asked)
    op.delay = 5.0  # the witness answers (0.3 s) long before the person would
    outcome, events = _run(tmp_path, FakeWitnesses(0.3), op)
    assert outcome == "done" and (tmp_path / "forced").exists()
    assert [q.kind for q in asked] == ["typed", "unwitnessed"]
    assert any(isinstance(e, QuestionWithdrawn) and e.kind == "unwitnessed" for e in events)
    [gate] = [e for e in events if isinstance(e, WitnessGate)]
    assert gate.outcome == "cosigned" and gate.witness == "hamn-witness@sn1"


def test_a_quick_witness_never_shows_a_question(tmp_path):
    asked: list = []
    w = FakeWitnesses(0.0)
    w.grace_s = 1.0
    outcome, events = _run(tmp_path, w, ScriptedOperator(lambda q: Answer("run", text="FORCE"), asked))
    assert outcome == "done" and [q.kind for q in asked] == ["typed"] and w.begun == 1
