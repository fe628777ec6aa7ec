"""Values reach the shell as one inert word; secrets never show."""
from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from hamn_tui.cluster.loader import load_cluster
from hamn_tui.runbook.context import ParamError, RunContext, bind_roles, resolve_params
from hamn_tui.runbook.model import Runbook
from hamn_tui.runbook.template import REDACTED, Secret, TemplateError, quoted_placeholders, render

from .conftest import REPO

RB = Runbook.model_validate(
    {
        "runbook": {"id": "t", "title": "t", "version": "1", "databases": ["db2"], "summary": "s"},
        "params": {
            "node_name": {"type": "string", "description": "a node"},
            "count": {"type": "int", "description": "n", "default": 3},
            "db": {"type": "string", "description": "db", "default_from": "cluster.db2.database"},
            "pw": {"type": "secret", "description": "password", "required": False},
        },
        "steps": [{"id": "s", "title": "s", "kind": "manual", "attest": "ok"}],
    }
)
CLUSTER = load_cluster(REPO / "examples" / "cluster.toml")


def ctx(**given) -> RunContext:
    return RunContext(resolve_params(RB, given, CLUSTER), CLUSTER, bind_roles(CLUSTER))


INJECTIONS = ["x; touch {marker}", "$(touch {marker})", "`touch {marker}`", "a' ; touch {marker} ; '", 'a" ; touch {marker} ; "', "x\ntouch {marker}", "x && touch {marker} #", "--help", "*"]


@pytest.mark.parametrize("attack", INJECTIONS)
def test_injection_attempt_is_one_inert_word(attack: str, tmp_path: Path):
    marker = tmp_path / "pwned"
    value = attack.format(marker=marker)
    cmd = ctx(node_name=value).command("printf '%s\\n' {{ params.node_name }} done")
    assert shlex.split(cmd) == ["printf", "%s\\n", value, "done"]
    out = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert not marker.exists(), f"{attack!r} ran a command"
    assert out.stdout == value + "\n" + "done\n"


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1))
def test_any_value_is_exactly_one_word(value: str):
    value = value.replace("\x00", "")
    if not value:
        return
    rendered = render("echo {{ v }} tail", lambda name: value)
    assert shlex.split(rendered) == ["echo", value, "tail"]


def test_cluster_values_defaults_and_roles():
    c = ctx(node_name="mn9")
    assert c.params == {"node_name": "mn9", "count": 3, "db": "XCATDB"}
    assert c.command("db2 backup db {{ params.db }} to {{ cluster.db2.backup_dir }}") == "db2 backup db XCATDB to /var/lib/db2/backup"
    assert c.command("ssh {{ nodes.standby.address }} hostname") == "ssh 192.0.2.12 hostname"
    assert c.command("echo {{ node.hostname }}", node="primary") == "echo mn1"
    assert c.prose("Take over on {{ nodes.standby.hostname }}") == "Take over on mn2"


def test_roles_can_be_rebound_after_a_failover():
    c = RunContext({}, CLUSTER, bind_roles(CLUSTER, {"primary": "mn2", "standby": "mn1"}))
    assert c.command("{{ nodes.primary.hostname }}") == "mn2"
    with pytest.raises(ParamError, match="unknown node 'mn7'"):
        bind_roles(CLUSTER, {"primary": "mn7"})
    with pytest.raises(ParamError, match="both bound to 'mn1'"):
        bind_roles(CLUSTER, {"standby": "mn1"})


def test_typed_parameters_are_checked():
    assert ctx(node_name="a", count="12").params["count"] == 12
    with pytest.raises(ParamError, match="parameter 'count': expected an integer, got 'twelve'"):
        ctx(node_name="a", count="twelve")
    with pytest.raises(ParamError, match="parameter 'node_name' needs a value"):
        ctx()
    with pytest.raises(ParamError, match="unknown parameter 'nodename'"):
        ctx(nodename="x")


def test_secret_is_used_but_never_shown():
    c = ctx(node_name="a", pw="s3cr3t pass")
    text = "db2 connect to {{ params.db }} user xcatdb using {{ params.pw }}"
    assert c.command(text) == "db2 connect to XCATDB user xcatdb using 's3cr3t pass'"
    assert c.shown(text) == f"db2 connect to XCATDB user xcatdb using {REDACTED}"
    assert "s3cr3t" not in repr(c.params) and "s3cr3t" not in str(c.params["pw"])
    assert isinstance(c.params["pw"], Secret)


def test_undefined_name_at_render_time():
    with pytest.raises(TemplateError, match="undefined name 'params.nope'"):
        ctx(node_name="a").command("echo {{ params.nope }}")


@pytest.mark.parametrize(
    "text, inside",
    [
        ("echo '{{ a }}'", ["a"]),
        ('echo "x {{ a }}"', ["a"]),
        ("echo {{ a }} 'lit' {{ b }}", []),
        ("echo \\'{{ a }}", []),
        ('echo "it\\"s {{ a }}"', ["a"]),
        ("echo 'x' # '{{ a }}'", []),
    ],
)
def test_quoted_placeholder_detection(text, inside):
    assert [p.name for p in quoted_placeholders(text)] == inside
