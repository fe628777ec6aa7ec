"""db2-hadr-setup against the simulator: what the xCAT procedure needs besides the HADR commands.

The standby's own XCATDB is forced off and deactivated before the RESTORE (DB2 refuses a restore
over a database in use with SQL1035N); the logging settings are set on both nodes, as the wiki
says; DB2_HADR_PEER_WAIT_LIMIT is set with db2set on both and the instance restarted so it takes
effect; the standby prerequisites (name resolution, dhcpd and xcatd stopped) are checked or done.
"""
from __future__ import annotations

from hamn_tui.sim.training import Training

from .sim_support import run, sh

SETUP = dict(yes=True, confirms={"restore-standby": "mn2"}, attests={"same-db2-level"})


def test_the_restore_works_although_the_standby_database_was_activated_by_hand():
    t = Training("fresh-install")
    assert t.sim.nodes["mn2"].db.active and t.sim.nodes["mn2"].db.explicit  # the scenario's trap
    r = run(t, "db2-hadr-setup", **SETUP)
    assert r.outcome == "done", {s: o for s, o in r.steps.items() if o == "failed"}
    assert r.commands("deactivate-standby") == ["db2 force application all", "db2 deactivate database XCATDB"]
    assert "SQL1035N" not in r.output("restore-standby")


def test_the_simulator_refuses_a_restore_while_the_standby_database_is_active():
    """What the deactivate step prevents: DB2 answers SQL1035N (facts §6) to RESTORE over an active database."""
    t = Training("fresh-install")
    sh(t, "mn2", "service xcatd stop")
    sh(t, "mn1", "service xcatd stop && mkdir -p /var/lib/db2/backup && chown xcatdb:xcatdb /var/lib/db2/backup")
    for sn in ("sn1", "sn2"):
        sh(t, sn, "service xcatd stop")
    status, out, _ = sh(t, "mn1", "db2 backup database XCATDB to /var/lib/db2/backup", user="xcatdb")
    assert status == 0, out
    ts = out.split("image is : ")[1].split()[0]
    sh(t, "mn2", "mkdir -p /var/lib/db2/backup && chown xcatdb:xcatdb /var/lib/db2/backup")
    assert sh(t, "mn1", f"rsync -a /var/lib/db2/backup/ 192.0.2.12:/var/lib/db2/backup/")[0] == 0
    restore = f"db2 restore database XCATDB from /var/lib/db2/backup taken at {ts} replace history file without prompting"
    status, out, _ = sh(t, "mn2", restore, user="xcatdb")
    assert status == 4 and "SQL1035N" in out
    sh(t, "mn2", "db2 deactivate database XCATDB", user="xcatdb")
    status, out, _ = sh(t, "mn2", restore, user="xcatdb")
    assert status in (0, 2) and "SQL2540W" in out


def test_logging_settings_and_the_peer_wait_limit_are_set_on_both_nodes():
    t = Training("fresh-install")
    r = run(t, "db2-hadr-setup", sets={"peer_wait_limit_s": 45}, **SETUP)
    assert r.outcome == "done", {s: o for s, o in r.steps.items() if o == "failed"}
    for name in ("mn1", "mn2"):
        cfg = t.sim.nodes[name].db.cfg
        assert (cfg.archiving, cfg.trackmod, cfg.logindexbuild, cfg.indexrec) == (True, True, True, "RESTART"), name
        assert sh(t, name, "db2set -all", user="xcatdb")[1] == "[i] DB2_HADR_PEER_WAIT_LIMIT=45\n"
    assert r.commands("set-logging-standby") == [
        "db2 update db cfg for XCATDB using LOGARCHMETH1 LOGRETAIN TRACKMOD ON LOGINDEXBUILD ON INDEXREC RESTART"]
    # the instance was restarted after db2set, while the database was inactive, so the value is in effect
    assert r.commands("peer-wait-limit-primary") == ["db2set DB2_HADR_PEER_WAIT_LIMIT=45", "db2stop", "db2start"]


def test_a_rollback_puts_back_the_registry_values_read_before_the_change():
    """START HADR AS PRIMARY fails (the pair is partitioned: SQL1768N reason 7); rolling back restores
    mn1's earlier DB2_HADR_PEER_WAIT_LIMIT and removes mn2's, which was not set before."""
    from hamn_tui.sim.scenario import Fault

    t = Training("fresh-install")
    assert sh(t, "mn1", "db2set DB2_HADR_PEER_WAIT_LIMIT=30", user="xcatdb")[0] == 0
    t._pending.append(Fault(action="partition", nodes=["mn1", "mn2"], at_step="start-hadr-primary", on="start"))
    r = run(t, "db2-hadr-setup", on_failure="rollback", **SETUP)
    assert r.steps["start-hadr-primary"] == "failed"
    assert r.commands("peer-wait-limit-primary")[-1] == "db2set DB2_HADR_PEER_WAIT_LIMIT=30"  # the rollback
    assert sh(t, "mn1", "db2set -all", user="xcatdb")[1] == "[i] DB2_HADR_PEER_WAIT_LIMIT=30\n"
    assert sh(t, "mn2", "db2set -all", user="xcatdb")[1] == ""


def test_a_standby_that_cannot_resolve_the_primary_stops_the_setup_before_any_change():
    t = Training("fresh-install")
    assert sh(t, "mn2", "sed -i '/mn1/d' /etc/hosts")[0] == 0
    r = run(t, "db2-hadr-setup", **SETUP)
    assert r.outcome == "failed" and r.steps["name-resolution"] == "failed"
    # nothing was changed: only the always section ran (starting an xcatd that never stopped)
    assert {s for s, _, _ in r.sent} <= {"ensure-xcatd-primary", "ensure-xcatd-service-nodes"}
    assert t.sim.nodes["mn1"].services["xcatd"].running


def test_dhcpd_running_on_the_standby_is_stopped_and_xcatd_stays_stopped_there():
    t = Training("fresh-install")
    assert sh(t, "mn2", "echo 'subnet 192.0.2.0 netmask 255.255.255.0 {}' > /etc/dhcp/dhcpd.conf && service dhcpd start")[0] == 0
    r = run(t, "db2-hadr-setup", **SETUP)
    assert r.outcome == "done", {s: o for s, o in r.steps.items() if o == "failed"}
    assert r.steps["stop-dhcpd-standby"] == "done" and r.commands("stop-dhcpd-standby") == ["service dhcpd stop"]
    mn2 = t.sim.nodes["mn2"]
    assert not mn2.services["dhcpd"].running and not mn2.services["xcatd"].running
    assert t.sim.nodes["mn1"].services["dhcpd"].running  # the primary keeps serving DHCP


def test_on_aix_the_names_are_resolved_with_host():
    """The cluster file's platform picks `host` (test_db2_runbooks_platform.py sees the commands sent)."""
    t = Training("fresh-install", platform="aix")
    assert sh(t, "mn2", "sed -i '/mn1/d' /etc/hosts")[0] == 0
    r = run(t, "db2-hadr-setup", **SETUP)
    assert r.outcome == "failed" and r.steps["name-resolution"] == "failed"  # `host mn1` fails on mn2
    r = run(Training("fresh-install", platform="aix"), "db2-hadr-setup", **SETUP)
    assert r.outcome == "done", {s: o for s, o in r.steps.items() if o == "failed"}
    assert r.steps["name-resolution"] == "done"
    assert r.steps["dhcpd-standby-status"] == "skipped"  # no DHCP on AIX management nodes
