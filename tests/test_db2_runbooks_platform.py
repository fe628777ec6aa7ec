"""db2-hadr-setup, db2-sync-test and event-primary-alone take each node's platform from the cluster file.

One step per action with a command per platform (issue 13, item 2): no `platform` parameter, no
AIX twins. On the simulator an AIX node has no `service` (command not found), so a run that sent
the Linux command there would fail; the probes' own commands are spied on at the transport.
"""
from __future__ import annotations

import pytest

from hamn_tui.runbook.loader import load_runbook
from hamn_tui.sim.training import Training
from hamn_tui.sim.transport import SimTransport

from .conftest import REPO
from .sim_support import run

SETUP = dict(yes=True, confirms={"restore-standby": "mn2"}, attests={"same-db2-level"})
SYNC = dict(yes=True, confirms={"takeover-to-standby": "mn2", "takeover-back": "mn1"})
MN2_PRIMARY = {"primary": "mn2", "standby": "mn1"}
ALONE = dict(yes=True, choices={"how": "force"}, confirms={"start-by-force": "XCATDB BY FORCE"}, attests={"attest-fenced", "next"})
SERVICE = ("service ", "systemctl ")
SRC = ("stopsrc ", "startsrc ", "lssrc ")


@pytest.fixture
def sent_to_nodes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(node, command) of everything that reached the simulated nodes, probes included."""
    seen: list[tuple[str, str]] = []
    real = SimTransport.run

    async def spy(self: SimTransport, node: str, command: str, **kw):  # type: ignore[no-untyped-def]
        seen.append((node, command))
        return await real(self, node, command, **kw)

    monkeypatch.setattr(SimTransport, "run", spy)
    return seen


@pytest.mark.parametrize("runbook", ["db2-hadr-setup", "db2-sync-test", "event-primary-alone"])
def test_no_platform_parameter_and_no_aix_twins(runbook: str):
    rb = load_runbook(REPO / "runbooks" / f"{runbook}.toml")
    assert "platform" not in rb.params
    ids = [s.id for s in rb.steps] + [s.id for s in rb.always]
    assert not [i for i in ids if i.endswith("-aix")]


def test_setup_on_aix_stops_and_starts_xcatd_with_the_src_and_resolves_names_with_host(sent_to_nodes):
    r = run(Training("fresh-install", platform="aix"), "db2-hadr-setup", **SETUP)
    assert r.outcome == "done", {s: o for s, o in r.steps.items() if o == "failed"}
    assert r.commands("stop-xcatd-service-nodes") == ["stopsrc -s xcatd"] * 2
    assert r.commands("stop-xcatd-primary") == ["stopsrc -s xcatd"]
    assert r.commands("xcatd-standby-status") == ["lssrc -s xcatd | grep -w active"]
    assert r.commands("stop-xcatd-standby") == ["stopsrc -s xcatd"]  # fresh-install: xcatd runs on the standby too
    assert r.commands("start-xcatd-primary") == ["startsrc -s xcatd"]
    assert r.commands("start-xcatd-service-nodes") == ["startsrc -s xcatd"] * 2
    assert not [c for c in r.commands() if c.startswith(SERVICE)]
    assert r.steps["name-resolution"] == "done"
    assert ("mn1", "host mn2") in sent_to_nodes and ("mn2", "host mn1") in sent_to_nodes
    assert not [c for _, c in sent_to_nodes if c.startswith("getent ")]
    assert r.steps["dhcpd-standby-status"] == r.steps["stop-dhcpd-standby"] == "skipped"  # no DHCP on AIX management nodes


def test_setup_on_linux_keeps_service_and_getent(sent_to_nodes):
    r = run(Training("fresh-install"), "db2-hadr-setup", **SETUP)
    assert r.outcome == "done", {s: o for s, o in r.steps.items() if o == "failed"}
    assert r.commands("stop-xcatd-primary") == ["service xcatd stop"]
    assert r.commands("xcatd-standby-status") == ["service xcatd status"]
    assert r.commands("start-xcatd-service-nodes") == ["service xcatd start"] * 2
    assert r.commands("dhcpd-standby-status") == ["service dhcpd status"]
    assert not [c for c in r.commands() if c.startswith(SRC)]
    assert ("mn1", "getent hosts mn2") in sent_to_nodes
    assert not [c for _, c in sent_to_nodes if c.startswith("host ")]


def test_an_aix_standby_of_a_linux_primary_gets_its_own_commands():
    t = Training("fresh-install")
    t.cluster.nodes["mn2"].platform = "aix"
    t.sim.nodes["mn2"].os = "aix"
    r = run(t, "db2-hadr-setup", **SETUP)
    assert r.outcome == "done", {s: o for s, o in r.steps.items() if o == "failed"}
    assert r.commands("stop-xcatd-primary") == ["service xcatd stop"]
    assert r.commands("xcatd-standby-status") == ["lssrc -s xcatd | grep -w active"]
    assert r.steps["dhcpd-standby-status"] == "skipped"  # the standby's platform decides


def test_sync_test_on_aix_uses_the_src():
    r = run(Training("healthy", platform="aix"), "db2-sync-test", **SYNC)
    assert r.outcome == "done", {s: o for s, o in r.steps.items() if o == "failed"}
    for step, cmd in (("stop-xcatd-primary", "stopsrc"), ("start-xcatd-standby", "startsrc"), ("stop-xcatd-standby", "stopsrc"),
                      ("start-xcatd-primary", "startsrc")):
        assert r.commands(step) == [f"{cmd} -s xcatd"], step
    assert r.commands("stop-xcatd-service-nodes") == ["stopsrc -s xcatd"] * 2
    assert not [c for c in r.commands() if c.startswith(SERVICE)]
    sim = r.training.sim
    assert sim.nodes["mn1"].services["xcatd"].running and not sim.nodes["mn2"].services["xcatd"].running


def test_primary_alone_on_aix_restarts_xcatd_with_the_src():
    t = Training("primary-alone")  # the scenario is set up with Linux commands; then mn2 is an AIX node
    t.cluster.nodes["mn2"].platform = "aix"
    t.sim.nodes["mn2"].os = "aix"
    r = run(t, "event-primary-alone", roles=MN2_PRIMARY, **ALONE)
    assert r.outcome == "done", {s: o for s, o in r.steps.items() if o == "failed"}
    assert r.commands("restart-xcatd") == ["stopsrc -s xcatd", "startsrc -s xcatd"]
    assert not [c for c in r.commands() if c.startswith(SERVICE)]


def test_primary_alone_on_linux_restarts_xcatd_with_service():
    r = run(Training("primary-alone"), "event-primary-alone", roles=MN2_PRIMARY, **ALONE)
    assert r.outcome == "done", {s: o for s, o in r.steps.items() if o == "failed"}
    assert r.commands("restart-xcatd") == ["service xcatd restart"]
