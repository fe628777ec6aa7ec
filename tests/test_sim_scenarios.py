"""Scenario files: every shipped one loads and builds; a bad one is refused with located problems; `hamn train`."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from hamn_tui.cli.train import train
from hamn_tui.cluster.loader import load_cluster
from hamn_tui.sim.scenario import load_scenario, scenario_names
from hamn_tui.sim.training import CLUSTER_FILE, Training
from hamn_tui.inputs.problems import InputError

REQUIRED = {"healthy", "standby-fails", "primary-fails", "primary-node-crash", "switch-roles-back", "peer-window-expired",
            "remote-catchup-pending", "backup-sql1035n", "diverged-logs", "split-brain", "network-partition"}


def test_the_training_cluster_file_is_valid():
    cluster = load_cluster(CLUSTER_FILE)
    assert list(cluster.nodes) == ["mn1", "mn2", "sn1", "sn2"] and cluster.groups == {"service_nodes": ["sn1", "sn2"]}
    assert cluster.db2 is not None and cluster.service_ip is not None


def test_the_required_scenarios_are_shipped():
    assert REQUIRED <= set(scenario_names())


@pytest.mark.parametrize("name", scenario_names())
def test_every_scenario_builds_and_names_runbooks_to_rehearse(name: str):
    t = Training(name)
    assert t.scenario.rehearse
    assert t.scenario.scenario.summary and "\n" not in t.scenario.scenario.summary


def test_a_bad_scenario_is_refused_with_located_problems(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[scenario]\ntitle = "t"\nsummary = "s"\nstory = "s"\n\n'
                   '[[faults]]\naction = "crash_node"\nnode = "mn9"\nat_s = 5\nat_step = "x"\n\n'
                   '[[setup]]\naction = "explode"\n\n'
                   '[[rehearse]]\nrunbook = "no-such-runbook"\nroles = { primary = "mn3" }\n')
    with pytest.raises(InputError) as exc:
        load_scenario(str(bad), ["mn1", "mn2", "sn1", "sn2"])
    msgs = [str(p) for p in exc.value.problems]
    assert any(m.startswith(f"{bad}:13:1: setup[0].action: 'explode' is not allowed") for m in msgs), msgs
    with pytest.raises(InputError) as exc:
        load_scenario(str(_without_setup(bad)), ["mn1", "mn2", "sn1", "sn2"])
    msgs = [str(p).split(": ", 1)[1] for p in exc.value.problems]
    assert 'faults[0].node: unknown node "mn9" (did you mean "mn2"?)' in msgs
    assert "faults[0]: a fault needs exactly one of at_s and at_step" in msgs
    assert 'rehearse[0].runbook: no runbook "no-such-runbook"' in msgs
    assert any(m.startswith('rehearse[0].roles.primary: unknown node "mn3"') for m in msgs)


def _without_setup(path: Path) -> Path:
    text = path.read_text().replace('[[setup]]\naction = "explode"\n\n', "")
    out = path.with_name("bad2.toml")
    out.write_text(text)
    return out


def test_train_list_names_every_scenario_with_its_summary():
    result = CliRunner().invoke(train, ["--list"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert [line.split()[0] for line in lines] == scenario_names()
    assert any(line.startswith("primary-node-crash") and "HADR_TIMEOUT" in line for line in lines)


def test_train_scenario_tells_the_story_and_how_to_rehearse_it():
    result = CliRunner().invoke(train, ["--scenario", "after-failover"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "mn1: up, DB2 instance stopped, database role PRIMARY on disk" in out
    assert "hamn run failback --training after-failover --headless --role primary=mn2 --role standby=mn1" in out
    assert "hamn status --training after-failover" in out


def test_train_unknown_scenario_is_exit_2():
    result = CliRunner().invoke(train, ["--scenario", "nope"])
    assert result.exit_code == 2 and "no scenario 'nope'" in result.output
