"""The cluster file: the example validates; mistakes are located like runbook mistakes."""
from __future__ import annotations

from .conftest import REPO

EXAMPLE = (REPO / "examples" / "cluster.toml").read_text()


def errs(v):
    assert v.exit_code == 1, v.output
    return [(int(m["line"]), m["msg"]) for m in v.located()]


def test_example_cluster_is_valid(validate_text):
    v = validate_text(EXAMPLE, "cluster.toml")
    assert v.exit_code == 0, v.output
    assert v.lines == ['cluster.toml: ok: cluster "xcat-hamn" (db2), 4 nodes']


def test_two_primaries(validate_text):
    text = EXAMPLE.replace('role = "standby"', 'role = "primary"')
    msgs = [m for _, m in errs(validate_text(text, "cluster.toml"))]
    assert 'nodes: exactly one node must have role = "primary" (found 2: mn1, mn2)' in msgs
    assert 'nodes: exactly one node must have role = "standby" (found 0: none)' in msgs


def test_group_member_unknown(validate_text):
    text = EXAMPLE.replace('service_nodes = ["sn1", "sn2"]', 'service_nodes = ["sn1", "sn3"]')
    [(line, msg)] = errs(validate_text(text, "cluster.toml"))
    assert msg.startswith('groups.service_nodes[1]: unknown node "sn3" (did you mean "sn')
    assert line == [n for n, l in enumerate(text.splitlines(), 1) if l.startswith("service_nodes")][0]


def test_database_section_required(validate_text):
    text = EXAMPLE.replace('database = "db2"', 'database = "pg"')
    [(_, msg)] = errs(validate_text(text, "cluster.toml"))
    assert msg == 'cluster.database: database = "pg" needs a [pg] table'


def test_bad_port_and_unknown_key(validate_text):
    text = EXAMPLE.replace("port = 22\n", "port = 70000\n").replace('run_as = "su"', 'runas = "su"')
    msgs = [m for _, m in errs(validate_text(text, "cluster.toml"))]
    assert "nodes.mn1.port: input should be less than or equal to 65535, got 70000" in msgs
    assert 'nodes.mn1.runas: unknown key "runas" (did you mean "run_as"?)' in msgs


def test_run_as_must_be_a_known_method(validate_text):
    text = EXAMPLE.replace('run_as = "su"', 'run_as = "doas"')
    [(_, msg)] = errs(validate_text(text, "cluster.toml"))
    assert msg == "nodes.mn1.run_as: 'doas' is not allowed; expected 'su', 'sudo' or 'runuser'"


def test_peer_window_needs_a_sync_mode(validate_text):
    text = EXAMPLE.replace('syncmode = "NEARSYNC"', 'syncmode = "ASYNC"')
    [(_, msg)] = errs(validate_text(text, "cluster.toml"))
    assert msg == "db2.peer_window_s: a peer window applies only to SYNC and NEARSYNC, not ASYNC"


def test_relative_key_paths_are_beside_the_cluster_file(tmp_path, monkeypatch):
    """`known_hosts = "known_hosts"` means the file next to the cluster file, whatever directory
    hamn is started from; `~` is the operator's home; absolute paths stay as written."""
    from hamn_tui.cluster.loader import load_cluster

    from .conftest import REPO

    text = (REPO / "examples" / "cluster.toml").read_text()
    text = text.replace('known_hosts = "/etc/hamn/known_hosts"', 'known_hosts = "keys/known_hosts"\nidentity = "~/id_lab"')
    text = text.replace('# key = "/root/.ssh/id_ed25519"', 'key = "/srv/hamn/signing_key"')
    site = tmp_path / "site"
    site.mkdir()
    (site / "cluster.toml").write_text(text)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    c = load_cluster("../site/cluster.toml")
    assert c.ssh.known_hosts == str(site / "keys" / "known_hosts")
    assert c.ssh.identity == str(tmp_path / "home" / "id_lab")
    assert c.signing.key == "/srv/hamn/signing_key"
