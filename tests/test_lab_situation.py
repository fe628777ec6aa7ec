"""The situation classifier on real software: the lab's PostgreSQL pair read over real SSH and
psycopg2 — a crashed primary node, a stopped standby, two primaries (docs/lab.md)."""
from __future__ import annotations

import asyncio

from hamn_tui.app.situation import Situation, assess
from hamn_tui.app.status import StatusReader
from hamn_tui.app.targets import ClusterTarget

from .lab_support import lab  # noqa: F401


def _situation(lab_) -> Situation:
    async def read() -> Situation:
        target = ClusterTarget(lab_.cluster_path)
        reader = StatusReader(target)
        try:
            return assess(await reader.read(), target.cluster)
        finally:
            await reader.close()

    return asyncio.run(read())


def test_the_lab_pair_as_the_classifier_names_it(lab):  # noqa: F811
    lab.reset("pair")
    healthy = _situation(lab)
    assert healthy.kind == "healthy", healthy

    lab.pg("mn2").stop()
    lost = _situation(lab)
    assert lost.kind == "standby_lost", lost
    assert "mn1: streaming_standbys = 0" in lost.evidence

    lab.reset("pair")
    lab.crash("mn1")
    down = _situation(lab)
    assert down.kind == "primary_node_down", down
    assert down.recommended[0].runbook == "pg-failover"
    assert down.recommended[0].roles == {"primary": "mn1", "standby": "mn2"}
    assert any("fenced" in a for a in down.avoid)

    lab.reset("independent")
    both = _situation(lab)
    assert both.kind == "split_brain", both
    assert both.recommended and both.recommended[0].roles == {"primary": "mn1", "standby": "mn2"}  # mn1 holds the service IP


def test_a_dump_method_pair_on_the_lab(lab, tmp_path):  # noqa: F811
    """Two read-write servers with the service IP on mn1: healthy for a dump-method pair (the
    same readings a streaming pair calls split brain); mn1 crashed → fail over with pg-dump-failover."""
    dump_file = tmp_path / "dump-cluster.toml"
    dump_file.write_text(lab.cluster_path.read_text().replace("[pg]\n", '[pg]\nmethod = "dump"\n', 1))

    async def read() -> Situation:
        target = ClusterTarget(str(dump_file))
        reader = StatusReader(target)
        try:
            return assess(await reader.read(), target.cluster)
        finally:
            await reader.close()

    lab.reset("independent")
    healthy = asyncio.run(read())
    assert healthy.kind == "healthy", healthy
    assert healthy.recommended[0].runbook == "pg-dump-failover"
    lab.crash("mn1")
    down = asyncio.run(read())
    assert down.kind == "primary_node_down", down
    assert down.recommended[0].runbook == "pg-dump-failover" and down.recommended[0].roles == {"primary": "mn1", "standby": "mn2"}
