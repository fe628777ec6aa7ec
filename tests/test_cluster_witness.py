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
