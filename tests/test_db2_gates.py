"""The takeover rules, state by state (db2-hadr-facts §5, §9)."""
from __future__ import annotations

import pytest

from hamn_tui.probes.db2.gates import advise
from hamn_tui.probes.db2.model import HadrChannel, HadrStatus, LogPosition

NOW = 1_700_000_000


def standby(state="PEER", conn="CONNECTED", sync="NEARSYNC", *, role="STANDBY", window=300, end=NOW + 120, gap=0, flags=(), **kw):
    ch = HadrChannel(role=role, state=state, syncmode=sync, connect_status=conn, peer_window_s=window, peer_window_end_epoch=end,
                     log_gap_bytes=gap, flags=list(flags), primary_log=LogPosition("S0000012.LOG", 100, 5_000_000),
                     standby_log=LogPosition("S0000012.LOG", 90, 4_200_000), primary_log_time_epoch=NOW - 10,
                     standby_replay_log_time_epoch=NOW - 40, **kw)
    return HadrStatus("db2pd-10", database="XCATDB", activated=True, hadr_active=True, channels=[ch])


def primary_view(state="PEER", conn="CONNECTED"):
    return HadrStatus("db2pd-10", database="XCATDB", activated=True, hadr_active=True, channels=[HadrChannel(role="PRIMARY", state=state, connect_status=conn)])


def verdicts(a):
    return a.graceful.verdict, a.peer_window_only.verdict, a.force.verdict


def text(v):
    return " | ".join(v.reasons)


def test_peer_connected_graceful_only():
    a = advise(standby(), now_epoch=NOW, second=standby(), primary=primary_view())
    assert verdicts(a) == ("allowed", "refused", "refused")
    assert "roles switch without data loss" in text(a.graceful)
    assert "PEER WINDOW ONLY from PEER needs the primary confirmed dead" in text(a.peer_window_only)
    assert "never advised while the old primary is not confirmed down" in text(a.force)


def test_peer_but_primary_unreadable_is_unknown_for_graceful():
    a = advise(standby(), now_epoch=NOW, second=standby(), primary_unreadable=True)
    assert a.graceful.verdict == "unknown"
    assert "could not be read: it may have just failed" in text(a.graceful)


def test_peer_with_primary_confirmed_dead_and_fenced_allows_peer_window_only():
    a = advise(standby(), now_epoch=NOW, second=standby(), primary_unreadable=True, primary_down=True, primary_fenced=True)
    assert verdicts(a) == ("unknown", "allowed", "allowed")
    assert "115 s left in the peer window" in text(a.peer_window_only)


def test_disconnected_peer_inside_the_window():
    s = standby("DISCONNECTED_PEER", "DISCONNECTED")
    a = advise(s, now_epoch=NOW, second=s, primary_down=True, primary_fenced=True)
    assert verdicts(a) == ("refused", "allowed", "allowed")
    assert "HADR_STATE = DISCONNECTED_PEER: a graceful takeover needs PEER" in text(a.graceful)
    assert "possible data loss: 800000 bytes of log, about 30 s of transactions" in text(a.force)
    assert a.estimated_loss_bytes == 800_000 and a.estimated_loss_s == 30


def test_disconnected_peer_without_confirmation_that_the_primary_is_down():
    s = standby("DISCONNECTED_PEER", "DISCONNECTED")
    a = advise(s, now_epoch=NOW, second=s)
    assert verdicts(a) == ("refused", "refused", "refused")
    assert "a partitioned primary resumes writing alone" in text(a.peer_window_only)


@pytest.mark.parametrize("end, ok", [(NOW + 6, True), (NOW + 5, False), (NOW, False), (NOW - 100, False)])
def test_peer_window_end_needs_five_seconds_of_margin(end, ok):
    s = standby("DISCONNECTED_PEER", "DISCONNECTED", end=end)
    a = advise(s, now_epoch=NOW, second=s, primary_down=True, primary_fenced=True)
    assert a.peer_window_only.verdict == ("allowed" if ok else "refused")
    if not ok:
        assert "the peer window is closed (SQL1770N reason 9)" in text(a.peer_window_only)


def test_peer_window_end_unknown_is_not_allowed():
    s = standby("DISCONNECTED_PEER", "DISCONNECTED", end=None)
    a = advise(s, now_epoch=NOW, second=s, primary_down=True, primary_fenced=True)
    assert a.peer_window_only.verdict == "unknown"


@pytest.mark.parametrize("sync", ["ASYNC", "SUPERASYNC"])
def test_peer_window_only_needs_sync_or_nearsync(sync):
    s = standby("DISCONNECTED_PEER", "DISCONNECTED", sync=sync)
    a = advise(s, now_epoch=NOW, second=s, primary_down=True, primary_fenced=True)
    assert a.peer_window_only.verdict == "refused"
    assert f"HADR_SYNCMODE = {sync}: PEER WINDOW ONLY is valid only with SYNC or NEARSYNC" in text(a.peer_window_only)


def test_no_peer_window_configured():
    s = standby("DISCONNECTED_PEER", "DISCONNECTED", window=0)
    assert advise(s, now_epoch=NOW, second=s, primary_down=True, primary_fenced=True).peer_window_only.verdict == "refused"


def test_remote_catchup_pending_is_the_data_loss_trap():
    s = standby("REMOTE_CATCHUP_PENDING", "DISCONNECTED")
    a = advise(s, now_epoch=NOW, second=s, primary_down=True)
    assert verdicts(a) == ("refused", "refused", "refused")  # not fenced: never advised
    assert "needs proof that the old primary is fenced" in text(a.force)
    fenced = advise(s, now_epoch=NOW, second=s, primary_down=True, primary_fenced=True)
    assert fenced.force.verdict == "allowed"
    assert "committed transactions not shipped to it are lost" in text(fenced.force)
    assert "possible data loss" in text(fenced.force)


@pytest.mark.parametrize("state", ["LOCAL_CATCHUP", "REMOTE_CATCHUP"])
def test_catchup_states_refuse_everything(state):
    s = standby(state, "CONNECTED" if state == "REMOTE_CATCHUP" else "DISCONNECTED")
    a = advise(s, now_epoch=NOW, second=s, primary_down=True, primary_fenced=True)
    assert verdicts(a) == ("refused", "refused", "refused")
    assert f"HADR_STATE = {state}: DB2 refuses BY FORCE in this state" in text(a.force)


def test_superasync_remote_catchup_may_take_over_gracefully():
    s = standby("REMOTE_CATCHUP", "CONNECTED", sync="SUPERASYNC", gap=50_000_000)
    a = advise(s, now_epoch=NOW, second=s, primary=primary_view("REMOTE_CATCHUP"))
    assert a.graceful.verdict == "allowed"
    assert "SUPERASYNC never reaches PEER" in text(a.graceful)


def test_graceful_refused_when_congested_flagged_gapped_or_quiet():
    assert "HADR_CONNECT_STATUS = CONGESTED" in text(advise(standby(conn="CONGESTED"), now_epoch=NOW).graceful)
    a = advise(standby(flags=["TCP_PROTOCOL", "STANDBY_TABLESPACE_ERROR"]), now_epoch=NOW)
    assert a.graceful.verdict == "refused" and "STANDBY_TABLESPACE_ERROR must be fixed" in text(a.graceful)
    assert "HADR_LOG_GAP = 99999999 bytes" in text(advise(standby(gap=99_999_999), now_epoch=NOW).graceful)
    a = advise(standby(time_since_last_recv_s=130, hadr_timeout_s=120), now_epoch=NOW)
    assert a.graceful.verdict == "refused" and "TIME_SINCE_LAST_RECV = 130 s ≥ HADR_TIMEOUT = 120 s" in text(a.graceful)


def test_both_sides_must_report_peer_for_graceful():
    a = advise(standby(), now_epoch=NOW, second=standby(), primary=primary_view("REMOTE_CATCHUP"))
    assert a.graceful.verdict == "refused" and "the primary reports HADR_STATE = REMOTE_CATCHUP" in text(a.graceful)


def test_a_change_between_two_readings_makes_everything_unknown():
    a = advise(standby(), now_epoch=NOW, second=standby("DISCONNECTED_PEER", "DISCONNECTED"), primary_down=True, primary_fenced=True)
    assert verdicts(a) == ("unknown", "unknown", "unknown")
    assert "changed between two readings (STANDBY/PEER/CONNECTED then STANDBY/DISCONNECTED_PEER/DISCONNECTED)" in text(a.graceful)


def test_one_reading_says_so():
    a = advise(standby(), now_epoch=NOW, primary=primary_view())
    assert a.graceful.verdict == "allowed" and "read once" in text(a.graceful)


def test_on_a_primary_nothing_is_allowed():
    s = standby(role="PRIMARY")
    a = advise(s, now_epoch=NOW)
    assert verdicts(a) == ("refused",) * 3
    assert "HADR_ROLE = PRIMARY: a takeover is issued on the standby" in text(a.graceful)


def test_not_activated_is_unknown_and_standard_is_refused():
    assert verdicts(advise(HadrStatus("db2pd-10", database="XCATDB", activated=False), now_epoch=NOW)) == ("unknown",) * 3
    assert verdicts(advise(HadrStatus("db2pd-10", database="XCATDB", activated=True, hadr_active=False), now_epoch=NOW)) == ("refused",) * 3


def test_missing_state_is_unknown_not_allowed():
    s = standby(state=None)
    assert verdicts(advise(s, now_epoch=NOW, second=s, primary_down=True, primary_fenced=True)) == ("unknown", "unknown", "unknown")


def test_a_source_without_hadr_flags_says_so():
    s = standby()
    s.channels[0].flags_reported = False
    a = advise(s, now_epoch=NOW, second=s, primary=primary_view())
    assert a.graceful.verdict == "allowed" and "HADR_FLAGS is not reported by this source" in text(a.graceful)
