"""The runbooks and example files hamn ships are valid, and follow the procedure's conventions."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from hamn_tui.runbook.library import shipped_runbooks
from hamn_tui.cluster.loader import load_cluster
from hamn_tui.runbook.loader import load_runbook
from hamn_tui.inputs.toml_file import parse_toml_text
from hamn_tui.runbook.loader import runbook_from_document

from .conftest import REPO

RUNBOOKS = sorted((REPO / "runbooks").glob("*.toml"))
CLUSTER = load_cluster(REPO / "examples" / "cluster.toml")

EXPECTED = {
    "db2-hadr-setup", "db2-hadr-verify", "db2-sync-test", "failover-planned", "failover-unplanned", "failback",
    "pg-dump-restore-setup", "pg-streaming-setup", "pg-failover", "pg-failback", "file-sync-setup", "network-services",
    "event-standby-lost", "event-primary-lost", "event-primary-node-crash", "event-switch-roles-back",
}


def test_every_procedure_is_shipped():
    assert EXPECTED <= {p.stem for p in RUNBOOKS}


@pytest.mark.parametrize("path", RUNBOOKS, ids=lambda p: p.stem)
def test_runbook_is_valid_against_the_example_cluster(path: Path):
    rb = load_runbook(path, CLUSTER)
    assert rb.runbook.id == path.stem


@pytest.mark.parametrize("path", RUNBOOKS, ids=lambda p: p.stem)
def test_db2_commands_run_as_the_instance_owner(path: Path):
    rb = load_runbook(path, CLUSTER)
    for _, _, step in rb.all_steps():
        for cmd in step.commands():
            if re.match(r"\s*(db2|db2pd|db2gcf)\b", cmd):
                assert step.user == "{{ cluster.db2.instance }}", f"{step.id}: {cmd!r} runs as {step.user!r}"


@pytest.mark.parametrize("path", RUNBOOKS, ids=lambda p: p.stem)
def test_dangerous_db2_takeovers_need_typed_confirmation(path: Path):
    rb = load_runbook(path, CLUSTER)
    for _, _, step in rb.all_steps():
        if any(re.search(r"takeover hadr .*by force", c, re.I) for c in step.commands()):
            assert step.confirmation == "typed", f"{step.id} forces a takeover without typed confirmation"
            assert step.require, f"{step.id} forces a takeover without a gate"


def test_the_documented_example_is_valid():
    doc = (REPO / "docs" / "runbook-format.md").read_text()
    block = re.search(r"```toml\n(.*?)```", doc, re.S).group(1)
    rb = runbook_from_document(parse_toml_text(block, "runbook-format.md"), CLUSTER, "demo-takeover")
    assert [s.id for s in rb.steps] == ["gate", "how", "takeover", "backup", "wait-peer", "fenced", "stop-xcatd", "start-instance"]


def test_catalog_lists_every_shipped_runbook():
    good, bad = shipped_runbooks()
    assert not bad
    assert {rb.runbook.id for _, rb in good} == {p.stem for p in RUNBOOKS}


def test_console_script_validates_everything_shipped():
    """The real `hamn` entry point, as a user types it."""
    hamn = Path(sys.executable).with_name("hamn")
    out = subprocess.run([str(hamn), "validate", *map(str, RUNBOOKS), str(REPO / "examples" / "cluster.toml")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count(": ok: ") == len(RUNBOOKS) + 1
    broken = subprocess.run([sys.executable, "-m", "hamn_tui", "validate", str(REPO / "docs" / "cluster-file.md")], capture_output=True, text=True)
    assert broken.returncode == 1 and "Traceback" not in broken.stderr
    assert re.match(r"^.*cluster-file\.md:\d+:\d+: TOML syntax error", broken.stdout)
