"""Value normalisation: the spellings and units every DB2 source is reduced to."""
from __future__ import annotations

import pytest

from hamn_tui.probes.db2.model import LogPosition, ParseError
from hamn_tui.probes.db2.normalise import (
    duration_s, enum, enum_in, epoch, flags, hex_int, key_unit, lines_of, local_timestamp, log_position, null, to_float, to_int, yes_no,
)


@pytest.mark.parametrize("raw, expected", [
    ("RemoteCatchupPending", "REMOTE_CATCHUP_PENDING"), ("DisconnectedPeer", "DISCONNECTED_PEER"), ("LocalCatchup", "LOCAL_CATCHUP"),
    ("Remote catchup pending", "REMOTE_CATCHUP_PENDING"), ("Disconnected peer", "DISCONNECTED_PEER"), ("REMOTE_CATCHUP", "REMOTE_CATCHUP"),
    ("Nearsync", "NEARSYNC"), ("Superasync", "SUPERASYNC"), ("SuperAsync", "SUPERASYNC"), ("NearSync", "NEARSYNC"), ("Async", "ASYNC"),
    ("Connected", "CONNECTED"), ("Congested", "CONGESTED"), ("Primary", "PRIMARY"), ("StandBy", "STANDBY"), ("Standard", "STANDARD"),
    ("  Peer  ", "PEER"), ("", None), ("NULL", None), ("N/A", None), (None, None),
])
def test_enum(raw, expected):
    assert enum(raw) == expected


def test_enum_outside_the_domain_is_kept_and_warned():
    warnings: list[str] = []
    assert enum_in("syncmode", "Turbo", warnings, "line 3: ") == "TURBO"
    assert warnings == ["line 3: unknown syncmode value 'TURBO' (documented: ASYNC, NEARSYNC, SUPERASYNC, SYNC)"]


def test_null_and_numbers():
    assert [null(v) for v in ("", " NULL ", "n/a", "x ")] == [None, None, None, "x"]
    assert (to_int("42"), to_int(" -3 "), to_int("NULL"), to_int(7)) == (42, -3, None, 7)
    assert (to_float("0.000412"), to_float("0%"), to_float("100"), to_float(3)) == (0.000412, 0.0, 100.0, 3.0)
    assert hex_int("0x0000000001CA4000") == 0x1CA4000 and hex_int("0000000000BB800C") == 0xBB800C
    assert (yes_no("Y"), yes_no("N"), yes_no("ON"), yes_no("off"), yes_no("")) == (True, False, True, False, None)
    for bad, fn in (("1,5", to_int), ("12a", to_int), ("nan", to_float), ("inf", to_float), ("0xZZ", hex_int), ("maybe", yes_no), (True, to_int)):
        with pytest.raises(ValueError):
            fn(bad)


def test_epoch_from_the_parentheses_only():
    assert epoch("03/14/2016 09:12:41.337109 (1457946761)") == 1457946761
    assert epoch("Mon Sep 05 14:05:09 2006 (1158008709)") == 1158008709
    assert epoch("NULL") is None
    assert epoch("01/01/1970 00:00:00.000000 (0)") is None  # DB2's "never"
    with pytest.raises(ValueError, match="epoch"):
        epoch("03/14/2016 09:12:41.337109")  # local time of an unknown zone: refused, not guessed


def test_units_from_key_names():
    assert key_unit("HADR_TIMEOUT(seconds)") == ("HADR_TIMEOUT", "seconds")
    assert key_unit("HADR_LOG_GAP(bytes)") == ("HADR_LOG_GAP", "bytes")
    assert key_unit("PRIMARY_LOG_FILE,PAGE,POS") == ("PRIMARY_LOG_FILE,PAGE,POS", None)
    assert key_unit("TIMEOUT_S") == ("TIMEOUT", "seconds") and key_unit("PEER_WINDOW_MS") == ("PEER_WINDOW", "ms")
    assert duration_s("120", "seconds") == 120.0
    assert duration_s(120000, "ms") == 120.0  # MON_GET_HADR milliseconds
    assert duration_s("NULL", "seconds") is None
    with pytest.raises(ValueError):
        duration_s("120", None)


def test_log_positions_split():
    assert log_position("S0000012.LOG, 1234, 40012345") == LogPosition("S0000012.LOG", 1234, 40012345)
    assert log_position("S0001234.LOG, 12, 0000000000BB800C", "lsn") == LogPosition("S0001234.LOG", 12, None, "0000000000BB800C")
    assert log_position("NULL") == LogPosition() == log_position("NULL, NULL, NULL")
    for bad in ("S0000012.LOG, 1234", "S12.LOG, 1, 2", "S0000012.LOG, x, 2", "S0000012.LOG, 1, 2, 3"):
        with pytest.raises(ValueError):
            log_position(bad)


def test_flags_are_a_set_of_tokens():
    warnings: list[str] = []
    assert flags("STANDBY_RECV_BLOCKED STANDBY_LOG_DEVICE_FULL", warnings) == ["STANDBY_RECV_BLOCKED", "STANDBY_LOG_DEVICE_FULL"]
    assert flags("", warnings) == [] and flags(None, warnings) == [] and warnings == []
    assert flags("NEW_THING", warnings) == ["NEW_THING"] and warnings


def test_local_timestamps():
    assert local_timestamp("2012-06-08-12.34.56.000000") == "2012-06-08T12:34:56"
    assert local_timestamp("06/08/2011 13:57:23") == "2011-06-08T13:57:23"
    assert local_timestamp("yesterday") is None


def test_lines_of_marks_a_last_line_without_newline():
    lines = lines_of("a\nb")
    assert [(l.no, l.text, l.cut) for l in lines] == [(1, "a", False), (2, "b", True)]
    assert [l.cut for l in lines_of("a\r\nb\r\n")] == [False, False]
    with pytest.raises(ParseError, match="binary data") as exc:
        lines_of("ok\nbad\x00\n")
    assert exc.value.line == 2
