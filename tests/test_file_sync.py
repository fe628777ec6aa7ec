"""file-sync-setup on the training simulator: the standby prerequisites, root's SSH keys and
/tftpboot in the synced set, restorecon only where SELinux is on, and rollbacks that put back
what was there (the standby's own key pair, an earlier cron line)."""
from __future__ import annotations

from hamn_tui.runbook.loader import load_runbook
from hamn_tui.sim.scenario import Fault
from hamn_tui.sim.training import Training

from .conftest import REPO
from .sim_support import run, sh

ANSWERS = dict(yes=True, confirms={"sync-config": "mn2", "sync-install": "mn2"})
OLD_LINE = "0 * * * * rsync -aq --relative -- /etc/xcat /install 192.0.2.12:/ # hamn-file-sync"


def _restorecons(t: Training) -> list[str]:
    return [text for _, text in t.sim.history if "restorecon" in text]


def test_the_file_sync_is_database_independent_and_offered_for_pg_too():
    rb = load_runbook(REPO / "runbooks" / "file-sync-setup.toml")
    assert rb.runbook.databases == ["db2", "pg"]
    assert not [s.id for _, _, s in rb.all_steps() if "cluster.db2." in " ".join(s.commands()) or "cluster.pg." in " ".join(s.commands())]


def test_a_fresh_standby_gets_xcatd_and_dhcpd_stopped_and_the_keys_and_boot_files_of_the_primary():
    t = Training("fresh-install")  # xcatd runs on mn2; its files are its own
    assert sh(t, "mn2", "echo 'subnet 192.0.2.0 netmask 255.255.255.0 {}' > /etc/dhcp/dhcpd.conf && service dhcpd start")[0] == 0
    mn1, mn2 = t.sim.nodes["mn1"], t.sim.nodes["mn2"]
    own_key = mn2.fs.read("/root/.ssh/id_rsa")
    r = run(t, "file-sync-setup", **ANSWERS)
    assert r.outcome == "done", r.steps
    assert (r.steps["stop-xcatd-standby"], r.steps["stop-dhcpd-standby"]) == ("done", "done")
    assert not mn2.services["xcatd"].running and not mn2.services["dhcpd"].running
    assert mn2.fs.read("/root/.ssh/id_rsa") == mn1.fs.read("/root/.ssh/id_rsa") != own_key  # xdsh's key
    assert mn2.fs.read("/root/.ssh/hamn-own-keys/id_rsa") == own_key
    assert mn2.fs.read("/tftpboot/xcat/xnba/nodes/cn001") == mn1.fs.read("/tftpboot/xcat/xnba/nodes/cn001")
    assert _restorecons(t) == ["mn2: restorecon -R /etc/xcat /root/.xcat /root/.ssh /install /tftpboot /etc/hosts /etc/resolv.conf"]
    line = sh(t, "mn1", "crontab -l")[1]
    assert "'/root/.ssh/id_*'" not in line and "/root/.ssh/id_* " in line and " /tftpboot 192.0.2.12:/" in line
    assert "'if /usr/sbin/selinuxenabled; then /sbin/restorecon -R " in line and line.count("# hamn-file-sync") == 1 and len(line.splitlines()) == 1


def test_the_preflight_finds_the_files_in_sync_after_the_copy():
    t = Training("healthy")
    assert sh(t, "mn1", "echo new > /install/postscripts/site-local && echo other > /root/.ssh/id_rsa")[0] == 0
    before = run(t, "xcat-ha-preflight", attests={"udp-firewall"})
    assert before.steps.get("deploy-in-sync") == "failed"
    assert run(t, "file-sync-setup", **ANSWERS).outcome == "done"
    after = run(t, "xcat-ha-preflight", attests={"udp-firewall"})
    assert after.outcome == "done", after.steps


def test_without_selinux_restorecon_does_not_run():
    t = Training("healthy")
    assert sh(t, "mn2", "echo SELINUX=disabled > /etc/selinux/config")[0] == 0
    r = run(t, "file-sync-setup", **ANSWERS)
    assert r.outcome == "done" and r.steps["restorecon-standby"] == "done"
    assert _restorecons(t) == []


def test_rolling_back_the_key_copy_puts_the_standbys_own_keys_back():
    t = Training("fresh-install")
    own_key = t.sim.nodes["mn2"].fs.read("/root/.ssh/id_rsa")
    # restorecon fails (a path it must relabel vanished under it): the run rolls back to the key copy
    t._pending.append(Fault(action="run", node="mn2", command="rm -rf /tftpboot", at_step="restorecon-standby", on="start"))
    r = run(t, "file-sync-setup", on_failure="rollback", **ANSWERS)
    assert r.steps["restorecon-standby"] == "failed"
    assert r.commands("sync-ssh-keys")[-1] == "rsync -a -- /root/.ssh/hamn-own-keys/ /root/.ssh/"
    assert t.sim.nodes["mn2"].fs.read("/root/.ssh/id_rsa") == own_key


def test_an_earlier_cron_line_is_replaced_and_a_rollback_puts_it_back():
    t = Training("healthy")
    assert sh(t, "mn1", f"echo '{OLD_LINE}' | crontab -")[0] == 0
    t.sim.nodes["mn1"].services["crond"].running = False  # verify-cron fails: the run rolls back
    r = run(t, "file-sync-setup", on_failure="rollback", **ANSWERS)
    assert r.steps["install-cron"] == "done" and r.steps["verify-cron"] == "failed"
    assert sh(t, "mn1", "crontab -l")[1] == OLD_LINE + "\n"
    t.sim.nodes["mn1"].services["crond"].running = True
    assert run(t, "file-sync-setup", **ANSWERS).outcome == "done"
    line = sh(t, "mn1", "crontab -l")[1]
    assert line.count("# hamn-file-sync") == 1 and len(line.splitlines()) == 1 and "/tftpboot" in line and OLD_LINE not in line
