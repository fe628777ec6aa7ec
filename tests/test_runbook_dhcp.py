"""Never two DHCP servers: the node that gives up the management role stops DHCP, DNS and the
console server (each the platform's way), and network-services refuses to go on while the other
node still serves DHCP.

On the simulator, after failover-planned, event-switch-roles-back and failback; the stops
capture whether each service ran, so a roll back starts again only what was running.
"""
from __future__ import annotations

import pytest

from hamn_tui.record.events import ChecksEvaluated
from hamn_tui.sim.training import Training

from .sim_support import run, sh
from .test_runbook_rollbacks import run_then_roll_back

MN2_PRIMARY = {"primary": "mn2", "standby": "mn1"}
SERVICES = ("dhcpd", "named", "conserver")


def _running(t: Training, node: str) -> dict[str, bool]:
    services = t.sim.nodes[node].services
    return {s: s in services and services[s].running for s in SERVICES}


@pytest.mark.parametrize("runbook, scenario, roles, answers, gives_up", [
    ("failover-planned", "healthy", None, dict(yes=True, confirms={"takeover": "XCATDB"}), "mn1"),
    ("event-switch-roles-back", "switch-roles-back", MN2_PRIMARY, dict(yes=True, confirms={"takeover": "XCATDB"}, attests={"roles-as-bound"}), "mn2"),
    ("failback", "after-failover", MN2_PRIMARY, dict(yes=True, confirms={"takeover-back": "XCATDB"}), "mn2"),
])
def test_the_node_giving_up_the_role_stops_dhcp_dns_and_consoles(runbook, scenario, roles, answers, gives_up):
    t = Training(scenario)
    if scenario != "healthy":  # make sure the node serves all three before, as a primary does
        assert sh(t, gives_up, "makedhcp -n && service named start && service conserver start")[0] == 0
    assert all(_running(t, gives_up).values())
    r = run(t, runbook, roles=roles, **answers)
    assert r.outcome == "done", {s: o for s, o in r.steps.items() if o not in ("done", "skipped")}
    assert _running(t, gives_up) == {s: False for s in SERVICES}
    who = {"failover-planned": "old-primary", "event-switch-roles-back": "former-primary", "failback": "survivor"}[runbook]
    assert r.commands(f"stop-dhcpd-{who}") == ["systemctl is-active dhcpd; systemctl stop dhcpd"]


def test_on_aix_the_src_subsystems_are_stopped():
    t = Training("healthy", platform="aix")
    assert sh(t, "mn1", "startsrc -s dhcpsd")[0] == 0
    r = run(t, "failover-planned", yes=True, confirms={"takeover": "XCATDB"})
    assert r.outcome == "done", r.steps
    assert r.commands("stop-dhcpd-old-primary") == ["lssrc -s dhcpsd; stopsrc -s dhcpsd"]
    assert r.commands("stop-conserver-old-primary") == ["lssrc -s conserver; stopsrc -s conserver"]
    mn1 = t.sim.nodes["mn1"].services
    assert not mn1["dhcpsd"].running and not mn1["named"].running and not mn1["conserver"].running


def test_roll_back_starts_again_only_what_was_running():
    t = Training("healthy")
    assert sh(t, "mn1", "service named stop")[0] == 0  # named was not running before the run
    r = run_then_roll_back(t, "failover-planned", yes=True, confirms={"takeover": "XCATDB"}, stop_at="take-service-ip")
    assert r.outcome == "waiting"
    assert r.finished("stop-named-old-primary").reason == "nothing to undo: when: captured named_was_old_primary is inactive"
    assert _running(t, "mn1") == {"dhcpd": True, "named": False, "conserver": True}


def test_network_services_after_a_planned_failover_runs_once_the_old_primary_is_quiet():
    t = Training("healthy")
    assert run(t, "failover-planned", yes=True, confirms={"takeover": "XCATDB"}).outcome == "done"
    r = run(t, "network-services", roles=MN2_PRIMARY, yes=True)
    assert r.outcome == "done", r.steps
    assert r.steps["other-node-no-dhcpd"] == "done"
    assert _running(t, "mn2")["dhcpd"] and not _running(t, "mn1")["dhcpd"]


def test_network_services_fails_while_the_other_node_serves_dhcp():
    t = Training("healthy")
    assert run(t, "failover-planned", yes=True, confirms={"takeover": "XCATDB"}).outcome == "done"
    assert sh(t, "mn1", "service dhcpd start")[0] == 0  # someone started it again on the old primary
    r = run(t, "network-services", roles=MN2_PRIMARY, yes=True)
    assert r.steps["other-node-no-dhcpd"] == "failed" and r.outcome == "failed"
    assert not _running(t, "mn2")["dhcpd"]  # it stopped before this node started a second one


def test_network_services_after_an_unplanned_failover_skips_the_fenced_node():
    t = Training("primary-node-crash")
    r1 = run(t, "failover-unplanned", yes=True, confirms={"takeover-pwo": "XCATDB"}, attests={"attest-fenced", "keep-fenced"})
    assert r1.outcome == "done"
    r = run(t, "network-services", roles=MN2_PRIMARY, yes=True)
    assert r.outcome == "done", r.steps
    assert r.steps["other-node-reachable"] == "failed" and r.steps["other-node-no-dhcpd"] == "skipped"


# --- after a failover: HTTP and TFTP up, boot files that name the old address -----------------------

def test_network_services_starts_http_and_tftp_for_os_deployment():
    t = Training("healthy")
    assert run(t, "failover-planned", yes=True, confirms={"takeover": "XCATDB"}).outcome == "done"
    r = run(t, "network-services", roles=MN2_PRIMARY, yes=True)
    assert r.outcome == "done", r.steps
    assert r.commands("start-tftp") == ["systemctl is-active tftp; systemctl start tftp"]
    services = t.sim.nodes["mn2"].services
    assert services["httpd"].running and services["tftp"].running
    assert r.steps["boot-files-old-address"] == "done"  # cn001's boot file names the service IP
    assert r.steps["nodeset-affected"] == "skipped"


def test_a_boot_file_naming_the_old_primarys_own_address_asks_for_nodeset():
    t = Training("healthy")
    assert run(t, "failover-planned", yes=True, confirms={"takeover": "XCATDB"}).outcome == "done"
    t.sim.nodes["mn2"].fs.write("/tftpboot/xcat/xnba/nodes/cn002", "#!gpxe\nchain http://192.0.2.11:80/tftpboot/xcat/xnba/nodes/cn002.uefi\n")
    r = run(t, "network-services", roles=MN2_PRIMARY, yes=True)
    assert r.steps["boot-files-old-address"] == "failed" and r.outcome == "waiting"  # at the nodeset attestation
    [listed] = [o.observed for e in r.events if isinstance(e, ChecksEvaluated) and e.step_id == "boot-files-old-address"
                for o in e.outcomes if o.field == "stdout"]
    assert listed == "/tftpboot/xcat/xnba/nodes/cn002\n"  # the operator sees which node needs nodeset
    done = run(t, "network-services", roles=MN2_PRIMARY, yes=True, attests={"nodeset-affected"})
    assert done.outcome == "done" and done.steps["nodeset-affected"] == "done"


def test_on_aix_network_services_leaves_deployment_to_nim():
    r = run(Training("healthy", platform="aix"), "network-services", yes=True)
    assert r.outcome == "done", r.steps
    assert r.commands("restart-named") == ["stopsrc -s named", "startsrc -s named"]
    assert r.commands("restart-conserver") == ["stopsrc -s conserver", "startsrc -s conserver"]
    assert {r.steps[s] for s in ("makedhcp-new", "restart-dhcpd", "makedhcp-all", "start-httpd", "start-tftp", "final-dhcp")} == {"skipped"}
