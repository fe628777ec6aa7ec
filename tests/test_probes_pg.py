"""The PostgreSQL probes against a real PG15 primary + streaming standby (tests/pg_fixture.py),
and the promotion rules on hand-made readings for the cases a lab cannot stage cheaply."""
from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from hamn_tui.probes.base import Reading
from hamn_tui.runbook.probe_specs import PROBES
from hamn_tui.probes.pg import SPLIT_BRAIN, pg_probes, promote_verdict, read_pg

from .pg_fixture import PG_USER, PgPair, fresh_pg_pair, pg_lab, pg_pair  # noqa: F401


def probe(pair: PgPair, tmp: Path, node: str, name: str, *, down_confirmed: bool = False, **cluster_kw: Any) -> Reading:
    cluster = pair.cluster(tmp / "cluster.toml", **cluster_kw)
    probes = pg_probes(cluster, primary_down_confirmed=lambda args: down_confirmed, timeout_s=3)
    reading = asyncio.run(probes.read(node, name, {}))
    assert set(reading.fields) <= set(PROBES[name].fields), reading.fields  # the catalog's fields, no others
    return reading


def poll(fn: Callable[[], Any], cond: Callable[[Any], bool], timeout_s: float = 20) -> Any:
    """fn() until cond holds on its value; the last value either way."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = fn()
        if cond(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def read(pair: PgPair, node: str) -> dict[str, Any]:
    return read_pg(pair.nodes[node].host, pair.port, PG_USER, timeout_s=3)


# --- the healthy pair (shared; these tests only write rows) -----------------------------------------


def test_primary_reads_as_primary_with_one_async_streaming_standby(pg_pair: PgPair, tmp_path: Path) -> None:
    r = probe(pg_pair, tmp_path, "mn1", "pg.replication")
    assert r.error is None
    f = r.fields
    assert (f["reachable"], f["role"], f["in_recovery"], f["timeline"]) == (True, "primary", False, 1)
    assert f["streaming_standbys"] == 1 and f["sync_state"] == "async"
    assert isinstance(f["lag_bytes"], int) and f["lag_bytes"] >= 0
    assert "wal_receiver" not in f and "replay_age_s" not in f  # a primary has neither


def test_standby_reads_as_streaming_standby_on_the_primarys_timeline(pg_pair: PgPair, tmp_path: Path) -> None:
    f = probe(pg_pair, tmp_path, "mn2", "pg.replication").fields
    assert (f["reachable"], f["role"], f["in_recovery"], f["wal_receiver"]) == (True, "standby", True, "streaming")
    assert f["timeline"] == 1 and f["sync_state"] == "async"
    raw = read(pg_pair, "mn2")
    assert raw["receiver"]["application_name"] == "walreceiver"  # its row on the primary
    assert "current_lsn" not in raw


def test_lag_is_zero_once_the_standby_caught_up_after_writes(pg_pair: PgPair, tmp_path: Path) -> None:
    pg_pair.write_rows(5000)
    for node in ("mn2", "mn1"):  # the standby's view (via the primary's LSN) and the primary's row
        f = poll(lambda: probe(pg_pair, tmp_path, node, "pg.replication").fields, lambda f: f.get("lag_bytes") == 0)
        assert f["lag_bytes"] == 0, (node, f)
    f = probe(pg_pair, tmp_path, "mn2", "pg.replication").fields
    assert isinstance(f["replay_age_s"], int) and 0 <= f["replay_age_s"] < 60


def test_planned_switchover_is_allowed_on_a_caught_up_streaming_standby(pg_pair: PgPair, tmp_path: Path) -> None:
    pg_pair.wait_caught_up()
    r = poll(lambda: probe(pg_pair, tmp_path, "mn2", "pg.promote"), lambda r: r.fields.get("lag_bytes") == 0)
    assert r.fields == {"verdict": "allowed", "lag_bytes": 0}, r
    verdict, reasons = promote_verdict(read(pg_pair, "mn2"), read(pg_pair, "mn1"), 16 << 20, False)
    assert verdict == "allowed"
    for fact in ("wal_receiver=streaming", "sync_state=async", "timeline=1", "replay_pause='not paused'"):
        assert any(fact in x for x in reasons), (fact, reasons)


def test_a_live_primary_attested_down_refuses_promotion(pg_pair: PgPair, tmp_path: Path) -> None:
    r = probe(pg_pair, tmp_path, "mn2", "pg.promote", down_confirmed=True)
    assert r.fields["verdict"] == "refused"
    assert "attested down but answers" in (r.detail or "")


def test_the_primary_cannot_be_promoted(pg_pair: PgPair, tmp_path: Path) -> None:
    r = probe(pg_pair, tmp_path, "mn1", "pg.promote")
    assert r.fields == {"verdict": "refused"} and "in_recovery=False" in (r.detail or "")


def test_a_refused_port_is_unreachable_not_unknown(pg_pair: PgPair, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again at once: nothing listens there
    r = probe(pg_pair, tmp_path, "mn1", "pg.replication", port=port)
    assert r.fields == {"reachable": False} and "refused" in (r.error or "").lower()
    r = probe(pg_pair, tmp_path, "mn2", "pg.promote", port=port)
    assert r.fields == {"verdict": "unknown"} and "reachable=False" in (r.detail or "")


def test_a_port_that_accepts_but_never_answers_is_unknown() -> None:
    with socket.socket() as s:  # the kernel completes the handshake; no server ever speaks
        s.bind(("127.0.0.1", 0))
        s.listen(5)
        t = time.monotonic()
        out = read_pg("127.0.0.1", s.getsockname()[1], PG_USER, timeout_s=2)
        assert time.monotonic() - t < 10
    assert "reachable" not in out and out["answers"] is True and out["error"]


# --- staged faults (a pair each) -------------------------------------------------------------------


def test_fresh_standby_never_replayed_so_replay_age_is_absent(fresh_pg_pair: PgPair, tmp_path: Path) -> None:
    assert read(fresh_pg_pair, "mn2")["replay_age_s"] is None
    assert "replay_age_s" not in probe(fresh_pg_pair, tmp_path, "mn2", "pg.replication").fields


def test_stopped_standby_reads_unreachable_and_cannot_be_judged(fresh_pg_pair: PgPair, tmp_path: Path) -> None:
    fresh_pg_pair.stop_node(fresh_pg_pair.standby)
    r = probe(fresh_pg_pair, tmp_path, "mn2", "pg.replication")
    assert r.fields == {"reachable": False}
    r = probe(fresh_pg_pair, tmp_path, "mn2", "pg.promote")
    assert r.fields == {"verdict": "unknown"} and "reachable=False" in (r.detail or "")
    f = poll(lambda: probe(fresh_pg_pair, tmp_path, "mn1", "pg.replication").fields, lambda f: f["streaming_standbys"] == 0)
    assert f["streaming_standbys"] == 0 and "sync_state" not in f


def test_lag_over_the_threshold_refuses_promotion_and_clears_after_resume(fresh_pg_pair: PgPair, tmp_path: Path) -> None:
    pair = fresh_pg_pair
    pair.sql(pair.standby, "SELECT pg_wal_replay_pause()")
    pair.wait_until(lambda: pair.sql(pair.standby, "SELECT pg_get_wal_replay_pause_state()")[0][0] == "paused", 10, "pause")
    pair.write_rows(2000)  # about 300 kB of WAL the standby receives but does not replay
    r = probe(pair, tmp_path, "mn2", "pg.promote", max_lag_bytes=4096)
    assert r.fields["verdict"] == "refused" and r.fields["lag_bytes"] > 4096
    assert f"lag_bytes={r.fields['lag_bytes']} > max_lag_bytes=4096" in (r.detail or "")
    assert "replay_pause='paused'" in (r.detail or "")
    assert probe(pair, tmp_path, "mn2", "pg.replication").fields["lag_bytes"] > 4096
    raw = poll(lambda: read(pair, "mn2"), lambda raw: (raw.get("replay_pending_bytes") or 0) > 4096)
    assert raw["replay_pending_bytes"] > 4096  # received (streaming is asynchronous), not replayed

    pair.sql(pair.standby, "SELECT pg_wal_replay_resume()")
    r = poll(lambda: probe(pair, tmp_path, "mn2", "pg.promote", max_lag_bytes=4096), lambda r: r.fields["verdict"] == "allowed")
    assert r.fields["verdict"] == "allowed" and r.fields["lag_bytes"] <= 4096, r


def test_after_a_real_promote_the_old_standby_is_a_primary_on_a_new_timeline(fresh_pg_pair: PgPair, tmp_path: Path) -> None:
    pair = fresh_pg_pair
    before = probe(pair, tmp_path, "mn2", "pg.replication").fields["timeline"]
    pair.stop_node(pair.primary)  # a clean (planned) shutdown first: one primary at a time
    pair.promote(pair.standby)
    # read at once, before any checkpoint: the control file's timeline would still be the old one
    f = probe(pair, tmp_path, "mn2", "pg.replication").fields
    assert (f["role"], f["in_recovery"]) == ("primary", False)
    assert f["timeline"] == before + 1
    assert "wal_receiver" not in f and "replay_age_s" not in f
    r = probe(pair, tmp_path, "mn2", "pg.promote")
    assert r.fields["verdict"] == "refused" and "in_recovery=False" in (r.detail or "")


def test_primary_crash_unplanned_failover_needs_the_operators_confirmation(fresh_pg_pair: PgPair, tmp_path: Path) -> None:
    pair = fresh_pg_pair
    pair.write_rows(100)
    pair.wait_caught_up()
    pair.stop_node(pair.primary, "immediate")  # a crash
    assert probe(pair, tmp_path, "mn1", "pg.replication").fields == {"reachable": False}
    f = poll(lambda: probe(pair, tmp_path, "mn2", "pg.replication").fields, lambda f: f.get("wal_receiver") != "streaming")
    assert f["role"] == "standby" and f["wal_receiver"] != "streaming"
    assert isinstance(f["replay_age_s"], int) and "lag_bytes" not in f  # unmeasurable without the primary

    r = probe(pair, tmp_path, "mn2", "pg.promote")
    assert r.fields == {"verdict": "refused"} and SPLIT_BRAIN in (r.detail or "")

    r = probe(pair, tmp_path, "mn2", "pg.promote", down_confirmed=True)
    assert r.fields == {"verdict": "allowed"}, r  # no lag_bytes: it cannot be measured
    verdict, reasons = promote_verdict(read(pair, "mn2"), read(pair, "mn1"), 16 << 20, True)
    assert verdict == "allowed"
    assert any("cannot be measured" in x and "replay_age_s=" in x for x in reasons), reasons


# --- the rules on readings no lab here produces cheaply -----------------------------------------------

STANDBY = {"reachable": True, "role": "standby", "in_recovery": True, "timeline": 1, "system_identifier": "7",
           "wal_receiver": "streaming", "replay_lsn": "0/3000100", "replay_pause": "not paused", "replay_age_s": 3,
           "receiver": {"application_name": "mn2"}}
PRIMARY = {"reachable": True, "role": "primary", "in_recovery": False, "timeline": 1, "system_identifier": "7",
           "current_lsn": "0/3000100",
           "replication": [{"application_name": "mn2", "state": "streaming", "sync_state": "sync", "lag_bytes": 0}]}


def test_rules_allow_the_model_pair() -> None:
    assert promote_verdict(STANDBY, PRIMARY, 0, False)[0] == "allowed"


@pytest.mark.parametrize("standby, primary, verdict, needle", [
    ({"timeline": 2}, {}, "refused", "timeline=2 differs from the primary's timeline=1"),
    ({}, {"system_identifier": "8"}, "refused", "system_identifier=7 differs"),
    ({"replay_lsn": "0/3000200"}, {}, "refused", "lag_bytes=-256"),
    ({"receiver": {"application_name": "other"}}, {}, "refused", "no row for application_name='other'"),
    ({"wal_receiver": "waiting"}, {}, "refused", "wal_receiver=waiting"),
    ({}, {"replication": [{"application_name": "mn2", "state": "catchup", "sync_state": "async"}]}, "refused", "state=catchup"),
    ({}, {"in_recovery": True, "role": "standby"}, "refused", "primary in_recovery=True"),
    ({}, {"replication": [{"application_name": "mn2", "state": "streaming", "sync_state": None}]}, "unknown", "sync_state is unknown"),
    ({"timeline": None}, {}, "unknown", "timeline unknown"),
    ({"reachable": None, "in_recovery": None}, {}, "unknown", "cannot be read"),
])
def test_rules(standby: dict, primary: dict, verdict: str, needle: str) -> None:
    got, reasons = promote_verdict({**STANDBY, **standby}, {**PRIMARY, **primary}, 1024, False)
    assert got == verdict and any(needle in r for r in reasons), reasons


def test_unplanned_rules() -> None:
    down = {"reachable": False, "error": "refused"}
    assert promote_verdict(STANDBY, down, 0, False) == ("refused", [f"{SPLIT_BRAIN} (primary reachable=False, primary_down_confirmed=False)"])
    # still streaming from someone although the primary looks down: a partition, not a dead primary
    verdict, reasons = promote_verdict(STANDBY, down, 0, True)
    assert verdict == "refused" and "wal_receiver=streaming" in reasons[0]
    verdict, reasons = promote_verdict({**STANDBY, "wal_receiver": "stopped"}, down, 0, True)
    assert verdict == "allowed" and "replay_age_s=3" in reasons[-1]
    # a server that answers but refuses the login is not down
    verdict, reasons = promote_verdict(STANDBY, {"answers": True, "error": "password authentication failed"}, 0, True)
    assert verdict == "refused" and "attested down but answers" in reasons[0]
    # an unreadable primary (timeout) is not proof of death: the operator's word is needed
    assert promote_verdict({**STANDBY, "wal_receiver": "stopped"}, {"error": "timeout"}, 0, False)[0] == "refused"
    assert promote_verdict({**STANDBY, "wal_receiver": "stopped"}, None, 0, True)[0] == "allowed"
