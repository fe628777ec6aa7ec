"""The simulator's shell: the constructs the runbooks and probes use, and a clear refusal of everything else."""
from __future__ import annotations

import asyncio

import pytest

from hamn_tui.sim.actions import crash_node
from hamn_tui.sim.training import Training
from hamn_tui.transport.base import TransportError

from .sim_support import sh


@pytest.fixture(scope="module")
def t() -> Training:
    return Training("healthy")


def test_unknown_command_is_command_not_found_127(t):
    assert sh(t, "mn1", "frobnicate --now") == (127, "", "bash: frobnicate: command not found\n")
    assert sh(t, "mn1", "true && nosuch; echo after") == (0, "after\n", "bash: nosuch: command not found\n")


@pytest.mark.parametrize("text,what", [
    ("echo $(hostname)", "$ expansion"), ("echo `hostname`", "backquote"), ("sleep 5 &", "background"),
    ("(cd /tmp; true)", "subshell"), ("for i in 1 2; do echo x; done", "for"), ("X=1 true", "assignment"),
    ("cat <<EOF\nx\nEOF", "here-document"), ('echo "$HOME"', "expansion inside double quotes"),
])
def test_constructs_not_simulated_are_refused_with_127(t, text, what):
    status, out, err = sh(t, "mn1", text)
    assert status == 127 and out == ""
    assert err.startswith("hamn training: not simulated:") and what in err


def test_a_known_command_in_a_form_not_simulated_is_refused_with_127(t):
    status, _, err = sh(t, "mn1", "sed -e 's/a/b/' /etc/hosts")
    assert status == 127 and "not simulated" in err and "sed script" in err


def test_and_or_pipes_groups_and_exit(t):
    assert sh(t, "mn1", "false || echo a && echo b") == (0, "a\nb\n", "")
    assert sh(t, "mn1", "grep -w DB2_HADR_1 /etc/services | grep -qw 55001/tcp")[0] == 0
    assert sh(t, "mn1", "grep -q nothing-like-this /etc/services || { echo x; echo y; } | wc -l") == (0, "2\n", "")
    assert sh(t, "mn1", "if true; then exit 7; else exit 3; fi") == (7, "", "")
    assert sh(t, "mn1", "! grep -q ssh /etc/services")[0] == 1
    assert sh(t, "mn1", "echo a b c | awk '{print $2}'") == (0, "b\n", "")


def test_quoted_operators_are_arguments(t):
    """The file-sync cron line: '|' and '&&' in quotes are words for echo, not a pipe."""
    assert sh(t, "mn1", "echo a '|' b '&&' c") == (0, "a | b && c\n", "")


def test_redirections_to_files_and_dev_null(t):
    assert sh(t, "mn1", "echo one > /tmp/f && echo two >> /tmp/f && cat /tmp/f") == (0, "one\ntwo\n", "")
    assert sh(t, "mn1", "cat /nonexistent 2>/dev/null") == (1, "", "")
    assert sh(t, "mn1", "cat /nonexistent >/dev/null 2>&1") == (1, "", "")
    assert sh(t, "mn1", "echo x > /etc/hosts", user="xcatdb") == (0, "", "bash: /etc/hosts: Permission denied\n")


def test_globs_match_the_nodes_files_and_quoted_globs_do_not(t):
    status, out, _ = sh(t, "mn1", "echo /etc/ssh/ssh_host_*_key")
    assert out == "/etc/ssh/ssh_host_ed25519_key /etc/ssh/ssh_host_rsa_key\n"
    assert sh(t, "mn1", "echo '/etc/ssh/ssh_host_*'") == (0, "/etc/ssh/ssh_host_*\n", "")
    assert sh(t, "mn1", "test -s /etc/ssh/nothing.*.001")[0] == 1


def test_db2_commands_are_on_the_instance_owners_path_only(t):
    assert sh(t, "mn1", "db2 get db cfg for XCATDB")[0] == 127
    status, out, _ = sh(t, "mn1", "su - xcatdb -c 'db2 get db cfg for XCATDB'")
    assert status == 0 and "HADR database role                                      = PRIMARY" in out
    assert sh(t, "mn1", "db2 list history backup all for XCATDB", user="xcatdb")[0] == 4  # CLP error: not simulated, no invented message


def test_the_host_probes_commands_are_answered(t):
    svc = ("if command -v lssrc >/dev/null 2>&1; then lssrc -s xcatd | grep -qw active && exit 0 || exit 3; "
           "else service xcatd status >/dev/null 2>&1; fi")
    assert sh(t, "mn1", svc) == (0, "", "")
    assert sh(t, "mn2", svc) == (3, "", "")
    status, out, _ = sh(t, "mn1", "ip -o addr show 2>/dev/null || ifconfig -a")
    assert status == 0 and " 192.0.2.10/24 " in out and " 192.0.2.11/24 " in out
    assert float(sh(t, "mn1", "date +%s.%N")[1]) == pytest.approx(t.clock())


def test_the_cron_install_is_idempotent(t):
    cmd = ("crontab -l 2>/dev/null | grep -q hamn-file-sync || { crontab -l 2>/dev/null; "
           "echo '0 * * * *' /usr/bin/true '# hamn-file-sync'; } | crontab -")
    assert sh(t, "mn2", cmd)[0] == 0
    assert sh(t, "mn2", cmd)[0] == 0
    assert sh(t, "mn2", "crontab -l") == (0, "0 * * * * /usr/bin/true # hamn-file-sync\n", "")
    assert sh(t, "mn2", "crontab -l | grep -v hamn-file-sync | crontab - && crontab -l") == (0, "", "")


def test_ssh_and_rsync_follow_trust_and_the_network():
    t = Training("network-partition")
    assert sh(t, "mn1", "ssh -o BatchMode=yes 192.0.2.12 true") == (255, "", "ssh: connect to host 192.0.2.12 port 22: No route to host\n")
    assert sh(t, "sn1", "ssh -o BatchMode=yes 192.0.2.11 true")[0] == 255  # root on a service node is not trusted
    status, _, err = sh(t, "mn1", "rsync -a /etc/hosts 192.0.2.12:/tmp/")
    assert status == 12 and "No route to host" in err


def test_an_unreachable_node_is_a_transport_error_and_a_dying_node_a_lost_command():
    t = Training("primary-node-crash")
    with pytest.raises(TransportError, match="No route to host"):
        asyncio.run(t.transport.run("mn1", "true"))
    t.vclock.call_at(t.clock() + 5, lambda: crash_node(t.sim, t.sim.nodes["mn2"]))
    result = asyncio.run(t.transport.run("mn2", "sleep 10"))
    assert result.ending == "lost" and result.unknown


def test_a_command_longer_than_its_timeout_is_unknown():
    t = Training("healthy")
    result = asyncio.run(t.transport.run("mn1", "sleep 30", timeout_s=10))
    assert result.ending == "timeout" and result.unknown
