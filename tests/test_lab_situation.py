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
