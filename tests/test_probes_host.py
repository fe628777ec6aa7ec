"""Host probes over real SSH: reachability, a service's state, who holds the service IP, clock skew."""
from __future__ import annotations

import asyncio

from hamn_tui.cluster.loader import load_cluster
from hamn_tui.probes.host import host_probes
from hamn_tui.transport.local import LocalTransport
from hamn_tui.transport.router import Router
from hamn_tui.transport.ssh import SshTransport

from .sshd_fixture import free_port, sshd  # noqa: F401


def cluster_with_ip(sshd, tmp, ip: str, unreachable_mn1: bool = False):  # noqa: F811
    path = sshd.cluster_toml(tmp / "cluster.toml")
    text = path.read_text() + f'\n[service_ip]\naddress = "{ip}"\nprefix = 8\ninterface = "lo"\n'
    if unreachable_mn1:
        text = text.replace(f"port = {sshd.port}", f"port = {free_port()}", 1)
    path.write_text(text)
    return load_cluster(path)


def read(cluster, node, probe, args=None):
    async def go():
        t = Router(LocalTransport(), SshTransport(cluster))
        try:
            return await host_probes(t, cluster).read(node, probe, args or {})
        finally:
            await t.close()

    return asyncio.run(go())


def test_reachable_and_unreachable(sshd, tmp_path):  # noqa: F811
    c = cluster_with_ip(sshd, tmp_path, "127.0.0.1", unreachable_mn1=True)
    assert read(c, "mn2", "host.reachable").fields == {"reachable": True}
    down = read(c, "mn1", "host.reachable")
    assert down.fields == {"reachable": False} and "Connection refused" in down.error


def test_service_ip_held_by_two_nodes_is_reported_as_such(sshd, tmp_path):  # noqa: F811
    # both test nodes are this machine, which has 127.0.0.1: exactly the split-brain picture
    r = read(cluster_with_ip(sshd, tmp_path, "127.0.0.1"), "mn1", "host.service_ip")
    assert r.fields == {"holder": None, "holds": True}
    assert r.error == "the service IP is on 2 nodes: mn1, mn2"


def test_service_ip_held_by_nobody(sshd, tmp_path):  # noqa: F811
    r = read(cluster_with_ip(sshd, tmp_path, "127.0.0.77"), "mn2", "host.service_ip")
    assert r.fields == {"holder": None, "holds": False} and r.error is None


def test_service_ip_with_the_other_node_unreachable(sshd, tmp_path):  # noqa: F811
    r = read(cluster_with_ip(sshd, tmp_path, "127.0.0.1", unreachable_mn1=True), "mn2", "host.service_ip")
    assert r.fields == {"holder": "mn2", "holds": True}


def test_service_state(sshd, tmp_path):  # noqa: F811
    c = cluster_with_ip(sshd, tmp_path, "127.0.0.1")
    r = read(c, "mn1", "host.service", {"service": "hamn-no-such-service"})
    assert r.fields == {"running": False}
    hostile = read(c, "mn1", "host.service", {"service": "x; touch /tmp/hamn-service-pwned"})
    assert hostile.fields == {"running": False}
    import os

    assert not os.path.exists("/tmp/hamn-service-pwned")


def test_clock_skew_is_small_on_the_same_machine(sshd, tmp_path):  # noqa: F811
    r = read(cluster_with_ip(sshd, tmp_path, "127.0.0.1"), "mn1", "host.clock")
    assert abs(r.fields["skew_s"]) < 1.0
