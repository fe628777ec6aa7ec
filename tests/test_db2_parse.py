"""The DB2 HADR parsers on every sample: exact normalised values, special messages, bad and truncated input.

Every sample is read from tests/fixtures_db2 (its README says where each comes from), so the
repository stands alone wherever it is cloned.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hamn_tui.probes.db2.db2pd import Db2pdTransient, parse_db2pd
from hamn_tui.probes.db2.dbcfg import parse_dbcfg, target_list
from hamn_tui.probes.db2.model import HadrStatus, ParseError
from hamn_tui.probes.db2.parse import detect, parse_any, parse_bytes
from hamn_tui.probes.db2.snapshot import parse_snapshot

MINE = Path(__file__).parent / "fixtures_db2"
"""The samples: the project's shipped ones (numbered, and messages/) copied in, and ours."""


def known(ch: dict[str, Any]) -> dict[str, Any]:
    """A channel's JSON without the fields it leaves unknown (None) or empty."""
    return {k: v for k, v in ch.items() if v is not None and v != [] and v != {}}


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# --- expected values, field by field ------------------------------------------------------

V101_EXTRA = {
    "REPLAY_TYPE": "PHYSICAL", "LOG_HADR_WAIT_RECENT_AVG(seconds)": "0.006298", "LOG_HADR_WAIT_ACCUMULATED(seconds)": "0.516",
    "LOG_HADR_WAIT_COUNT": "82", "SOCK_SEND_BUF_REQUESTED,ACTUAL(bytes)": "0, 50772", "SOCK_RECV_BUF_REQUESTED,ACTUAL(bytes)": "0, 87616",
    "STANDBY_RECV_BUF_SIZE(pages)": "16", "STANDBY_SPOOL_LIMIT(pages)": "0", "STANDBY_REPLAY_ONLY_WINDOW_ACTIVE": "N",
}

XCAT_115 = {  # the parts of our 11.5 samples that every channel shares
    "log_stream_id": 0, "primary_host": "xcatmn1", "primary_instance": "xcatdb", "primary_member": 0,
    "standby_instance": "xcatdb", "standby_member": 0, "heartbeat_interval_s": 30.0, "hadr_timeout_s": 120.0,
    "peer_wait_limit_s": 0.0, "log_hadr_wait_cur_s": 0.0, "standby_recv_buf_percent": 0.0, "standby_spool_percent": 0.0,
    "reads_on_standby_enabled": False, "flags_reported": True,
}


def extra_115(expected: str, wait: tuple[str, str, str] = ("0.000518", "2.114", "4081")) -> dict[str, str]:
    return {
        "REPLAY_TYPE": "PHYSICAL", "HEARTBEAT_EXPECTED": expected, "LOG_HADR_WAIT_RECENT_AVG(seconds)": wait[0],
        "LOG_HADR_WAIT_ACCUMULATED(seconds)": wait[1], "LOG_HADR_WAIT_COUNT": wait[2],
        "SOCK_SEND_BUF_REQUESTED,ACTUAL(bytes)": "0, 46080", "SOCK_RECV_BUF_REQUESTED,ACTUAL(bytes)": "0, 367360",
        "STANDBY_RECV_BUF_SIZE(pages)": "2048", "STANDBY_SPOOL_LIMIT(pages)": "52000", "STANDBY_ERROR_TIME": "NULL",
    }


def logs(p: tuple, s: tuple, r: tuple | None = None) -> dict[str, Any]:
    out = {"primary_log_file": p[0], "primary_log_page": p[1], "primary_log_pos": p[2],
           "standby_log_file": s[0], "standby_log_page": s[1], "standby_log_pos": s[2]}
    if r:
        out.update({"standby_replay_log_file": r[0], "standby_replay_log_page": r[1], "standby_replay_log_pos": r[2]})
    return {k: v for k, v in out.items() if v is not None}


PEER_115 = {
    **XCAT_115, "role": "STANDBY", "state": "PEER", "syncmode": "NEARSYNC", "connect_status": "CONNECTED", "standby_id": 0,
    "flags": ["TCP_PROTOCOL"], "standby_host": "xcatmn2", "connect_status_time_epoch": 1715648531, "heartbeat_missed": 0,
    "time_since_last_recv_s": 1.0, "primary_log_time_epoch": 1715656198, "standby_log_time_epoch": 1715656198,
    "standby_replay_log_time_epoch": 1715656198, "log_gap_bytes": 0, "standby_recv_replay_gap_bytes": 4444,
    "peer_window_s": 120.0, "peer_window_end_epoch": 1715656322, "extra": extra_115("253"),
    **logs(("S0000318.LOG", 4410, 1312345678), ("S0000318.LOG", 4410, 1312345678), ("S0000318.LOG", 4409, 1312341234)),
}

NO_FLAGS_115 = {k: v for k, v in PEER_115.items() if k != "flags"}  # HADR_FLAGS printed, empty

IBM_CONNECT_TIME = ("ConnectTime = 'Mon Sep 05 14:05:09 2006 (1158008709)': the date and the epoch (2006-09-11 21:05:09 UTC) "
                    "are 6.3 days apart, which no time zone explains")

EXPECTED: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {
    # file -> (top-level values, the known fields of each channel)
    "01_db2pd_v97_primary_peer_ibmwiki.txt": (
        {"format": "db2pd-9", "database": "HADRDB", "activated": True, "hadr_active": True, "role": "PRIMARY", "timestamp_local": None,
         "warnings": [f"line 9: {IBM_CONNECT_TIME}: ignored (unknown)"]},
        [{"role": "PRIMARY", "state": "PEER", "syncmode": "SYNC", "connect_status": "CONNECTED", "heartbeat_missed": 0,
          "log_gap_bytes": 1412, "hadr_timeout_s": 8.0,
          "primary_host": "server1.ibm.com", "standby_host": "server2.ibm.com", "standby_instance": "accounting",
          "primary_log_file": "S0000833.LOG", "primary_log_page": 0, "primary_log_pos": 0x1CA4000, "primary_log_lsn": "0x0000000001CA4000",
          "standby_log_file": "S0000832.LOG", "standby_log_page": 3, "standby_log_pos": 0x1CA3A77, "standby_log_lsn": "0x0000000001CA3A77",
          "flags_reported": False, "extra": {"LocalService": "hdr_svc1", "RemoteService": "hdr_svc2"},
          # IBM's verbatim sample: Sep 05 2006 (a Tuesday printed "Mon") is not 1158008709 in any zone
          "implausible": {"connect_status_time_epoch": IBM_CONNECT_TIME}}],
    ),
    "03_db2pd_v105_primary_peer_single_standby.txt": (
        {"format": "db2pd-10", "database": "XCATDB", "activated": True, "hadr_active": True, "role": "PRIMARY",
         "timestamp_local": "2016-03-14T11:40:33.915512", "timestamp_epoch": None},
        [{"role": "PRIMARY", "state": "PEER", "syncmode": "NEARSYNC", "connect_status": "CONNECTED", "standby_id": 1, "log_stream_id": 0,
          "primary_host": "xcatmn1", "primary_instance": "xcatdb", "primary_member": 0, "standby_host": "xcatmn2",
          "standby_instance": "xcatdb", "standby_member": 0, "connect_status_time_epoch": 1457946761, "heartbeat_interval_s": 30.0,
          "hadr_timeout_s": 120.0, "time_since_last_recv_s": 2.0, "peer_wait_limit_s": 0.0, "log_hadr_wait_cur_s": 0.0,
          "primary_log_time_epoch": 1457955602, "standby_log_time_epoch": 1457955602, "standby_replay_log_time_epoch": 1457955602,
          "log_gap_bytes": 0, "standby_recv_replay_gap_bytes": 0, "standby_recv_buf_percent": 0.0, "standby_spool_percent": 0.0,
          "peer_window_s": 120.0, "peer_window_end_epoch": 1457955751, "reads_on_standby_enabled": False, "flags_reported": True,
          "extra": {"REPLAY_TYPE": "PHYSICAL", "LOG_HADR_WAIT_RECENT_AVG(seconds)": "0.000412", "LOG_HADR_WAIT_ACCUMULATED(seconds)": "3.981",
                    "LOG_HADR_WAIT_COUNT": "9214", "SOCK_SEND_BUF_REQUESTED,ACTUAL(bytes)": "0, 19800",
                    "SOCK_RECV_BUF_REQUESTED,ACTUAL(bytes)": "0, 87380", "STANDBY_RECV_BUF_SIZE(pages)": "512",
                    "STANDBY_SPOOL_LIMIT(pages)": "25000"},
          **logs(("S0000041.LOG", 2210, 171338452), ("S0000041.LOG", 2210, 171338452), ("S0000041.LOG", 2210, 171338452))}],
    ),
    "08_db2pd_database_not_activated.txt": (
        {"format": "db2pd", "database": "XCATDB", "activated": False, "hadr_active": None, "role": None}, [],
    ),
    "09_db2pd_hadr_not_active_standard.txt": (
        {"format": "db2pd-10", "database": "XCATDB", "activated": True, "hadr_active": False, "role": "STANDARD",
         "timestamp_local": "2021-11-02T04:36:05.118830"}, [],
    ),
    "10b_snapshot_v97_primary_peer_ibmdoc_verbatim.txt": (
        {"format": "snapshot", "database": None, "activated": True, "hadr_active": True, "role": "PRIMARY"},
        [{"role": "PRIMARY", "state": "PEER", "syncmode": "SYNC", "connect_status": "CONNECTED", "heartbeat_missed": 0,
          "primary_host": "host1.ibm.com", "standby_host": "host2.ibm.com", "standby_instance": "dbinst2", "hadr_timeout_s": 120.0,
          "primary_log_file": "S0001234.LOG", "primary_log_page": 12, "primary_log_lsn": "0000000000BB800C",
          "standby_log_file": "S0001234.LOG", "standby_log_page": 12, "standby_log_lsn": "0000000000BB800C",
          "log_gap_bytes": 8723, "flags_reported": False,
          "extra": {"Connection status time": "11-03-2002 12:23:09.35092", "Local service": "hadr_service",
                    "Remote service": "hadr_service"}}],
    ),
    "11_db2pd_v101_primary_peer_ibmwiki_verbatim.txt": (
        {"format": "db2pd-10", "database": "HADRDB", "activated": True, "hadr_active": True, "role": "PRIMARY",
         "timestamp_local": "2011-06-08T13:57:23"},
        [{"role": "PRIMARY", "state": "PEER", "syncmode": "SYNC", "connect_status": "CONNECTED", "standby_id": 1, "log_stream_id": 0,
          "primary_host": "hostP.ibm.com", "primary_instance": "db2inst", "primary_member": 0, "standby_host": "hostS1.ibm.com",
          "standby_instance": "db2inst", "standby_member": 0, "connect_status_time_epoch": 1307565490, "heartbeat_interval_s": 25.0,
          "hadr_timeout_s": 100.0, "time_since_last_recv_s": 3.0, "peer_wait_limit_s": 0.0, "log_hadr_wait_cur_s": 0.0,
          "primary_log_time_epoch": 1307566159, "standby_log_time_epoch": 1307566159, "standby_replay_log_time_epoch": 1307566159,
          "log_gap_bytes": 0, "standby_recv_replay_gap_bytes": 0, "standby_recv_buf_percent": 0.0, "peer_window_s": 0.0,
          "reads_on_standby_enabled": True, "flags_reported": False, "extra": V101_EXTRA,
          **logs(("S0000009.LOG", 1, 49262315), ("S0000009.LOG", 1, 49262315), ("S0000009.LOG", 1, 49262315))}],
    ),
    "17_dbcfg_v115_primary_hadr_lines.txt": (
        {"format": "dbcfg", "database": None, "activated": None, "hadr_active": None, "role": "PRIMARY",
         "cfg": {"role": "PRIMARY", "local_host": "xcatmn1", "local_svc": "DB2_HADR_1", "remote_host": "xcatmn2", "remote_svc": "DB2_HADR_2",
                 "remote_inst": "xcatdb", "syncmode": "NEARSYNC", "timeout_s": 120, "peer_window_s": 120, "rollforward_pending": False,
                 "log_archiving": None, "trackmod": None, "logindexbuild": None, "indexrec": None},
         "cfg_extra": {"Rollforward pending": "NO", "First active log file": "S0000318.LOG",
                       "HADR_TARGET_LIST": "xcatmn2:DB2_HADR_2|xcatdr1:DB2_HADR_3", "HADR_SPOOL_LIMIT": "AUTOMATIC(52000)",
                       "HADR_REPLAY_DELAY": "0", "HADR_SSL_LABEL": "", "HADR_SSL_HOST_VAL": "OFF"}}, [],
    ),
    # ours
    "v115_standby_peer.txt": (
        {"format": "db2pd-10", "database": "XCATDB", "activated": True, "hadr_active": True, "role": "STANDBY",
         "timestamp_local": "2024-05-14T03:10:12.482113"}, [PEER_115],
    ),
    "v115_standby_remote_catchup_pending.txt": (
        {"format": "db2pd-10", "database": "XCATDB", "role": "STANDBY", "timestamp_local": "2024-05-14T03:10:41.118400"},
        [{**NO_FLAGS_115, "state": "REMOTE_CATCHUP_PENDING", "connect_status": "DISCONNECTED",
          "connect_status_time_epoch": 1715656082, "heartbeat_missed": 4, "time_since_last_recv_s": 159.0,
          "primary_log_time_epoch": 1715656081, "standby_log_time_epoch": 1715656081, "standby_replay_log_time_epoch": 1715656081,
          "log_gap_bytes": 1024, "standby_recv_replay_gap_bytes": 0, "peer_window_end_epoch": 1715656200, "extra": extra_115("258"),
          **logs(("S0000318.LOG", 4402, 1312312345), ("S0000318.LOG", 4402, 1312312345), ("S0000318.LOG", 4402, 1312312345))}],
    ),
    "v115_standby_disconnected_peer.txt": (
        {"format": "db2pd-10", "database": "XCATDB", "role": "STANDBY"},
        [{**NO_FLAGS_115, "state": "DISCONNECTED_PEER", "connect_status": "DISCONNECTED",
          "connect_status_time_epoch": 1715656110, "heartbeat_missed": 1, "time_since_last_recv_s": 42.0,
          "primary_log_time_epoch": 1715656109, "standby_log_time_epoch": 1715656109, "standby_replay_log_time_epoch": 1715656108,
          "log_gap_bytes": 0, "standby_recv_replay_gap_bytes": 3444, "peer_window_s": 120.0, "peer_window_end_epoch": 1715656230,
          "extra": extra_115("256"),
          **logs(("S0000318.LOG", 4406, 1312329011), ("S0000318.LOG", 4406, 1312329011), ("S0000318.LOG", 4405, 1312325567))}],
    ),
    "v115_standby_remote_catchup_superasync.txt": (
        {"format": "db2pd-10", "database": "XCATDB", "role": "STANDBY"},
        [{**{k: v for k, v in PEER_115.items() if k != "peer_window_end_epoch"}, "state": "REMOTE_CATCHUP", "syncmode": "SUPERASYNC",
          "standby_log_time_epoch": 1715655962, "standby_replay_log_time_epoch": 1715655962, "log_gap_bytes": 8388608,
          "peer_window_s": 0.0,
          **logs(("S0000318.LOG", 4410, 1312345678), ("S0000316.LOG", 10, 1303957070), ("S0000316.LOG", 9, 1303952626))}],
    ),
    "v105_standby_local_catchup.txt": (
        {"format": "db2pd-10", "database": "XCATDB", "role": "STANDBY", "timestamp_local": "2024-05-14T03:06:02.100200"},
        [{k: v for k, v in {
            **XCAT_115, "role": "STANDBY", "state": "LOCAL_CATCHUP", "syncmode": "NEARSYNC", "connect_status": "DISCONNECTED",
            "standby_id": 0, "primary_instance": None, "primary_member": None, "standby_host": "xcatmn2",
            "connect_status_time_epoch": 1715655958, "standby_log_time_epoch": 1715650817, "standby_replay_log_time_epoch": 1715650795,
            "log_gap_bytes": 0, "standby_recv_replay_gap_bytes": 1048576, "standby_recv_buf_percent": 100.0,
            "standby_spool_percent": 12.0, "peer_window_s": 120.0,
            "extra": {"REPLAY_TYPE": "PHYSICAL", "LOG_HADR_WAIT_RECENT_AVG(seconds)": "0.000000", "LOG_HADR_WAIT_ACCUMULATED(seconds)": "0.000",
                      "LOG_HADR_WAIT_COUNT": "0", "SOCK_SEND_BUF_REQUESTED,ACTUAL(bytes)": "0, 0",
                      "SOCK_RECV_BUF_REQUESTED,ACTUAL(bytes)": "0, 0", "STANDBY_RECV_BUF_SIZE(pages)": "2048",
                      "STANDBY_SPOOL_LIMIT(pages)": "52000"},
            **logs((None, None, None), ("S0000310.LOG", 12, 1280049152), ("S0000309.LOG", 998, 1279000576)),
        }.items() if v is not None}],
    ),
    "v115_primary_two_standbys_one_disconnected.txt": (
        {"format": "db2pd-10", "database": "XCATDB", "activated": True, "hadr_active": True, "role": "PRIMARY",
         "timestamp_local": "2024-05-14T03:10:14.006217"},
        [{**PEER_115, "role": "PRIMARY", "standby_id": 1},
         {**XCAT_115, "role": "PRIMARY", "state": "DISCONNECTED", "syncmode": "SUPERASYNC", "connect_status": "DISCONNECTED",
          "standby_id": 2, "standby_host": "xcatdr1", "connect_status_time_epoch": 1715655077, "heartbeat_missed": 0,
          "time_since_last_recv_s": 1135.0, "primary_log_time_epoch": 1715656198, "standby_log_time_epoch": 1715655076,
          "standby_replay_log_time_epoch": 1715655076, "log_gap_bytes": 6336718, "standby_recv_replay_gap_bytes": 0,
          "peer_window_s": 0.0, "extra": extra_115("0", ("0.000000", "0.000", "0")),
          **logs(("S0000318.LOG", 4410, 1312345678), ("S0000317.LOG", 2901, 1306008960), ("S0000317.LOG", 2901, 1306008960))}],
    ),
    "v97_standby_peer.txt": (
        {"format": "db2pd-9", "database": "XCATDB", "activated": True, "hadr_active": True, "role": "STANDBY"},
        [{"role": "STANDBY", "state": "PEER", "syncmode": "NEARSYNC", "connect_status": "CONNECTED", "heartbeat_missed": 0,
          "log_gap_bytes": 0, "connect_status_time_epoch": 1281011580, "hadr_timeout_s": 120.0, "peer_window_end_epoch": 1281016327,
          "peer_window_s": 120.0, "standby_host": "xcatmn2", "primary_host": "xcatmn1", "primary_instance": "xcatdb",
          "standby_recv_buf_percent": 0.0, "flags_reported": False,
          "primary_log_file": "S0000002.LOG", "primary_log_page": 66, "primary_log_pos": 0xFA4869D, "primary_log_lsn": "0x000000000FA4869D",
          "standby_log_file": "S0000002.LOG", "standby_log_page": 66, "standby_log_pos": 0xFA4869D, "standby_log_lsn": "0x000000000FA4869D",
          "extra": {"LocalService": "DB2_HADR_2", "RemoteService": "DB2_HADR_1"}}],
    ),
    "xcatwiki_v97_db2pd_primary_peer.txt": (
        {"format": "db2pd-9", "database": "XCATDB", "activated": True, "role": "PRIMARY"},
        [{"role": "PRIMARY", "state": "PEER", "syncmode": "NEARSYNC", "connect_status": "CONNECTED", "heartbeat_missed": 0,
          "log_gap_bytes": 0, "connect_status_time_epoch": 1281011580, "hadr_timeout_s": 3.0, "peer_window_end_epoch": 1281016327,
          "peer_window_s": 120.0, "primary_host": "9.114.47.103", "standby_host": "9.114.47.104", "standby_instance": "xcatdb",
          "flags_reported": False,
          "primary_log_file": "S0000002.LOG", "primary_log_page": 66, "primary_log_pos": 0xFA4869D, "primary_log_lsn": "0x000000000FA4869D",
          "standby_log_file": "S0000002.LOG", "standby_log_page": 66, "standby_log_pos": 0xFA4869D, "standby_log_lsn": "0x000000000FA4869D",
          "extra": {"LocalService": "DB2_HADR_1", "RemoteService": "DB2_HADR_2"}}],
    ),
    "xcatwiki_v97_snapshot_primary_peer.txt": (
        {"format": "snapshot", "database": None, "activated": True, "role": "PRIMARY"},
        [{"role": "PRIMARY", "state": "PEER", "syncmode": "NEARSYNC", "connect_status": "CONNECTED", "heartbeat_missed": 0,
          "peer_window_end_epoch": 1281013387, "peer_window_s": 120.0, "primary_host": "9.114.47.103", "standby_host": "9.114.47.104",
          "standby_instance": "xcatdb", "hadr_timeout_s": 3.0, "log_gap_bytes": 0, "flags_reported": False,
          "primary_log_file": "S0000002.LOG", "primary_log_page": 18, "primary_log_lsn": "000000000FA18D7C",
          "standby_log_file": "S0000002.LOG", "standby_log_page": 18, "standby_log_lsn": "000000000FA18D7C",
          "extra": {"Connection status time": "08/05/2010 20:33:00.412948", "Local service": "DB2_HADR_1",
                    "Remote service": "DB2_HADR_2"}}],
    ),
    "snapshot_v97_standby_remote_catchup_pending.txt": (
        {"format": "snapshot", "database": "XCATDB", "activated": True, "hadr_active": True, "role": "STANDBY",
         "timestamp_local": "2024-05-14T03:10:41.221005"},
        [{"role": "STANDBY", "state": "REMOTE_CATCHUP_PENDING", "syncmode": "NEARSYNC", "connect_status": "DISCONNECTED",
          "peer_window_end_epoch": 1715656200, "peer_window_s": 120.0, "heartbeat_missed": 4, "standby_host": "xcatmn2",
          "primary_host": "xcatmn1", "primary_instance": "xcatdb", "hadr_timeout_s": 120.0, "log_gap_bytes": 1024,
          "flags_reported": False,
          "primary_log_file": "S0000318.LOG", "primary_log_page": 4402, "primary_log_lsn": "000000004E38B2F9",
          "standby_log_file": "S0000318.LOG", "standby_log_page": 4402, "standby_log_lsn": "000000004E38B2F9",
          "extra": {"Connection status time": "05/14/2024 03:08:02.118220", "Local service": "DB2_HADR_2",
                    "Remote service": "DB2_HADR_1"}}],
    ),
    "dbcfg_v115_standby_rollforward_pending.txt": (
        {"format": "dbcfg", "database": "XCATDB", "activated": None, "role": "STANDBY",
         "cfg": {"role": "STANDBY", "local_host": "xcatmn2", "local_svc": "DB2_HADR_2", "remote_host": "xcatmn1", "remote_svc": "DB2_HADR_1",
                 "remote_inst": "xcatdb", "syncmode": "NEARSYNC", "timeout_s": 120, "peer_window_s": 120, "rollforward_pending": True,
                 "log_archiving": True, "trackmod": True, "logindexbuild": True, "indexrec": "RESTART"}}, [],
    ),
}


def all_samples() -> list[Path]:
    return sorted(MINE.glob("*.txt"))


def test_every_sample_has_expectations():
    """A new sample without expected values fails here."""
    assert sorted(p.name for p in all_samples()) == sorted(EXPECTED)


@pytest.mark.parametrize("path", all_samples(), ids=lambda p: p.name)
def test_sample_parses_to_exact_values(path: Path):
    top, channels = EXPECTED[path.name]
    status = parse_any(read(path))
    out = status.to_json()
    for key, value in top.items():
        assert out[key] == value, key
    assert [known(ch) for ch in out["channels"]] == channels
    assert out["warnings"] == top.get("warnings", [])
    assert list(out)[:4] == ["format", "database", "activated", "hadr_active"]


@pytest.mark.parametrize("path", all_samples(), ids=lambda p: p.name)
def test_the_format_parser_agrees_with_parse_any(path: Path):
    text = read(path)
    parser = {"db2pd": parse_db2pd, "snapshot": parse_snapshot, "dbcfg": parse_dbcfg}[detect(text)]
    assert parser(text) == parse_any(text)


def test_target_list_principal_first():
    status = parse_any(read(MINE / "17_dbcfg_v115_primary_hadr_lines.txt"))
    assert target_list(status.cfg_extra["HADR_TARGET_LIST"]) == ["xcatmn2:DB2_HADR_2", "xcatdr1:DB2_HADR_3"]
    assert target_list("{a:1|b:1}|c:2") == ["{a:1|b:1}", "c:2"]
    assert target_list("") == []


# --- special messages ---------------------------------------------------------------------

NOT_ACTIVATED = ("\nDatabase HADRDB not activated on database member 1 or this database name cannot be found in the local "
                 "database directory.\n\nOption -hadr requires -db <database> or -alldbs option and active database.\n")


@pytest.mark.parametrize("text", [
    NOT_ACTIVATED,
    "\nOption -hadr requires -db <database> or -alldbs option and active database.\n",
    "Database XCATDB not activated on database partition 0 or this database name cannot be found in the local database directory.\n",
])
def test_not_activated_is_unknown_role_never_standard(text: str):
    status = parse_any(text)
    assert status.activated is False
    assert status.role is None and status.hadr_active is None and status.channels == []
    assert status.to_json()["role"] is None


def test_not_activated_names_the_database():
    assert parse_db2pd(NOT_ACTIVATED).database == "HADRDB"
    assert parse_db2pd("Option -hadr requires -db <database> or -alldbs option and active database.\n").database is None


def test_hadr_not_active_after_banner_is_standard():
    for banner in ("Database Member 0 -- Database XCATDB -- Active -- Up 0 days 00:04:51 -- Date 2021-11-02-04.36.05.118830",
                   "Database Partition 0 -- Database XCATDB -- Active -- Up 0 days 00:19:25"):
        status = parse_any(f"\n{banner}\n\nHADR is not active.\n\n")
        assert (status.activated, status.hadr_active, status.role, status.database) == (True, False, "STANDARD", "XCATDB")
    assert parse_any("Database Partition 0 -- Database X -- Active -- Up 0 days 00:19:25\nHADR is not active.\n").source == "db2pd-9"


def test_hadr_not_active_without_banner_is_refused():
    with pytest.raises(ParseError, match="without the db2pd banner") as exc:
        parse_any("HADR is not active.\n")
    assert exc.value.line == 1


@pytest.mark.parametrize("message", ["Changing data structure forced command termination.",
                                     "Virtual Address Space Randomization (VASR) is in effect; retry."])
def test_transient_db2pd_messages_say_read_again(message: str):
    with pytest.raises(Db2pdTransient, match="read the status again"):
        parse_any(f"\n{message}\n")


def test_allmembers_not_active_member_is_a_warning_next_to_blocks():
    text = read(MINE / "v115_standby_peer.txt") + (
        "\nDatabase XCATDB not activated on database member 1 or this database name cannot be found in the local database directory.\n")
    status = parse_any(text)
    assert status.activated is True and status.channels[0].state == "PEER"
    assert any("member 1" in w for w in status.warnings)


def test_snapshot_standard_role():
    status = parse_any("   HADR status\n\n     Role                   = Standard\n")
    assert (status.source, status.hadr_active, status.role, status.channels) == ("snapshot", False, "STANDARD", [])


# --- bad input ----------------------------------------------------------------------------

def cut_after(text: str, marker: str) -> str:
    return text[: text.index(marker) + len(marker)]


V115 = read(MINE / "v115_standby_peer.txt")
V97 = read(MINE / "01_db2pd_v97_primary_peer_ibmwiki.txt")
TWO = read(MINE / "v115_primary_two_standbys_one_disconnected.txt")


@pytest.mark.parametrize("text, line, words", [
    ("", None, "empty input"),
    ("   \n\n\t\n", None, "empty input"),
    ("total 12\ndrwxr-xr-x 2 root root 4096 .\n", 1, "not a DB2 HADR status"),
    ("SQL1117N  A connection to or activation of database \"XCATDB\" cannot be made\n", 1, "not a DB2 HADR status"),
    ("\x7fELF\x02\x01\x01\x00\x00\x00", 1, "binary data"),
    ("Database Member 0 -- Database XCATDB -- Active -- Up 0 days 00:00:05 -- Date 2012-06-08-12.34.56.000000\n\n", 1,
     "no HADR section"),
    ("Database Member 0 -- Database XCATDB -- Active -- Up 0 days 00:00:05\n" + NOT_ACTIVATED, 1, "no HADR section"),
    # 9.7: a header row whose value row is missing, and an output cut before its log rows
    (cut_after(V97, "PrimaryFile  PrimaryPg  PrimaryLSN\n"), 17, "has no value row"),
    (V97.replace("S0000833.LOG 0          0x0000000001CA4000\n", ""), 17, "has no value row"),
    (cut_after(V97, "server2.ibm.com                          hdr_svc2           accounting\n"), 15, "without the PrimaryFile, StandByFile rows"),
    # 10.x: a block cut mid-way (at a line end), in the last block of two, and a garbled one
    (cut_after(V115, "HADR_CONNECT_STATUS = CONNECTED\n"), 17, "ends without PRIMARY_LOG_FILE,PAGE,POS"),
    (cut_after(TWO, "STANDBY_LOG_FILE,PAGE,POS = S0000317.LOG, 2901, 1306008960\n"), 76, "ends without HADR_LOG_GAP, PEER_WINDOW"),
    (V115.replace("HADR_ROLE = STANDBY\n", ""), 4, "before any HADR_ROLE"),
    (V115.replace("HADR_STATE = PEER\n", "HADR_STATE = PEER\n      HADR_STATE = PEER\n"), 10, "HADR_STATE twice"),
    (V115.replace("(1715656322)", ""), 45, "PEER_WINDOW_END: expected a timestamp ending in (epoch seconds)"),
    (V115.replace("S0000318.LOG, 4410, 1312345678\n                  HADR", "S0000318.LOG, 4410\n                  HADR"), 32,
     "STANDBY_LOG_FILE,PAGE,POS: expected 'file, page, pos'"),
    (V115.replace("HADR_TIMEOUT(seconds) = 120", "HADR_TIMEOUT(seconds) = 1a0"), 22, "expected a number"),
    (V115 + "\nsome trailing junk\n", 48, "unexpected text"),
    (V115 + V115.replace("XCATDB", "OTHERDB"), 48, "a second database"),
    (V115 + read(MINE / "10b_snapshot_v97_primary_peer_ibmdoc_verbatim.txt"), 47, "give one reading per input"),
    # snapshot and db cfg cut short
    ("   HADR status\n\n     Role = Primary\n     State = Peer\n", 4, "looks truncated"),
    (" Rollforward pending = NO\n HADR local host name  (HADR_LOCAL_HOST) = xcatmn1\n", 1, "no 'HADR database role' line"),
])
def test_bad_input_raises_with_what_and_where(text: str, line: int | None, words: str):
    with pytest.raises(ParseError) as exc:
        parse_any(text)
    assert words in exc.value.message
    assert exc.value.line == line
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("path", sorted((MINE / "messages").glob("*.txt")), ids=lambda p: p.name)
def test_clp_messages_are_not_a_status(path: Path):
    with pytest.raises(ParseError, match="not a DB2 HADR status"):
        parse_any(read(path))


@pytest.mark.parametrize("data", [bytes(range(256)), b"\xff\xfe\x00H\x00A", b"HADR_ROLE = PRIMARY\n\xc3\x28\n"])
def test_binary_garbage_is_refused(data: bytes):
    with pytest.raises(ParseError, match="not text|binary data"):
        parse_bytes(data)


def test_unknown_enum_values_and_flags_are_kept_and_warned():
    text = V115.replace("HADR_STATE = PEER", "HADR_STATE = NEARLY_PEER").replace("TCP_PROTOCOL", "TCP_PROTOCOL SOMETHING_NEW")
    status = parse_any(text)
    assert status.channels[0].state == "NEARLY_PEER"
    assert status.channels[0].flags == ["TCP_PROTOCOL", "SOMETHING_NEW"]
    assert any("unknown state value 'NEARLY_PEER'" in w for w in status.warnings)
    assert any("unknown HADR_FLAGS token 'SOMETHING_NEW'" in w for w in status.warnings)


def test_unknown_keys_are_kept_in_extra_and_missing_optional_keys_are_none():
    text = V115.replace("             READS_ON_STANDBY_ENABLED = N\n", "       HADR_LAST_TAKEOVER_TIME = NULL\n"
                                                                          "     SOME_FUTURE_LIMIT(4KB) = 12 \n")
    ch = parse_any(text).channels[0]
    assert ch.extra["HADR_LAST_TAKEOVER_TIME"] == "NULL" and ch.extra["SOME_FUTURE_LIMIT(4KB)"] == "12"
    assert ch.reads_on_standby_enabled is None
    no_flags = parse_any(V115.replace("                           HADR_FLAGS = TCP_PROTOCOL\n", "")).channels[0]
    assert (no_flags.flags, no_flags.flags_reported) == ([], False)


def test_a_unit_the_key_does_not_allow_goes_to_extra_with_a_warning():
    status = parse_any(V115.replace("HADR_TIMEOUT(seconds)", "HADR_TIMEOUT(pages)"))
    assert status.channels[0].hadr_timeout_s is None
    assert status.channels[0].extra["HADR_TIMEOUT(pages)"] == "120"
    assert any("HADR_TIMEOUT(pages)" in w for w in status.warnings)


def test_bom_and_crlf_from_a_windows_editor():
    data = b"\xef\xbb\xbf" + (MINE / "v115_standby_peer.txt").read_bytes().replace(b"\n", b"\r\n")
    assert parse_bytes(data) == parse_any(V115)


def test_wrapped_banner_date_and_pasted_prompt():
    text = "$ db2pd -db hadr_db -hadr\n" + read(MINE / "11_db2pd_v101_primary_peer_ibmwiki_verbatim.txt").replace(
        "-- Date 06/08/2011 13:57:23", "--\nDate 06/08/2011 13:57:23")
    status = parse_any(text)
    assert (status.database, status.timestamp_local) == ("HADRDB", "2011-06-08T13:57:23")


def test_block_without_banner_is_read_with_a_warning():
    body = V115.split("\n\n", 1)[1]
    status = parse_any(body)
    assert status.database is None and status.channels[0].state == "PEER"
    assert any("no db2pd banner" in w for w in status.warnings)


def test_epoch_zero_is_never():
    ch = parse_any(V115.replace("03:12:02.000000 (1715656322)", "01/01/1970 00:00:00.000000 (0)")).channels[0]
    assert ch.peer_window_end_epoch is None


def test_dbcfg_log_archiving_from_logretain_and_logarchmeth1():
    head = " HADR database role                                      = STANDBY\n"

    def arch(lines: str) -> bool | None:
        return parse_dbcfg(head + lines).cfg["log_archiving"]

    assert arch(" Log retain for recovery enabled             (LOGRETAIN) = RECOVERY\n") is True
    assert arch(" Log retain for recovery enabled             (LOGRETAIN) = OFF\n") is None  # LOGARCHMETH1 unseen
    assert arch(" Log retain for recovery enabled             (LOGRETAIN) = OFF\n"
                " First log archive method                 (LOGARCHMETH1) = OFF\n") is False
    assert arch(" First log archive method                 (LOGARCHMETH1) = LOGRETAIN\n") is True
    assert arch("") is None


def test_dbcfg_unknown_rollforward_value_is_unknown():
    status = parse_dbcfg(" HADR database role = STANDBY\n Rollforward pending = MAYBE\n")
    assert status.cfg["rollforward_pending"] is None and status.warnings


# --- truncation: a cut output never yields a different value, only an error or unknown -----

def _same_or_unknown(cut: Any, full: Any, path: str) -> None:
    if isinstance(full, dict):
        assert isinstance(cut, dict), path
        for k, v in cut.items():
            if path.endswith("extra") or path.endswith("cfg_extra"):
                assert k in full, f"{path}.{k}"
            _same_or_unknown(v, full.get(k), f"{path}.{k}")
        return
    assert cut is None or cut == full or cut == [] or cut is False and path.endswith("flags_reported"), (path, cut, full)


TRUNCATABLE = [p for p in all_samples() if EXPECTED[p.name][1] or EXPECTED[p.name][0].get("cfg")]


@pytest.mark.parametrize("path", TRUNCATABLE, ids=lambda p: p.name)
def test_every_prefix_is_an_error_or_agrees_with_the_whole(path: Path):
    """Cut the sample at every character: each prefix must raise ParseError, or parse to values that
    are the whole output's values or unknown — never a different value (no `12` from `120`)."""
    text = read(path)
    full = parse_any(text).to_json()
    accepted = 0
    for n in range(len(text)):
        try:
            cut = parse_any(text[:n]).to_json()
        except ParseError:
            continue
        accepted += 1
        assert cut["format"] == full["format"] or full["format"] == "db2pd-10", n
        assert len(cut["channels"]) <= len(full["channels"]), n
        for i, ch in enumerate(cut["channels"]):
            _same_or_unknown({k: v for k, v in ch.items()}, full["channels"][i], f"[{n}] ch{i}")
        _same_or_unknown(cut["cfg"], full["cfg"], f"[{n}] cfg")
        if cut["channels"] and len(cut["channels"]) == len(full["channels"]) and cut != full:
            assert cut["warnings"] or any(v is None for v in cut["channels"][-1].values()), n
    assert accepted > 0


def test_a_last_line_without_newline_is_ignored_not_trusted():
    text = cut_after(V115, "PEER_WINDOW(seconds) = 12")  # of 120
    status = parse_any(text)
    assert status.channels[0].peer_window_s is None
    assert any("may be cut" in w for w in status.warnings)
    v97 = V97.rstrip("\n")[:-4]  # StandByLSN cut: 0x0000000001CA3 of 0x0000000001CA3A77
    ch = parse_any(v97).channels[0]
    assert ch.standby_log.file is None and ch.standby_log.pos is None and ch.primary_log.pos == 0x1CA4000


def test_a_whole_standby_block_cut_off_is_not_detectable_but_the_rest_is_exact():
    """The one cut the text cannot show: exactly between two blocks (compare with HADR_TARGET_LIST)."""
    first = TWO[: TWO.index("\n\n", 200) + 1]
    status = parse_any(first)
    assert len(status.channels) == 1 and status.channels[0].standby_host == "xcatmn2"


def test_status_json_is_serialisable():
    import json

    for path in all_samples():
        json.dumps(parse_any(read(path)).to_json())


def test_hadrstatus_role_follows_sources():
    assert HadrStatus("dbcfg", cfg={"role": "STANDBY"}).role == "STANDBY"
