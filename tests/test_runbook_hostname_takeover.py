"""The xCAT wiki's host-name takeover: it survives a reboot of the survivor, and it can be failed back.

Linux: the takeover writes the old primary's name to /etc/hostname (read at boot), makes sure
/etc/hosts names it, and installs the old primary's SSH host keys staged by file sync (the
survivor's own are kept). Failback after it: the survivor gives the name, address and keys back,
the old primary comes up with its own address, HADR is stopped on its stale database, and the
new HADR setup (whose first check wants both databases STANDARD) and the switch back complete it.
"""
from __future__ import annotations

from hamn_tui.sim.scenario import Action, Fault
from hamn_tui.sim.training import Training

from .sim_support import run, sh

TAKEOVER = dict(sets={"hostname_takeover": "yes"}, yes=True, confirms={"takeover-pwo": "XCATDB", "stop-hadr": "STOP HADR"},
                attests={"attest-fenced", "keep-fenced"})
MN2_PRIMARY = {"primary": "mn2", "standby": "mn1"}
MN1_KEY = "-----BEGIN OPENSSH PRIVATE KEY----- mn1 rsa"
MN2_KEY = "-----BEGIN OPENSSH PRIVATE KEY----- mn2 rsa"


def _taken_over() -> Training:
    t = Training("primary-node-crash")
    r = run(t, "failover-unplanned", **TAKEOVER)
    assert r.outcome == "done", {s: o for s, o in r.steps.items() if o not in ("done", "skipped")}
    return t


def test_the_linux_host_name_takeover_survives_a_reboot_of_the_survivor():
    t = _taken_over()
    mn2 = t.sim.nodes["mn2"]
    assert mn2.fs.text("/etc/hostname") == "mn1\n"
    assert mn2.fs.text("/etc/ssh/ssh_host_rsa_key") == MN1_KEY  # the staged keys, installed
    assert mn2.fs.text("/etc/ssh/hamn-own-host-keys/ssh_host_rsa_key") == MN2_KEY  # its own, kept
    t.apply(Action(action="crash_node", node="mn2"))
    t.apply(Action(action="power_on", node="mn2"))
    t.vclock.advance(120)
    assert mn2.up and mn2.hostname == "mn1"  # before: the cluster file's mn2 came back
    status, out, _ = sh(t, "mn2", "getent hosts mn1")
    assert status == 0 and out.split()[0] == "192.0.2.11"
    assert sh(t, "mn2", "db2start", user="xcatdb")[0] == 0  # db2nodes.cfg (mn1) matches the name again


def test_failback_after_a_host_name_takeover_gives_the_address_back_and_the_new_setup_accepts_both():
    t = _taken_over()
    mn1, mn2 = t.sim.nodes["mn1"], t.sim.nodes["mn2"]
    t._pending.append(Fault(action="power_on", node="mn1", at_step="power-on-old-primary", on="answer"))  # the operator powers it on
    r = run(t, "failback", roles=MN2_PRIMARY, yes=True, confirms={"stop-hadr-old-primary": "STOP HADR"},
            attests={"power-on-old-primary", "hand-over-to-setup"})
    assert r.outcome == "done", {s: o for s, o in r.steps.items() if o not in ("done", "skipped")}
    assert r.steps["survivor-standard"] == "done" and r.steps["takeover-back"] == "skipped"
    assert (mn2.hostname, mn2.fs.text("/etc/hostname")) == ("mn2", "mn2\n")
    assert not t.sim.holds(mn2, "192.0.2.11") and mn2.fs.text("/etc/ssh/ssh_host_rsa_key") == MN2_KEY
    assert mn1.up and mn1.hostname == "mn1" and t.sim.holds(mn1, "192.0.2.11")  # its own address back
    assert (mn1.db.cfg.role, mn2.db.cfg.role) == ("STANDARD", "STANDARD")
    assert sh(t, "mn2", "lsdef -t site -i master")[0] == 0  # xCAT served by the survivor meanwhile

    setup = run(t, "db2-hadr-setup", roles=MN2_PRIMARY, yes=True, confirms={"restore-standby": "mn1"}, attests={"same-db2-level"})
    assert setup.outcome == "done" and setup.steps["roles-standard"] == "done"
    back = run(t, "event-switch-roles-back", roles=MN2_PRIMARY, yes=True, confirms={"takeover": "XCATDB"}, attests={"roles-as-bound"})
    assert back.outcome == "done"
    assert (mn1.db.cfg.role, mn2.db.cfg.role, mn1.db.hadr.state) == ("PRIMARY", "STANDBY", "PEER")


def test_failback_in_service_ip_mode_still_reintegrates():
    """The other branch is untouched: after a takeover in service IP mode the survivor is PRIMARY."""
    t = Training("after-failover")
    r = run(t, "failback", roles=MN2_PRIMARY, yes=True, confirms={"takeover-back": "XCATDB"})
    assert r.outcome == "done"
    assert r.steps["survivor-standard"] == "failed" and r.steps["give-identity-back"] == "skipped"
    assert t.sim.nodes["mn1"].db.cfg.role == "PRIMARY"
