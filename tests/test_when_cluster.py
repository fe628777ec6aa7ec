"""One runbook for DB2 and PostgreSQL pairs: `when = { cluster = "database", equals = "pg" }`
picks the steps for the cluster file's database (network-services serves both)."""
from __future__ import annotations

import asyncio
from pathlib import Path

from hamn_tui.cluster.loader import load_cluster
from hamn_tui.engine.operator import AutoOperator
from hamn_tui.engine.runner import Runner
from hamn_tui.lab import cluster_toml
from hamn_tui.record.events import StepFinished, StepSkipped
from hamn_tui.runbook.context import RunContext, resolve_params
from hamn_tui.runbook.library import open_procedure
from hamn_tui.runbook.validate import validate_paths
from hamn_tui.transport.local import LocalTransport

from .conftest import REPO

TWO_WAYS = """
[[steps]]
id = "db2-only"
title = "db2"
node = "local"
run = "true"
mutating = false
when = { cluster = "database", equals = "db2" }

[[steps]]
id = "pg-only"
title = "pg"
node = "local"
run = "true"
mutating = false
when = { cluster = "database", equals = "pg" }
"""


def _both(tmp_path: Path):
    from hamn_tui.inputs.toml_file import parse_toml_text
    from hamn_tui.runbook.loader import runbook_from_document

    from .test_runner import HEAD

    text = HEAD.replace('databases = ["db2"]', 'databases = ["db2", "pg"]') + TWO_WAYS
    return runbook_from_document(parse_toml_text(text, "t.toml"), None, "t")


def pg_cluster(tmp_path: Path) -> Path:
    path = tmp_path / "pg-cluster.toml"
    path.write_text(cluster_toml.text(tmp_path))
    return path


def test_the_cluster_files_database_picks_the_steps(tmp_path):
    rb = _both(tmp_path)
    cluster = load_cluster(pg_cluster(tmp_path))
    transport = LocalTransport()
    events: list = []
    ctx = RunContext(resolve_params(rb, {}, None), cluster=cluster)
    asyncio.run(Runner(rb, ctx, transport, None, AutoOperator(), run_id="r", subscribers=[events.append]).run())
    done = {e.step_id: e.outcome for e in events if isinstance(e, StepFinished)}
    skipped = {e.step_id: e.reason for e in events if isinstance(e, StepSkipped)}
    assert done == {"pg-only": "done"}
    assert skipped == {"db2-only": "when: cluster.database is pg"}


def test_a_wrong_cluster_value_or_database_is_a_located_error(validate_text):
    head = '[runbook]\nid = "demo"\ntitle = "Demo"\nversion = "1"\ndatabases = ["db2"]\nsummary = "s"\n'
    step = '[[steps]]\nid = "a"\ntitle = "a"\nnode = "local"\nrun = "true"\nmutating = false\nwhen = {when}\n'
    v = validate_text(head + step.format(when='{ cluster = "databse", equals = "db2" }'))
    assert v.exit_code != 0 and "unknown cluster value 'cluster.databse'" in v.output and "did you mean" in v.output
    v = validate_text(head + step.format(when='{ cluster = "database", equals = "pg" }'))
    assert v.exit_code != 0 and '"pg" is not one of this runbook\'s databases (db2)' in v.output
    v = validate_text(head + step.format(when='{ cluster = "database", equals = "db2" }'))
    assert v.exit_code == 0, v.output


def test_network_services_validates_for_a_postgresql_pair(tmp_path):
    cluster = load_cluster(pg_cluster(tmp_path))
    results = validate_paths([str(REPO / "runbooks" / "network-services.toml")], cluster)
    assert all(not r.problems for r in results), [str(p) for r in results for p in r.problems]
    proc = open_procedure("network-services", cluster)
    assert proc is not None and "pg" in proc.runbook.runbook.databases


def test_a_group_step_over_an_empty_group_says_it_ran_nothing(tmp_path):
    from hamn_tui.inputs.toml_file import parse_toml_text
    from hamn_tui.runbook.loader import runbook_from_document

    from .test_runner import HEAD

    text = HEAD.replace('databases = ["db2"]', 'databases = ["pg"]') + """
[[steps]]
id = "restart-sn"
title = "restart xcatd on the service nodes"
node = "@service_nodes"
run = "echo restarted"
confirm = "none"
irreversible = true
"""
    lab = pg_cluster(tmp_path)
    lab.write_text(lab.read_text().replace('service_nodes = ["sn1"]', "service_nodes = []"))  # a site without service nodes
    cluster = load_cluster(lab)
    rb = runbook_from_document(parse_toml_text(text, "t.toml"), None, "t")
    events: list = []
    ctx = RunContext(resolve_params(rb, {}, None), cluster=cluster)
    outcome = asyncio.run(Runner(rb, ctx, LocalTransport(), None, AutoOperator(), run_id="r", subscribers=[events.append]).run())
    finished = [(e.step_id, e.outcome, e.reason) for e in events if isinstance(e, StepFinished)]
    assert finished == [("restart-sn", "skipped", "@service_nodes has no nodes in the cluster file: nothing to run")]
    assert outcome == "done"
