"""A node's platform (linux | aix) in the cluster file picks each step's command.

A step may give its command per platform (`run = { linux = "service xcatd stop", aix =
"stopsrc -s xcatd" }`, also a rollback's and a `command` probe's `run`); the node a step runs
on picks one. Validation against a cluster file refuses a table that misses a platform the
cluster's nodes use, with its file:line. On the simulator an AIX node has no `service` or `ip`
(command not found), so a run that sent the Linux command there would fail.
"""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hamn_tui.app.plan import plan
from hamn_tui.app.targets import TrainingTarget
from hamn_tui.engine.operator import AutoOperator
from hamn_tui.record.events import CommandSent, Event, StepFinished
from hamn_tui.runbook.loader import load_runbook
from hamn_tui.sim.training import CLUSTER_FILE, Training

from .conftest import REPO
from .sim_support import run

AIX_MN2 = CLUSTER_FILE.read_text(encoding="utf-8").replace('hostname = "mn2"\n', 'hostname = "mn2"\nplatform = "aix"\n')

RUNBOOK = '''\
[runbook]
id = "demo"
title = "Demo"
version = "1"
databases = ["db2"]
summary = "Stops xcatd on the standby."

[[steps]]
id = "stop"
title = "Stop xcatd"
node = "standby"
user = "root"
run = {run}
mutating = true
[steps.rollback]
run = {rollback}
'''
LINUX_ONLY = '{ linux = "service xcatd stop" }'
BOTH = '{ linux = "service xcatd stop", aix = "stopsrc -s xcatd" }'
BOTH_START = '{ linux = "service xcatd start", aix = "startsrc -s xcatd" }'


@pytest.fixture
def aix_cluster(tmp_path: Path) -> str:
    path = tmp_path / "cluster.toml"
    path.write_text(AIX_MN2, encoding="utf-8")
    return str(path)


def _line(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_a_step_without_a_command_for_a_platform_of_the_cluster_is_a_located_error(validate_text, aix_cluster):
    text = RUNBOOK.format(run=LINUX_ONLY, rollback=BOTH_START)
    v = validate_text(text, "demo.toml", "--cluster", aix_cluster)
    assert v.exit_code == 1
    [m] = [m for m in v.located() if m["file"] == "demo.toml"]
    assert int(m["line"]) == _line(text, "run = { linux")
    assert m["msg"].startswith('steps[0].run: nothing for platform "aix": standby can be mn2, which the cluster file says is aix')


def test_every_platform_covered_or_a_plain_string_is_valid(validate_text, aix_cluster):
    for run_, rollback in ((BOTH, BOTH_START), ('"db2 deactivate database XCATDB"', '"db2 activate database XCATDB"')):
        v = validate_text(RUNBOOK.format(run=run_, rollback=rollback), "demo.toml", "--cluster", aix_cluster)
        assert v.exit_code == 0, v.output


def test_a_rollback_is_held_to_the_same_rule(validate_text, aix_cluster):
    text = RUNBOOK.format(run=BOTH, rollback='{ linux = "service xcatd start" }')
    v = validate_text(text, "demo.toml", "--cluster", aix_cluster)
    [m] = [m for m in v.located() if m["file"] == "demo.toml"]
    assert int(m["line"]) == _line(text, 'run = { linux = "service xcatd start" }')
    assert m["msg"].startswith('steps[0].rollback.run: nothing for platform "aix"')


def test_an_unknown_platform_is_named_with_a_suggestion(validate_text):
    text = RUNBOOK.format(run='{ linux = "service xcatd stop", aixx = "stopsrc -s xcatd" }', rollback=BOTH_START)
    v = validate_text(text)
    [m] = v.located()
    assert m["msg"] == 'steps[0].run.aixx: unknown platform "aixx" (did you mean "aix"?); platforms: linux, aix'


def test_a_probe_argument_per_platform_must_cover_the_cluster(validate_text, aix_cluster):
    text = RUNBOOK.format(run=BOTH, rollback=BOTH_START) + '''[[steps.verify]]
node = "standby"
probe = "command"
args = { run = { linux = "test -x /sbin/ip" } }
field = "exit_status"
equals = 0
'''
    v = validate_text(text, "demo.toml", "--cluster", aix_cluster)
    [m] = [m for m in v.located() if m["file"] == "demo.toml"]
    assert int(m["line"]) == _line(text, "test -x /sbin/ip")
    assert m["msg"].startswith('steps[0].verify[0].args.run: nothing for platform "aix"')


def test_a_when_on_a_platform_names_a_real_platform(validate_text):
    text = RUNBOOK.format(run=BOTH, rollback=BOTH_START).replace('mutating = true', 'mutating = true\nwhen = { platform = "standby", equals = "solaris" }')
    [m] = validate_text(text).located()
    assert m["msg"] == 'steps[0].when: "solaris" is not a platform; platforms: linux, aix'


PLANNED = dict(yes=True, confirms={"takeover": "XCATDB"})


def test_planned_failover_on_aix_stops_and_starts_xcatd_with_the_src_and_moves_an_alias():
    r = run(Training("healthy", platform="aix"), "failover-planned", **PLANNED)
    assert r.outcome == "done", r.steps
    assert r.commands("stop-xcatd-primary") == ["stopsrc -s xcatd"]
    assert r.commands("stop-xcatd-service-nodes") == ["stopsrc -s xcatd", "stopsrc -s xcatd"]
    assert r.commands("release-service-ip") == ["ifconfig eth0 delete 192.0.2.10"]
    assert r.commands("take-service-ip") == ["ifconfig eth0 alias 192.0.2.10"]
    assert r.commands("start-xcatd-new-primary") == ["startsrc -s xcatd"]
    assert not [c for c in r.commands() if c.startswith(("service ", "ip "))]
    sim = r.training.sim
    assert sim.holds(sim.nodes["mn2"], sim.service_ip) and sim.nodes["mn2"].services["xcatd"].running


def test_planned_failover_on_linux_keeps_service_and_ip():
    r = run(Training("healthy"), "failover-planned", **PLANNED)
    assert r.outcome == "done", r.steps
    assert r.commands("stop-xcatd-primary") == ["service xcatd stop"]
    assert r.commands("take-service-ip") == ["ip addr add 192.0.2.10/24 dev eth0", "arping -U -c 3 -I eth0 192.0.2.10"]
    assert not [c for c in r.commands() if "srcs" in c or c.startswith(("stopsrc", "startsrc", "ifconfig"))]


def test_each_node_of_a_group_runs_its_own_platforms_command():
    t = Training("healthy")
    t.cluster.nodes["sn1"].platform = "aix"
    t.sim.nodes["sn1"].os = "aix"
    r = run(t, "failover-planned", **PLANNED)
    assert r.outcome == "done", r.steps
    sent = {(node, cmd) for step, node, cmd in r.sent if step == "stop-xcatd-service-nodes"}
    assert sent == {("sn1", "stopsrc -s xcatd"), ("sn2", "service xcatd stop")}


def test_unplanned_failover_on_aix_uses_the_src_aliases_and_no_dhcp():
    r = run(Training("primary-node-crash", platform="aix"), "failover-unplanned", yes=True,
            confirms={"takeover-pwo": "XCATDB"}, attests={"attest-fenced", "keep-fenced"})
    assert r.outcome == "done", r.steps
    assert r.commands("take-service-ip") == ["ifconfig eth0 alias 192.0.2.10"]
    assert r.commands("start-xcatd") == ["startsrc -s xcatd"]
    assert r.commands("restart-xcatd-service-nodes") == ["stopsrc -s xcatd"] * 2 + ["startsrc -s xcatd"] * 2
    assert r.steps["makedhcp-new"] == r.steps["makedhcp-all"] == "skipped"  # DHCP: Linux only (xCAT 2 wiki §8.0)


def test_the_plan_shows_the_command_the_node_will_run():
    t = Training("healthy", platform="aix")
    rb = load_runbook(REPO / "runbooks" / "failover-planned.toml", t.cluster)
    rows = plan(rb, TrainingTarget(t).context(rb, None, None)).steps
    assert rows["stop-xcatd-primary"].planned == ("stopsrc -s xcatd",)
    assert rows["stop-xcatd-service-nodes"].planned == ("stopsrc -s xcatd",)


def test_a_runbook_checked_without_the_cluster_fails_the_step_instead_of_running_nothing(tmp_path):
    path = tmp_path / "demo.toml"
    path.write_text(RUNBOOK.format(run=LINUX_ONLY, rollback='{ linux = "service xcatd start" }'), encoding="utf-8")
    rb = load_runbook(path)  # no cluster: the table cannot be held to the cluster's platforms
    t = Training("healthy", platform="aix")
    target = TrainingTarget(t)
    events: list[Event] = []
    runner = target.runner(rb, target.context(rb, None, None), AutoOperator(yes=True), run_id="demo-test", subscribers=[events.append])
    assert asyncio.run(runner.run()) == "failed"
    [finished] = [e for e in events if isinstance(e, StepFinished)]
    assert finished.outcome == "failed" and "no command for mn2 (aix)" in finished.reason
    assert not [e for e in events if isinstance(e, CommandSent)]
