"""Build the simulated cluster a scenario starts from.

"standalone": what xCAT leaves after installing both management nodes — two separate XCATDBs
(different database seeds), circular logging, no HADR; xcatd, DNS, DHCP and consoles on the
primary. "pair": the same, then made into an HADR pair by running the xCAT procedure's own
commands through the interpreter (offline backup, restore, HADR cfg, standby first), so the
starting pair is exactly what those commands produce; then 20 minutes of workload.
"""
from __future__ import annotations

from ..cluster.model import Cluster
from .cluster import CONSOLE, MN, SN, Service, SimCluster, SimNode
from .clock import VirtualClock
from .db2 import Database
from .fs import SimFs
from .commands.db2auto import set_autostart
from .shell import Shell

WARM_UP_S = 1200
SERVICE_IP_NAME = "xcatmn"
"""The service IP's name in every node's /etc/hosts."""
BASE_SERVICES = "ssh             22/tcp\nssh             22/udp\ndb2c_xcatdb     60000/tcp\n"


class BuildError(Exception):
    """A scenario's start state could not be reached (a bug in the scenario or the simulator)."""


def _fs(sim: SimCluster, node: SimNode, primary: bool) -> SimFs:
    fs = node.fs
    for d in ("/etc", "/etc/ssh", "/root", "/usr", "/usr/bin", "/usr/sbin", "/sbin", "/var", "/var/lib", "/var/lock", "/var/log", "/tmp"):
        fs.mkdir(d, parents=True)
    for exe in ("/usr/bin/rsync", "/usr/bin/crontab", "/usr/bin/flock", "/usr/sbin/arping", "/sbin/ifconfig", "/usr/sbin/selinuxenabled",
                "/sbin/restorecon"):
        fs.write(exe, "ELF", mode=0o755)
    fs.write("/usr/sbin/mktcpip" if node.os == "aix" else "/sbin/ip", "ELF", mode=0o755)
    fs.write("/etc/services", BASE_SERVICES)
    fs.write("/etc/hosts", "127.0.0.1 localhost\n" + "".join(f"{n.address} {n.hostname}\n" for n in sim.nodes.values() if n.kind != CONSOLE)
             + f"{sim.service_ip} {SERVICE_IP_NAME}\n")  # the name xCAT's clients use for the management node (xCAT HAMN docs)
    fs.mkdir("/etc/selinux")
    fs.write("/etc/selinux/config", "SELINUX=enforcing\nSELINUXTYPE=targeted\n")  # RHEL's default
    fs.write("/etc/resolv.conf", f"search cluster.example\nnameserver {sim.service_ip}\n")
    if node.os == "linux":
        fs.write("/etc/hostname", f"{node.hostname}\n")
    for kind in ("rsa", "ed25519"):
        fs.write(f"/etc/ssh/ssh_host_{kind}_key", f"-----BEGIN OPENSSH PRIVATE KEY----- {node.name} {kind}", mode=0o600)
        fs.write(f"/etc/ssh/ssh_host_{kind}_key.pub", f"ssh-{kind} AAAA{node.name} root@{node.hostname}")
    if node.kind != MN:
        fs.mkdir("/etc/xcat")
        fs.write("/etc/xcat/cfgloc", f"DB2:{sim.dbname}|{sim.instance}|\n", mode=0o600)  # a DB2 client's: no host (the catalog names it)
        return fs
    home = sim.instance_home
    for d in ("/etc/xcat", "/etc/xcat/ca", "/etc/xcat/cert", "/etc/xcat/hostkeys", "/root/.xcat", "/install", "/etc/dhcp",
              "/var/named", "/var/lib/dhcpd", "/root/.ssh", "/tftpboot"):
        fs.mkdir(d, parents=True)
    fs.write("/etc/xcat/cfgloc", f"DB2:{sim.dbname}|{sim.instance}|\n", mode=0o600)
    fs.write("/etc/xcat/ca/ca-cert.pem", f"xCAT CA of {node.hostname}\n")
    fs.write("/etc/xcat/cert/server-cred.pem", f"xCAT server credentials of {node.hostname}\n", mode=0o600)
    fs.write("/root/.xcat/client-cred.pem", f"root's xCAT client credentials issued by {node.hostname}\n", mode=0o600)
    fs.write("/root/.ssh/id_rsa", f"-----BEGIN OPENSSH PRIVATE KEY----- root@{node.hostname}", mode=0o600)  # xdsh's key
    fs.write("/root/.ssh/id_rsa.pub", f"ssh-rsa AAAAroot{node.name} root@{node.hostname}")
    if primary:
        for d in ("/install/postscripts", "/install/rhels8.8/x86_64"):
            fs.mkdir(d, parents=True)
        fs.write("/install/postscripts/syslog", "#!/bin/sh\n", mode=0o755)
        fs.write("/install/rhels8.8/x86_64/.treeinfo", "[general]\nfamily = Red Hat Enterprise Linux\n")
        fs.mkdir("/tftpboot/xcat/xnba/nodes", parents=True)
        fs.write("/tftpboot/xcat/xnba/nodes/cn001", f"#!gpxe\nchain http://{sim.service_ip}:80/tftpboot/xcat/xnba/nodes/cn001.uefi\n")
    fs.mkdir(home, parents=True, owner=sim.instance, group=sim.instance)
    fs.mkdir(f"{home}/sqllib/db2dump", parents=True, owner=sim.instance, group=sim.instance)
    fs.write(f"{home}/sqllib/db2dump/db2diag.log", "", owner=sim.instance)
    fs.write(f"{home}/sqllib/db2nodes.cfg", f"0 {node.hostname} 0\n", owner=sim.instance)
    return fs


def _xcat_tables(sim: SimCluster, node: SimNode, full: bool) -> None:
    """The xCAT objects in a fresh XCATDB (the primary's holds the cluster's real definitions)."""
    sim.append(node, ("mkdef", "site", "clustersite", f"master={sim.service_ip}", f"nameservers={sim.service_ip}", "domain=cluster.example",
                      "databaseloc=/var/lib"), 4096)
    if not full:
        return
    sim.append(node, ("mkdef", "network", "192_0_2_0-255_255_255_0", "net=192.0.2.0", "mask=255.255.255.0", "mgtifname=eth0",
                      f"dhcpserver={sim.service_ip}", f"tftpserver={sim.service_ip}"), 4096)
    sim.append(node, ("mkdef", "osimage", "rhels8.8-x86_64-install-compute", "imagetype=linux", "osvers=rhels8.8", "provmethod=install"), 4096)
    for i in range(1, 5):
        sim.append(node, ("mkdef", "node", f"cn{i:03d}", "groups=compute,all", f"ip=192.0.2.{100 + i}", f"mac=52:54:00:00:01:{i:02x}",
                          "mgt=ipmi", "cons=ipmi", f"xcatmaster={sim.service_ip}", f"tftpserver={sim.service_ip}",
                          f"nfsserver={sim.service_ip}"), 4096)


def build(cluster: Cluster, *, clock: VirtualClock, seed: int, level: str, start: str, autostart: dict[str, bool],
          skew: dict[str, float], syncmode: str | None = None, hadr_timeout_s: int | None = None, peer_window_s: int | None = None) -> SimCluster:
    db2 = cluster.db2
    sip = cluster.service_ip
    assert db2 is not None and sip is not None
    sim = SimCluster(clock=clock, seed=seed, level=level, instance=db2.instance, database=db2.database, instance_home=db2.instance_home,
                     service_ip=sip.address, service_prefix=sip.prefix)
    primary = cluster.node_with_role("primary")
    standby = cluster.node_with_role("standby")
    assert primary and standby
    for name, n in cluster.nodes.items():
        kind = MN if n.role in ("primary", "standby") else SN
        iface = n.interface or sip.interface
        node = sim.add(SimNode(name, n.hostname, n.address, kind, os=n.platform, interface=iface, prefix=sip.prefix,
                               autostart=autostart.get(name, False), clock_skew_s=skew.get(name, 0.0)))
        node.addrs = {iface: [f"{n.address}/{sip.prefix}"]}
        node.persistent_addrs = {iface: [f"{n.address}/{sip.prefix}"]}
        node.users = ["root", db2.instance] if kind == MN else ["root"]
        node.services = {"sshd": Service(True, True, sim.next_pid()), "crond": Service(True, True, sim.next_pid())}
    sim.add(SimNode("local", "console", "127.0.0.1", CONSOLE, xcat_client=True))
    mns = [sim.nodes[primary[0]], sim.nodes[standby[0]]]
    for node in sim.nodes.values():
        if node.kind == CONSOLE:
            continue
        _fs(sim, node, node is mns[0])
        node.trusts_root_of = [m.name for m in mns if m is not node]
    created = int(clock.now()) - 30 * 86400
    for node in mns:
        if node.autostart:  # db2iauto -on: the registry says so too (db2set -all)
            set_autostart(sim, node, True)
        node.instance_up = True
        node.db = Database(db2.database, seed=sim.rng.getrandbits(32), base_pos=1_300_000_000 + sim.rng.randrange(4_000_000),
                           created=created)
        node.db.replay_pos = node.db.end
        _xcat_tables(sim, node, full=node is mns[0])
    p, s = mns
    p.services.update(xcatd=Service(enabled=True), named=Service(enabled=True), dhcpd=Service(enabled=True), conserver=Service(enabled=True),
                      httpd=Service(True, True, 2080))  # a fixed pid: the other pids stay as they were
    s.services.update(xcatd=Service(), named=Service(), dhcpd=Service(), conserver=Service(), httpd=Service())
    for sn in (n for n in sim.nodes.values() if n.kind == SN):
        sn.services["xcatd"] = Service(enabled=True)
    p.addrs[p.interface].append(f"{sip.address}/{sip.prefix}")
    run = _runner(sim)
    root, inst = "root", db2.instance
    for node in [p] + [n for n in sim.nodes.values() if n.kind == SN]:
        run(node, root, _service(node, "xcatd", "start"))
    if p.os == "aix":  # DHCP: Linux only (xCAT 2 wiki §8.0 item 7); SRC subsystems on AIX
        run(p, root, "makedns -n && makeconservercf && startsrc -s conserver")
    else:
        run(p, root, "makedns -n && makedhcp -n && makedhcp -a && makeconservercf && service conserver start")
    if start == "standalone":
        run(s, root, _service(s, "xcatd", "start"))
        clock.advance(60)
        return sim
    # --- the HADR pair, made as the xCAT procedure makes it -------------------------------------------------
    for node in sim.nodes.values():
        if node.kind != CONSOLE:
            run(node, root, _service(node, "xcatd", "stop"), ok=(0, 1))
    backup = db2.backup_dir
    archive = "LOGRETAIN ON" if level == "9.7" else "LOGARCHMETH1 LOGRETAIN"
    run(p, inst, f"db2 deactivate database {db2.database}", ok=(0, 2))
    run(p, inst, f"db2 update db cfg for {db2.database} using {archive} TRACKMOD ON LOGINDEXBUILD ON INDEXREC RESTART")
    for node in mns:
        run(node, root, f"mkdir -p {backup} && chown {inst}:{inst} {backup}")
        run(node, root, f"echo {db2.hadr_svc_primary} {db2.hadr_port_primary}/tcp >> /etc/services && "
                        f"echo {db2.hadr_svc_standby} {db2.hadr_port_standby}/tcp >> /etc/services")
    out = run(p, inst, f"db2 backup database {db2.database} to {backup}")
    ts = out.split("image is : ")[1].split()[0]
    run(p, root, f"rsync -a {backup}/*.{ts}.* {s.address}:{backup}/")
    run(s, inst, f"db2 restore database {db2.database} from {backup} taken at {ts} replace history file without prompting", ok=(0, 2))
    sync = syncmode or db2.syncmode
    timeout = hadr_timeout_s or db2.hadr_timeout_s
    window = db2.peer_window_s if peer_window_s is None else peer_window_s
    for me, other, my_svc, other_svc in ((p, s, db2.hadr_svc_primary, db2.hadr_svc_standby), (s, p, db2.hadr_svc_standby, db2.hadr_svc_primary)):
        run(me, inst, f"db2 update alternate server for database {db2.database} using hostname {other.address} port {db2.port}")
        run(me, inst, f"db2 update db cfg for {db2.database} using HADR_LOCAL_HOST {me.address} HADR_LOCAL_SVC {my_svc} "
                      f"HADR_REMOTE_HOST {other.address} HADR_REMOTE_SVC {other_svc} HADR_REMOTE_INST {inst} "
                      f"HADR_SYNCMODE {sync} HADR_TIMEOUT {timeout} HADR_PEER_WINDOW {window}")
    # file sync (xCAT 2 wiki §6; hamn's file-sync-setup) has staged the primary's SSH host keys on the
    # standby, for a host-name takeover
    run(p, root, f"rsync -a -- /etc/ssh/ssh_host_* {s.address}:/etc/ssh/hamn-primary-host-keys/")
    run(s, inst, f"db2 start hadr on database {db2.database} as standby")
    run(p, inst, f"db2 start hadr on database {db2.database} as primary")
    for node in [p] + [n for n in sim.nodes.values() if n.kind == SN]:
        run(node, root, _service(node, "xcatd", "start"))
    # the files HADR does not carry, as the xCAT HAMN procedure keeps them in sync (wiki "File Synchronization")
    run(p, root, f"rsync -a --relative -- /etc/xcat/ca /etc/xcat/cert /etc/xcat/hostkeys /root/.xcat /root/.ssh/id_rsa /root/.ssh/id_rsa.pub "
                 f"/install /tftpboot {s.address}:/")
    clock.advance(WARM_UP_S)
    return sim


def _service(node: SimNode, name: str, action: str) -> str:
    """Start or stop a service the node's way: Linux `service`, AIX SRC (stopsrc on a stopped
    subsystem exits 1 with 0513-004)."""
    if node.os == "aix":
        return f"{'startsrc' if action == 'start' else 'stopsrc'} -s {name}"
    return f"service {name} {action}"


def _runner(sim: SimCluster):
    def run(node: SimNode, user: str, command: str, ok: tuple[int, ...] = (0,)) -> str:
        status, out, err = Shell(sim, node, user).run(command)
        if status not in ok:
            raise BuildError(f"{node.name} as {user}: {command!r} -> exit {status}: {(out + err).strip()}")
        return out
    return run
