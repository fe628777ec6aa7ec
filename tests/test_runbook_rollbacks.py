"""Rollbacks that undo: each restores the state captured before its step, and a step that
changed nothing has nothing to roll back.

On the simulator: run a shipped runbook up to a point, roll back, and compare the node with
what it was before. db2start answering SQL1026N (the instance was already running) must not be
answered by db2stop; the AIX host-name takeover (mktcpip replaces the interface's address) must
put back the interface's own address and the host name read before, never the management
address hamn reaches the node at.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from hamn_tui.app.targets import TrainingTarget
from hamn_tui.engine.operator import AutoOperator, NoAnswer
from hamn_tui.record.events import CommandSent, Event, RollbackFinished
from hamn_tui.record.questions import Answer, Question
from hamn_tui.runbook.loader import load_runbook
from hamn_tui.sim.training import Training

from .conftest import REPO
from .sim_support import sh


@dataclass
class StopAt(AutoOperator):
    """AutoOperator's answers, except that the run waits at `stop_at` (as a person who walks away)."""

    stop_at: str = ""

    async def ask(self, q: Question) -> Answer:
        if q.step_id == self.stop_at:
            raise NoAnswer(q, "the test rolls back here")
        return await super().ask(q)


@dataclass
class RolledBack:
    outcome: str
    plan: list[tuple[str, str]]
    report: list[tuple[str, bool]]
    events: list[Event] = field(default_factory=list)

    def rollback_commands(self) -> list[tuple[str, str, str]]:
        return [(e.step_id, e.node, e.command) for e in self.events if isinstance(e, CommandSent) and e.rollback]

    def finished(self, step: str) -> RollbackFinished:
        return next(e for e in self.events if isinstance(e, RollbackFinished) and e.step_id == step)


def run_then_roll_back(t: Training, runbook: str, *, roles: dict[str, str] | None = None, sets: dict[str, Any] | None = None,
                       **answers: Any) -> RolledBack:
    rb = load_runbook(REPO / "runbooks" / f"{runbook}.toml", t.cluster)
    target = TrainingTarget(t)
    events: list[Event] = []
    runner = target.runner(rb, target.context(rb, sets, roles), StopAt(**answers), run_id=f"{runbook}-test", subscribers=[events.append])

    async def go() -> RolledBack:
        outcome = await runner.run()
        plan = runner.rollback_plan()
        return RolledBack(outcome, plan, await runner.rollback(), events)

    return asyncio.run(go())


STANDBY_LOST = dict(yes=True, attests={"bring-standby-node-back"})


def test_db2start_that_found_the_instance_running_is_not_undone_with_db2stop():
    """event-standby-lost: the standby database was deactivated, its instance still runs."""
    t = Training("healthy")
    assert sh(t, "mn2", "db2 deactivate database XCATDB", user="xcatdb")[0] == 0
    r = run_then_roll_back(t, "event-standby-lost", **STANDBY_LOST)
    assert r.outcome == "done"
    assert ("start-instance", "(nothing to undo: when: captured db2start_said is SQL1026N)") in r.plan
    assert r.finished("start-instance").ok and r.finished("start-instance").reason.startswith("nothing to undo")
    assert "db2stop" not in [c for _, _, c in r.rollback_commands()]
    mn2 = t.sim.nodes["mn2"]
    assert mn2.instance_up  # as it was before the run
    assert not mn2.db.active  # start-hadr-standby's rollback: the database is inactive again, as before


def test_db2start_that_started_the_instance_is_undone():
    t = Training("healthy")
    assert sh(t, "mn2", "db2 deactivate database XCATDB && db2stop", user="xcatdb")[0] == 0
    r = run_then_roll_back(t, "event-standby-lost", **STANDBY_LOST)
    assert r.outcome == "done"
    assert ("start-instance", "mn2", "db2stop") in r.rollback_commands()
    assert not t.sim.nodes["mn2"].instance_up  # down, as before the run


HOSTNAME_TAKEOVER = dict(yes=True, confirms={"takeover-pwo": "XCATDB", "stop-hadr": "STOP HADR"},
                         attests={"attest-fenced", "keep-fenced", "aix-ssh-path"}, stop_at="db2gcf-start")


def test_aix_host_name_takeover_rolls_back_to_the_interfaces_own_address_and_name():
    """mn2 has a cluster interface en1 (10.0.0.12) apart from eth0, where hamn reaches it (192.0.2.12)."""
    t = Training("primary-node-crash", platform="aix")
    mn2 = t.sim.nodes["mn2"]
    mn2.addrs["en1"] = ["10.0.0.12/24"]
    mn2.persistent_addrs["en1"] = ["10.0.0.12/24"]
    sets = {"hostname_takeover": "yes", "takeover_interface": "en1", "netmask": "255.255.255.0", "gateway": "10.0.0.1"}
    r = run_then_roll_back(t, "failover-unplanned", sets=sets, **HOSTNAME_TAKEOVER)
    assert r.outcome == "waiting"
    [mktcpip] = [c for s, _, c in r.rollback_commands() if s == "take-hostname"]
    assert mktcpip == "mktcpip -h mn2 -a 10.0.0.12 -m 255.255.255.0 -i en1 -g 10.0.0.1 -t N/A"
    assert mn2.hostname == mn2.persistent_hostname == "mn2"
    assert mn2.addrs["en1"] == mn2.persistent_addrs["en1"] == ["10.0.0.12/24"]
    assert mn2.addrs["eth0"] == ["192.0.2.12/24"]  # the management address stays where it was, once


def test_linux_host_name_takeover_rolls_back_to_the_name_read_before():
    t = Training("primary-node-crash")
    mn2 = t.sim.nodes["mn2"]
    sh(t, "mn2", "hostname mn2-spare")  # the running name differs from the cluster file's
    answers = {**HOSTNAME_TAKEOVER, "attests": {"attest-fenced", "keep-fenced"}}
    r = run_then_roll_back(t, "failover-unplanned", sets={"hostname_takeover": "yes"}, **answers)
    assert r.outcome == "waiting"
    assert mn2.hostname == "mn2-spare"
    assert mn2.addrs["eth0"] == ["192.0.2.12/24"]  # the old primary's address is gone again


def test_a_rollback_when_names_a_value_captured_by_its_step_or_before(validate_text):
    text = '''[runbook]
id = "demo"
title = "Demo"
version = "1"
databases = ["db2"]
summary = "Starts the instance."

[[steps]]
id = "start"
title = "db2start"
node = "standby"
run = "db2start"
capture = [{ name = "said", regex = "(SQL1063N|SQL1026N)" }]
[steps.rollback]
run = "db2stop"
when = { captured = "sayd", equals = "SQL1063N" }
'''
    [m] = validate_text(text).located()
    assert int(m["line"]) == text.splitlines().index('when = { captured = "sayd", equals = "SQL1063N" }') + 1
    assert m["msg"] == 'steps[0].rollback.when.captured: "sayd" is not captured by an earlier step (did you mean "said"?)'
    assert validate_text(text.replace('"sayd"', '"said"')).exit_code == 0
