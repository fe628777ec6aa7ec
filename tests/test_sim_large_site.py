"""The large-site training scenario: 256 service nodes, and the shipped unplanned failover's
xcatd restart fanning out to every one of them, with the simulator's faults making some fail
(a node powered off, xcatd that no longer starts) and some unknown (a wedged xcatd whose stop
outlasts the step's timeout). The per-node counts come from the one fold of the run's events,
so the live run and a review of its records count the same."""
from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

import pytest

from hamn_tui.app.targets import TrainingTarget
from hamn_tui.engine.operator import AutoOperator
from hamn_tui.record.codec import encode
from hamn_tui.record.events import CommandFinished, CommandSent, QuestionAsked, StepFinished
from hamn_tui.record.fold import RunFold, node_outcome
from hamn_tui.record.questions import Answer, Question
from hamn_tui.sim.scenario import load_scenario
from hamn_tui.sim.site import MAX_SERVICE_NODES, grown
from hamn_tui.sim.training import CLUSTER_FILE, Training
from hamn_tui.cluster.loader import load_cluster
from hamn_tui.inputs.problems import InputError
from hamn_tui.runbook.loader import load_runbook

from .conftest import REPO
from .sim_support import run

STEP = "restart-xcatd-service-nodes"
OFF = {"sn17", "sn203"}
WONT_START = {"sn42", "sn88", "sn150"}
WEDGED = {"sn64", "sn230"}
ANSWERS = dict(yes=True, confirms={"takeover-pwo": "XCATDB"}, attests={"attest-fenced", "keep-fenced"})


@dataclass
class Decides(AutoOperator):
    """The headless answers, and at the fan-out step what an operator at the console decides:
    the unknown restarts happened (the re-probe shows xcatd running), then skip the failed ones."""

    asked: list[Question] = field(default_factory=list)

    async def ask(self, q: Question) -> Answer:
        if q.step_id == STEP:
            self.asked.append(q)
        if q.step_id == STEP and q.kind == "unknown":
            return Answer("done", reason="the re-probe shows xcatd running on sn64 and sn230")
        if q.step_id == STEP and q.kind == "failed":
            return Answer("skip", reason="sn17 and sn203 are off; sn42, sn88 and sn150 ticketed")
        return await super().ask(q)


def _failover(t: Training):
    rb = load_runbook(REPO / "runbooks" / "failover-unplanned.toml", t.cluster)
    target = TrainingTarget(t)
    events: list = []
    operator = Decides(**ANSWERS)
    runner = target.runner(rb, target.context(rb), operator, run_id="large-site", subscribers=[events.append])
    return asyncio.run(runner.run()), events, operator.asked


@pytest.fixture(scope="module")
def failover():
    t = Training("large-site")
    outcome, events, asked = _failover(t)
    return t, outcome, events, asked


def test_the_site_has_256_service_nodes_in_the_group():
    t = Training("large-site")
    group = t.cluster.groups["service_nodes"]
    assert group == [f"sn{i}" for i in range(1, 257)]
    assert set(group) <= set(t.cluster.nodes) and len(t.cluster.nodes) == 258
    assert len({n.address for n in t.cluster.nodes.values()}) == 258  # every node its own address
    base = load_cluster(CLUSTER_FILE)
    assert t.cluster.nodes["sn1"] == base.nodes["sn1"] and t.cluster.nodes["mn1"] == base.nodes["mn1"]
    sim = t.sim
    assert not sim.nodes["sn17"].up and sim.nodes["sn18"].up
    assert all(sim.nodes[n].services["xcatd"].running for n in group if n not in OFF)


def test_a_site_size_beyond_the_address_pools_is_refused(tmp_path):
    with pytest.raises(ValueError, match="service_nodes must be"):
        grown(load_cluster(CLUSTER_FILE), MAX_SERVICE_NODES + 1)
    bad = tmp_path / "big.toml"
    bad.write_text(f'[scenario]\ntitle = "t"\nsummary = "s"\nstory = "s"\n\n[site]\nservice_nodes = {MAX_SERVICE_NODES + 1}\n')
    with pytest.raises(InputError) as exc:
        load_scenario(str(bad), ["mn1", "mn2", "sn1", "sn2"])
    assert str(exc.value.problems[0]) == f"{bad}:7:1: site.service_nodes: input should be less than or equal to 510, got 511"
    # a fault may name a node the site adds, and only those
    ok = tmp_path / "ok.toml"
    ok.write_text('[scenario]\ntitle = "t"\nsummary = "s"\nstory = "s"\n\n[site]\nservice_nodes = 40\n\n'
                  '[[faults]]\naction = "crash_node"\nnode = "sn40"\nat_s = 0\n\n'
                  '[[faults]]\naction = "crash_node"\nnode = "sn41"\nat_s = 0\n')
    with pytest.raises(InputError) as exc:
        load_scenario(str(ok), ["mn1", "mn2", "sn1", "sn2"])
    (problem,) = exc.value.problems
    assert str(problem).split(": ", 1)[1].startswith('faults[1].node: unknown node "sn41"')


def test_every_service_node_gets_its_restart_and_the_counts_are_right(failover):
    t, outcome, events, _ = failover
    assert outcome == "done"
    sent = Counter(e.node for e in events if isinstance(e, CommandSent) and e.step_id == STEP)
    assert set(sent) == set(t.cluster.groups["service_nodes"]) and set(sent.values()) == {1}  # each once, no retry
    ran = {n for n, _, c in t.transport.sent if c == "service xcatd restart"}
    assert ran == set(t.cluster.groups["service_nodes"]) - OFF  # the powered-off ones cannot be reached
    fold = RunFold()
    for e in events:
        fold.apply(e)
    tally = fold.steps[STEP].tally()
    assert (tally.total, tally.done, tally.failed, tally.unknown, tally.running, tally.waiting) == (256, 249, 5, 2, 0, 0)
    assert set(tally.failed_nodes) == OFF | WONT_START and set(tally.unknown_nodes) == WEDGED
    by_node = {e.node: node_outcome(e.ending, e.exit_status) for e in events if isinstance(e, CommandFinished) and e.step_id == STEP}
    assert Counter(by_node.values()) == Counter(done=249, failed=5, unknown=2)


def test_the_unknown_question_names_the_failed_nodes_and_done_does_not_hide_them(failover):
    _, _, events, questions = failover
    asked = [e.kind for e in events if isinstance(e, QuestionAsked) and e.step_id == STEP]
    assert asked == ["confirm", "unknown", "failed"]  # deciding the wedged ones done leaves the five failures to decide
    unknown, failed = questions[1:]
    assert unknown.detail.startswith("timeout on sn64, sn230: ")
    assert "and it failed on 5 nodes: " in unknown.detail and all(f"{n}: " in unknown.detail for n in OFF | WONT_START)
    assert {c.node for c in unknown.checks} == {f"sn{i}" for i in range(1, 257)}  # re-probed on every node
    assert all(f"{n}: " in failed.detail for n in OFF | WONT_START) and not any(f"{n}: " in failed.detail for n in WEDGED)
    (finished,) = [e for e in events if isinstance(e, StepFinished) and e.step_id == STEP]
    assert finished.outcome == "skipped" and "ticketed" in finished.reason


def test_a_review_of_the_records_counts_the_same(failover):
    _, _, events, _ = failover
    live, review = RunFold(), RunFold()
    for e in events:
        live.apply(e)
        if type(e).__name__ != "OutputChunk":
            kind, data = encode(e)
            review.apply_record({"type": kind, "data": data})
    assert review.steps[STEP].tally() == live.steps[STEP].tally()


def test_the_failover_on_the_large_site_also_runs_with_the_stock_headless_answers():
    """`hamn run failover-unplanned --training large-site --headless … --answer STEP=skip:…` ends done."""
    r = run("large-site", "failover-unplanned", **ANSWERS, answers={STEP: ("skip", "checked by hand")})
    assert r.outcome == "done"
    assert r.steps[STEP] == "skipped"
    assert len(r.commands(STEP)) == 256
