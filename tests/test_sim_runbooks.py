"""Every shipped DB2 runbook runs to completion, headless, against the simulated cluster.

The real engine does the work: Runner, the loaded runbook, resolve_params/bind_roles, the real
probes over the SimTransport, and AutoOperator answers (`--yes`, typed `--confirm`, `--attest`,
`--choose`). Most run on the healthy pair. A runbook that by its nature needs its event runs on
the matching scenario, with the roles bound as the runbook's description says:

* db2-hadr-setup on `fresh-install` (it needs two standalone databases, no HADR yet);
* event-standby-lost on `standby-fails`, event-primary-lost on `primary-fails`,
  event-primary-node-crash and failover-unplanned on `primary-node-crash`;
* event-switch-roles-back on `switch-roles-back` and failback on `after-failover`, both with
  primary = mn2 (the primary now) and standby = mn1;
* event-primary-alone on `primary-alone` (mn2 primary alone after a failover), primary = mn2.
"""
from __future__ import annotations

import pytest

from hamn_tui.runbook.library import shipped_runbooks
from hamn_tui.sim.training import Training

from .sim_support import run, sh

MN2_PRIMARY = {"primary": "mn2", "standby": "mn1"}
CASES: dict[str, tuple[str, dict[str, str] | None, dict]] = {
    "db2-hadr-verify": ("healthy", None, {}),
    "db2-sync-test": ("healthy", None, dict(yes=True, confirms={"takeover-to-standby": "mn2", "takeover-back": "mn1"})),
    "failover-planned": ("healthy", None, dict(yes=True, confirms={"takeover": "XCATDB"})),
    "file-sync-setup": ("healthy", None, dict(yes=True, confirms={"sync-config": "mn2", "sync-install": "mn2"})),
    "network-services": ("healthy", None, dict(yes=True)),
    "xcat-ha-preflight": ("healthy", None, dict(attests={"udp-firewall"})),
    "db2-hadr-setup": ("fresh-install", None, dict(yes=True, confirms={"restore-standby": "mn2"}, attests={"same-db2-level"})),
    "event-standby-lost": ("standby-fails", None, dict(yes=True, attests={"bring-standby-node-back"})),
    "event-primary-lost": ("primary-fails", None, dict(yes=True, choices={"action": "restart-primary"})),
    "event-primary-node-crash": ("primary-node-crash", None, dict(attests={"hand-over"})),
    "failover-unplanned": ("primary-node-crash", None,
                           dict(yes=True, confirms={"takeover-pwo": "XCATDB"}, attests={"attest-fenced", "keep-fenced"})),
    "event-switch-roles-back": ("switch-roles-back", MN2_PRIMARY, dict(yes=True, confirms={"takeover": "XCATDB"}, attests={"roles-as-bound"})),
    "failback": ("after-failover", MN2_PRIMARY, dict(yes=True, confirms={"takeover-back": "XCATDB"})),
    "event-primary-alone": ("primary-alone", MN2_PRIMARY, dict(yes=True, choices={"how": "force"}, confirms={"start-by-force": "XCATDB BY FORCE"},
                                                               attests={"attest-fenced", "next"})),
}


ON_THE_LAB = {"witness-setup": "tests/test_lab_witness.py: accounts, keys and sshd forced commands on the lab's real nodes"}
"""Runbooks for DB2 sites that are not DB2 procedures: tested on real nodes, not simulated."""


def test_every_shipped_db2_runbook_has_a_case():
    good, bad = shipped_runbooks()
    assert not bad
    assert {rb.runbook.id for _, rb in good if "db2" in rb.runbook.databases} == set(CASES) | set(ON_THE_LAB)


@pytest.mark.parametrize("runbook", sorted(CASES))
def test_runbook_runs_to_done(runbook: str):
    scenario, roles, answers = CASES[runbook]
    r = run(scenario, runbook, roles=roles, **answers)
    failed = {s: o for s, o in r.steps.items() if o not in ("done", "skipped")}
    assert r.outcome == "done", failed
    assert r.events[0].training  # the audit log's RunStarted is marked training


@pytest.mark.parametrize("runbook", ["db2-hadr-verify", "failover-planned", "failover-unplanned", "db2-hadr-setup"])
def test_runbook_runs_to_done_on_db2_9_7(runbook: str):
    """The 9.7 columnar db2pd and the 9.7 setup path (LOGRETAIN ON) through the same probes and gates."""
    scenario, roles, answers = CASES[runbook]
    answers = dict(answers)
    if runbook in ("db2-hadr-setup", "db2-hadr-verify"):
        answers["sets"] = {"db2_level": "9.7"}
    r = run(Training(scenario, db2_level="9.7"), runbook, roles=roles, **answers)
    assert r.outcome == "done", {s: o for s, o in r.steps.items() if o == "failed"}
    if runbook == "db2-hadr-setup":
        assert "db2 update db cfg for XCATDB using LOGRETAIN ON" in r.commands()


def test_planned_failover_leaves_the_roles_switched_and_the_service_ip_moved():
    r = run("healthy", "failover-planned", yes=True, confirms={"takeover": "XCATDB"})
    sim = r.training.sim
    mn1, mn2 = sim.nodes["mn1"], sim.nodes["mn2"]
    assert (mn2.db.cfg.role, mn1.db.cfg.role) == ("PRIMARY", "STANDBY")
    assert (mn1.db.hadr.state, mn1.db.hadr.connect_status) == ("PEER", "CONNECTED")
    assert sim.holds(mn2, sim.service_ip) and not sim.holds(mn1, sim.service_ip)
    assert r.commands("takeover") == ["db2 takeover hadr on database XCATDB"]


def test_setup_makes_a_pair_in_peer_from_two_standalone_databases():
    r = run("fresh-install", "db2-hadr-setup", **CASES["db2-hadr-setup"][2])
    sim = r.training.sim
    mn1, mn2 = sim.nodes["mn1"], sim.nodes["mn2"]
    assert (mn1.db.cfg.role, mn2.db.cfg.role) == ("PRIMARY", "STANDBY")
    assert mn1.db.seed == mn2.db.seed  # the standby is the primary's restored image
    assert mn2.db.hadr.state == "PEER"
    restore = r.commands("restore-standby")
    assert len(restore) == 1 and restore[0].startswith("db2 restore database XCATDB from /var/lib/db2/backup taken at ")


def test_unplanned_failover_takes_over_inside_the_peer_window_and_never_plain_by_force():
    r = run("primary-node-crash", "failover-unplanned", **CASES["failover-unplanned"][2])
    takeovers = [c for c in r.commands() if "takeover" in c]
    assert takeovers == ["db2 takeover hadr on database XCATDB by force peer window only"]
    assert r.steps["wait-disconnect"] == "done" and r.steps["takeover-force"] == "skipped"
    assert r.training.clock() - r.training.t0 >= 120  # it waited out HADR_TIMEOUT before the takeover


def test_crash_failover_and_failback_end_to_end_lose_nothing():
    """mn1 crashes, mn2 takes over in the peer window, mn1 is powered on and reintegrated, roles switched back."""
    t = Training("primary-node-crash")
    defined_before = set(t.sim.nodes["mn1"].db.tables())
    r1 = run(t, "failover-unplanned", **CASES["failover-unplanned"][2])
    assert r1.outcome == "done"
    assert sh(t, "mn2", "mkdef -t node -o cn042 groups=compute,all")[0] == 0  # life goes on on mn2
    assert sh(t, "mn2", "rpower mn1 on") == (0, "mn1: on\n", "")
    t.vclock.advance(120)  # it boots; DB2 does not start by itself
    r2 = run(t, "failback", roles=MN2_PRIMARY, yes=True, confirms={"takeover-back": "XCATDB"})
    assert r2.outcome == "done", r2.steps
    assert r2.steps["reintegration"] == "skipped"  # the logs were compatible: no restore needed
    mn1 = t.sim.nodes["mn1"]
    assert mn1.db.cfg.role == "PRIMARY"
    assert defined_before | {("node", "cn042")} <= set(mn1.db.tables())


def test_unplanned_failover_with_the_xcat_wiki_host_name_takeover():
    """hostname_takeover on Linux: STOP HADR, db2gcf -d, the old name and address, db2gcf -u (which fixes
    sqllib/db2nodes.cfg: a plain db2start under the new name fails with SQL6048N), STANDARD at the end."""
    t = Training("primary-node-crash")
    r = run(t, "failover-unplanned", sets={"hostname_takeover": "yes"}, yes=True,
            confirms={"takeover-pwo": "XCATDB", "stop-hadr": "STOP HADR"}, attests={"attest-fenced", "keep-fenced"})
    assert r.outcome == "done", r.steps
    mn2 = t.sim.nodes["mn2"]
    assert mn2.hostname == "mn1" and t.sim.holds(mn2, "192.0.2.11") and mn2.db.cfg.role == "STANDARD"
    assert r.commands("db2gcf-start") == ["db2gcf -u -p 0 -i xcatdb"]
    assert sh(t, "mn2", "db2gcf -d -p 0 -i xcatdb && hostname mn9", user="root")[0] == 127  # db2gcf: instance owner only
    sh(t, "mn2", "db2gcf -d -p 0 -i xcatdb", user="xcatdb")
    sh(t, "mn2", "hostname mn9")
    status, out, _ = sh(t, "mn2", "db2start", user="xcatdb")
    assert status == 1 and "SQL6048N" in out
