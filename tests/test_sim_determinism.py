"""A seed and a virtual clock make a training run exact: same seed, same events; and fast."""
from __future__ import annotations

import json
import time

from hamn_tui.record.codec import event_data, event_type

from .sim_support import run

UNPLANNED = dict(yes=True, confirms={"takeover-pwo": "XCATDB"}, attests={"attest-fenced", "keep-fenced"})


def _sequence(r) -> list[str]:
    return [json.dumps([event_type(e), event_data(e)], sort_keys=True, default=str) for e in r.events]


def test_same_seed_same_event_sequence():
    """Every event, with every observed value, output chunk and (virtual) duration, is the same."""
    a = run("primary-node-crash", "failover-unplanned", seed=7, **UNPLANNED)
    b = run("primary-node-crash", "failover-unplanned", seed=7, **UNPLANNED)
    assert a.outcome == b.outcome == "done"
    assert _sequence(a) == _sequence(b)
    assert a.training.sim.history == b.training.sim.history


def test_another_seed_another_workload():
    a = run("healthy", "db2-hadr-verify", seed=1)
    b = run("healthy", "db2-hadr-verify", seed=2)
    assert a.outcome == b.outcome == "done"
    assert a.training.sim.nodes["mn1"].db.end != b.training.sim.nodes["mn1"].db.end
    assert _sequence(a) != _sequence(b)


def test_virtual_time_makes_long_waits_instant():
    """failback on diverged-logs waits out a 900 s wait and more; it takes well under a few seconds."""
    started = time.monotonic()
    r = run("diverged-logs", "failback", roles={"primary": "mn2", "standby": "mn1"}, yes=True,
            confirms={"takeover-back": "XCATDB", "restore-old-primary": "RESTORE XCATDB"}, choices={"reintegration": "reinit"})
    assert r.outcome == "done"
    assert r.training.clock() - r.training.t0 > 900
    assert time.monotonic() - started < 10
