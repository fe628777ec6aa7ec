"""The cluster file's [witness] section: node names and user@host[:port], located mistakes."""
from __future__ import annotations

from pathlib import Path

from hamn_tui.cluster.loader import load_cluster

from .conftest import REPO

EXAMPLE = (REPO / "examples" / "cluster.toml").read_text()


def test_witness_hosts_resolve_to_user_host_port_and_paths_are_anchored(tmp_path: Path):
    f = tmp_path / "c.toml"
    f.write_text(EXAMPLE + '\n[witness]\nhosts = ["mn2", "hw@10.0.0.9:2222", "hw@witness.example"]\nidentity = "wkey"\nkeys = "wkeys"\n')
    c = load_cluster(f)
    assert [c.witness_address(h) for h in c.witness.hosts] == [
        ("hamn-witness", c.nodes["mn2"].address, c.nodes["mn2"].port), ("hw", "10.0.0.9", 2222), ("hw", "witness.example", 22)]
    assert c.witness.identity == str(tmp_path / "wkey") and c.witness.keys == str(tmp_path / "wkeys")


def test_no_witness_section_means_no_witnesses(tmp_path: Path):
    f = tmp_path / "c.toml"
    f.write_text(EXAMPLE)
    assert load_cluster(f).witness.hosts == []


def test_bad_witness_hosts_are_located(validate_text):
    text = EXAMPLE + '\n[witness]\nhosts = ["mn9", "hw@-oProxyCommand=x", "hw@h:99999"]\n'
    v = validate_text(text, "cluster.toml")
    assert v.exit_code == 1, v.output
    msgs = [m["msg"] for m in v.located()]
    assert any(m.startswith("witness.hosts[0]: 'mn9' is neither a node of this cluster") for m in msgs), msgs
    assert any(m.startswith("witness.hosts[1]:") for m in msgs), msgs
    assert any(m.startswith("witness.hosts[2]: 'hw@h:99999': the port") for m in msgs), msgs


def test_a_witness_section_means_the_management_and_service_nodes_plus_its_hosts(tmp_path: Path):
    """Issue 15: by default the other management node and the service nodes witness (they outlive a
    dead primary), plus any hosts the cluster file names."""
    f = tmp_path / "c.toml"
    f.write_text(EXAMPLE.replace("[groups]", '[nodes.ws]\naddress = "ws.example"\nhostname = "ws"\nrole = "other"\n\n[groups]')
                 + '\n[witness]\nkeys = "wkeys"\n')
    c = load_cluster(f)
    assert "ws" in c.nodes
    assert c.witness_hosts() == ["mn1", "mn2", "sn1", "sn2"]  # not the workstation ("other")
    assert load_cluster(_write(tmp_path / "none.toml", EXAMPLE)).witness_hosts() == []
    more = load_cluster(_write(tmp_path / "more.toml", EXAMPLE + '\n[witness]\nhosts = ["mn2", "hw@vault.example"]\n'))
    assert more.witness_hosts() == ["mn1", "mn2", "sn1", "sn2", "hw@vault.example"]  # plus the hosts named, each once
    only = load_cluster(_write(tmp_path / "only.toml", EXAMPLE + '\n[witness]\nnodes = false\nhosts = ["hw@vault.example"]\n'))
    assert only.witness_hosts() == ["hw@vault.example"]


def test_a_witness_is_the_node_at_its_address_and_port(tmp_path: Path):
    c = load_cluster(_write(tmp_path / "c.toml", EXAMPLE))
    mn2 = c.nodes["mn2"]
    assert c.witness_nodes("mn2") == {"mn2"}
    assert c.witness_nodes(f"hw@{mn2.address}:{mn2.port}") == {"mn2"}
    assert c.witness_nodes(f"hw@{mn2.address}:{mn2.port + 1}") == set()  # another sshd on that machine's address: not that node
    assert c.witness_nodes("hw@elsewhere.example") == set()


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_without_a_service_nodes_group_it_is_the_nodes_of_role_service(tmp_path: Path):
    """The runbooks fan out to @service_nodes: a cluster file that does not list the group means its
    service nodes (and none, an empty group: the steps are skipped, saying so)."""
    line = next(x for x in EXAMPLE.splitlines() if x.startswith("service_nodes = "))
    c = load_cluster(_write(tmp_path / "c.toml", EXAMPLE.replace(line + "\n", "")))
    assert c.groups["service_nodes"] == ["sn1", "sn2"]
    listed = load_cluster(_write(tmp_path / "l.toml", EXAMPLE.replace(line, 'service_nodes = ["sn2"]')))
    assert listed.groups["service_nodes"] == ["sn2"]  # as given
