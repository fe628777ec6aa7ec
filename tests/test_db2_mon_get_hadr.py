"""MON_GET_HADR through ibm_db, at the driver boundary: no DB2 server can run here, so
`ibm_db.exec_immediate` / `ibm_db.fetch_assoc` are replaced by fakes that check the exact SQL and
return rows typed as ibm_db returns them (str, int, float, naive datetime, str for DECIMAL)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import ibm_db
import pytest

from hamn_tui.probes.db2 import mon_get_hadr
from hamn_tui.probes.db2.mon_get_hadr import (
    COLUMNS, MON_GET_HADR_ANY_LEVEL_SQL, MON_GET_HADR_SQL, Db2QueryError, connect, read_mon_get_hadr,
)

CONN = object()


def standby_row(**changes: Any) -> dict[str, Any]:
    """One row as a DB2 11.5 standby with Reads-on-Standby would return it (server clock UTC+2)."""
    row: dict[str, Any] = {
        "HADR_ROLE": "STANDBY", "REPLAY_TYPE": "PHYSICAL", "HADR_SYNCMODE": "NEARSYNC", "STANDBY_ID": 0, "LOG_STREAM_ID": 0,
        "HADR_STATE": "DISCONNECTED_PEER", "HADR_FLAGS": "", "PRIMARY_MEMBER_HOST": "xcatmn1", "PRIMARY_INSTANCE": "xcatdb",
        "PRIMARY_MEMBER": 0, "STANDBY_MEMBER_HOST": "xcatmn2", "STANDBY_INSTANCE": "xcatdb", "STANDBY_MEMBER": 0,
        "HADR_CONNECT_STATUS": "DISCONNECTED", "HADR_CONNECT_STATUS_TIME": datetime(2024, 5, 14, 5, 8, 30, 771020),
        "HEARTBEAT_INTERVAL": 30000, "HEARTBEAT_MISSED": 1, "HEARTBEAT_EXPECTED": 256, "HADR_TIMEOUT": 120000,
        "TIME_SINCE_LAST_RECV": 42000, "PEER_WAIT_LIMIT": 0, "LOG_HADR_WAIT_CUR": 0, "LOG_HADR_WAIT_TIME": 2114,
        "LOG_HADR_WAITS_TOTAL": 4081, "SOCK_SEND_BUF_REQUESTED": 0, "SOCK_SEND_BUF_ACTUAL": 46080, "SOCK_RECV_BUF_REQUESTED": 0,
        "SOCK_RECV_BUF_ACTUAL": 367360, "PRIMARY_LOG_FILE": "S0000318.LOG", "PRIMARY_LOG_PAGE": 4406, "PRIMARY_LOG_POS": 1312329011,
        "STANDBY_LOG_FILE": "S0000318.LOG", "STANDBY_LOG_PAGE": 4406, "STANDBY_LOG_POS": 1312329011, "HADR_LOG_GAP": 0,
        "STANDBY_REPLAY_LOG_FILE": "S0000318.LOG", "STANDBY_REPLAY_LOG_PAGE": 4405, "STANDBY_REPLAY_LOG_POS": 1312325567,
        "STANDBY_RECV_REPLAY_GAP": 3444, "PRIMARY_LOG_TIME": datetime(2024, 5, 14, 5, 8, 29),
        "STANDBY_LOG_TIME": datetime(2024, 5, 14, 5, 8, 29), "STANDBY_REPLAY_LOG_TIME": datetime(2024, 5, 14, 5, 8, 28),
        "STANDBY_RECV_BUF_SIZE": 2048, "STANDBY_RECV_BUF_PERCENT": 0.0, "STANDBY_SPOOL_LIMIT": 52000, "STANDBY_SPOOL_PERCENT": None,
        "STANDBY_REPLAY_DELAY": 0, "PEER_WINDOW": 120000, "PEER_WINDOW_END": datetime(2024, 5, 14, 5, 10, 30),
        "TAKEOVER_APP_REMAINING_PRIMARY": None, "TAKEOVER_APP_REMAINING_STANDBY": None, "READS_ON_STANDBY_ENABLED": "Y",
        "STANDBY_REPLAY_ONLY_WINDOW_ACTIVE": "N", "STANDBY_REPLAY_ONLY_WINDOW_START": None,
        "STANDBY_REPLAY_ONLY_WINDOW_TRAN_COUNT": 0, "STANDBY_ERROR_TIME": None, "HADR_LAST_TAKEOVER_TIME": None,
        "SERVER_TZ_OFFSET": "20000", "SERVER_DB_NAME": "XCATDB  ",
    }
    row.update(changes)
    return row


class FakeDriver:
    """Stands in for the two ibm_db calls; records the SQL it was given."""

    def __init__(self, results: dict[str, list[dict[str, Any]] | Exception]):
        self.results = results
        self.sql: list[str] = []
        self.rows: list[dict[str, Any]] = []

    def exec_immediate(self, conn: Any, sql: str) -> Any:
        assert conn is CONN
        self.sql.append(sql)
        result = self.results[sql]  # KeyError: SQL text not the expected one
        if isinstance(result, Exception):
            raise result
        self.rows = list(result)
        return ("stmt", sql)

    def fetch_assoc(self, stmt: Any) -> dict[str, Any] | bool:
        assert stmt[0] == "stmt"
        return self.rows.pop(0) if self.rows else False


@pytest.fixture
def driver(monkeypatch):
    def install(results):
        fake = FakeDriver(results)
        monkeypatch.setattr(ibm_db, "exec_immediate", fake.exec_immediate)
        monkeypatch.setattr(ibm_db, "fetch_assoc", fake.fetch_assoc)
        return fake
    return install


def test_the_query_names_the_documented_columns():
    assert MON_GET_HADR_SQL.startswith("SELECT HADR_ROLE, REPLAY_TYPE, HADR_SYNCMODE, STANDBY_ID, LOG_STREAM_ID, HADR_STATE, HADR_FLAGS, ")
    assert MON_GET_HADR_SQL.endswith(", CURRENT TIMEZONE AS SERVER_TZ_OFFSET, CURRENT SERVER AS SERVER_DB_NAME FROM TABLE(MON_GET_HADR(NULL))")
    for col in ("PEER_WINDOW_END", "HADR_LOG_GAP", "STANDBY_REPLAY_LOG_POS", "HEARTBEAT_MISSED", "STANDBY_ERROR_TIME"):
        assert col in COLUMNS
    assert set(standby_row()) == set(COLUMNS) | {"SERVER_TZ_OFFSET", "SERVER_DB_NAME"}


def test_a_standby_row_maps_ms_to_seconds_and_local_timestamps_to_epoch(driver):
    fake = driver({MON_GET_HADR_SQL: [standby_row()]})
    status = read_mon_get_hadr(CONN, "XCATDB")
    assert fake.sql == [MON_GET_HADR_SQL]
    assert (status.source, status.database, status.activated, status.hadr_active, status.role) == (
        "mon_get_hadr", "XCATDB", True, True, "STANDBY")
    ch = status.channels[0]
    assert (ch.state, ch.syncmode, ch.connect_status, ch.flags, ch.flags_reported) == ("DISCONNECTED_PEER", "NEARSYNC", "DISCONNECTED", [], True)
    # milliseconds → seconds
    assert (ch.hadr_timeout_s, ch.peer_window_s, ch.heartbeat_interval_s, ch.time_since_last_recv_s, ch.peer_wait_limit_s,
            ch.log_hadr_wait_cur_s) == (120.0, 120.0, 30.0, 42.0, 0.0, 0.0)
    # server local time (UTC+2, CURRENT TIMEZONE 20000) → epoch: 05:10:30 +02:00 = 03:10:30 UTC
    assert ch.peer_window_end_epoch == 1715656230
    assert ch.connect_status_time_epoch == 1715656110
    assert (ch.primary_log_time_epoch, ch.standby_replay_log_time_epoch) == (1715656109, 1715656108)
    assert (ch.primary_log.file, ch.primary_log.page, ch.primary_log.pos) == ("S0000318.LOG", 4406, 1312329011)
    assert (ch.standby_replay_log.page, ch.standby_replay_log.pos) == (4405, 1312325567)
    assert (ch.log_gap_bytes, ch.standby_recv_replay_gap_bytes, ch.heartbeat_missed, ch.standby_spool_percent) == (0, 3444, 1, None)
    assert ch.reads_on_standby_enabled is True and (ch.primary_host, ch.standby_host) == ("xcatmn1", "xcatmn2")
    assert ch.extra["LOG_HADR_WAIT_TIME"] == 2114 and ch.extra["STANDBY_REPLAY_ONLY_WINDOW_ACTIVE"] == "N"
    assert ch.extra["HADR_LAST_TAKEOVER_TIME"] is None
    assert status.warnings == []


def test_a_primary_with_two_standbys_gives_two_channels(driver):
    principal = standby_row(HADR_ROLE="PRIMARY", STANDBY_ID=1, HADR_STATE="PEER", HADR_CONNECT_STATUS="CONNECTED", HADR_FLAGS="TCP_PROTOCOL")
    aux = standby_row(HADR_ROLE="PRIMARY", STANDBY_ID=2, HADR_SYNCMODE="SUPERASYNC", HADR_STATE="DISCONNECTED",
                      STANDBY_MEMBER_HOST="xcatdr1", PEER_WINDOW=0, PEER_WINDOW_END=None, HADR_FLAGS=None)
    driver({MON_GET_HADR_SQL: [principal, aux]})
    status = read_mon_get_hadr(CONN)
    assert [(c.standby_id, c.state, c.syncmode, c.standby_host, c.flags, c.flags_reported) for c in status.channels] == [
        (1, "PEER", "NEARSYNC", "xcatmn2", ["TCP_PROTOCOL"], True), (2, "DISCONNECTED", "SUPERASYNC", "xcatdr1", [], False)]
    assert status.channels[1].peer_window_s == 0.0 and status.channels[1].peer_window_end_epoch is None


def test_one_standard_row_is_standard_and_no_row_is_unknown(driver):
    driver({MON_GET_HADR_SQL: [{"HADR_ROLE": "STANDARD", "SERVER_DB_NAME": "XCATDB", "SERVER_TZ_OFFSET": "0"}]})
    status = read_mon_get_hadr(CONN, "XCATDB")
    assert (status.hadr_active, status.role, status.channels) == (False, "STANDARD", [])
    driver({MON_GET_HADR_SQL: []})
    status = read_mon_get_hadr(CONN, "XCATDB")
    assert (status.hadr_active, status.role, status.activated, status.database) == (None, None, True, "XCATDB")
    assert "no row" in status.warnings[0] and "role is unknown" in status.warnings[0]


def test_an_older_level_is_read_again_with_every_column(driver):
    old = {k: v for k, v in standby_row().items() if k not in ("HADR_FLAGS", "HEARTBEAT_MISSED", "HEARTBEAT_EXPECTED",
                                                                 "STANDBY_SPOOL_PERCENT", "STANDBY_ERROR_TIME", "HADR_LAST_TAKEOVER_TIME")}
    fake = driver({MON_GET_HADR_SQL: Exception('[IBM][CLI Driver][DB2/LINUXX8664] SQL0206N  "HADR_FLAGS" is not valid in the context '
                                               'where it is used.  SQLSTATE=42703 SQLCODE=-206'),
                   MON_GET_HADR_ANY_LEVEL_SQL: [old]})
    status = read_mon_get_hadr(CONN)
    assert fake.sql == [MON_GET_HADR_SQL, MON_GET_HADR_ANY_LEVEL_SQL]
    ch = status.channels[0]
    assert (ch.flags, ch.flags_reported, ch.heartbeat_missed, ch.state) == ([], False, None, "DISCONNECTED_PEER")
    assert "lacks some MON_GET_HADR columns" in status.warnings[0]


def test_other_sql_errors_are_raised_with_the_db2_message(driver):
    driver({MON_GET_HADR_SQL: Exception("[IBM][CLI Driver][DB2/LINUXX8664] SQL1776N  The command cannot be issued on an HADR "
                                        "database. Reason code = \"1\".  SQLSTATE=08004")})
    with pytest.raises(Db2QueryError, match="SQL1776N"):
        read_mon_get_hadr(CONN)


def test_timestamps_without_the_server_zone_stay_unknown(driver):
    driver({MON_GET_HADR_SQL: [standby_row(SERVER_TZ_OFFSET=None)]})
    status = read_mon_get_hadr(CONN)
    assert status.channels[0].peer_window_end_epoch is None
    assert status.channels[0].extra["PEER_WINDOW_END"] == "2024-05-14T05:10:30"
    assert any("server time zone unknown" in w for w in status.warnings)


def test_negative_zone_offset_and_wrong_database(driver):
    driver({MON_GET_HADR_SQL: [standby_row(SERVER_TZ_OFFSET="-53000", PEER_WINDOW_END=datetime(2024, 5, 13, 21, 40, 30),
                                           SERVER_DB_NAME="OTHERDB")]})
    status = read_mon_get_hadr(CONN, "XCATDB")
    assert status.channels[0].peer_window_end_epoch == 1715656230  # 21:40:30 -05:30 = 03:10:30 UTC
    assert status.database == "OTHERDB" and "not XCATDB" in status.warnings[0]


def test_connect_keeps_credentials_out_of_strings_and_errors(monkeypatch):
    calls: list[tuple[str, str, str]] = []

    def fake_connect(dsn: str, uid: str, pwd: str) -> object:
        calls.append((dsn, uid, pwd))
        if "bad" in dsn:
            raise Exception(f"SQL30082N Security processing failed ... {dsn}")
        return CONN

    monkeypatch.setattr(ibm_db, "connect", fake_connect)
    assert connect("XCATDB", "xcatdb", "s3cret") is CONN
    assert calls[-1] == ("XCATDB", "xcatdb", "s3cret")  # catalogued alias: credentials as arguments
    assert connect("XCATDB", "xcatdb", "s3cret", host="xcatmn1", port=50000) is CONN
    assert calls[-1] == ("DATABASE=XCATDB;HOSTNAME=xcatmn1;PORT=50000;PROTOCOL=TCPIP;UID=xcatdb;PWD=s3cret;", "", "")
    with pytest.raises(Db2QueryError) as exc:
        connect("XCATDB", "xcatdb", "s3cret", host="bad-host", port=50000)
    assert "s3cret" not in str(exc.value) and "***" in str(exc.value)
    for kwargs in ({"password": "a;HOSTNAME=evil"}, {"password": "x}"}, {"user": "a;b"}, {"host": "h;PORT=1", "port": 1}):
        args = {"database": "XCATDB", "user": "u", "password": "p", "host": "h", "port": 50000, **kwargs}
        with pytest.raises(ValueError) as err:
            connect(**args)
        assert "HOSTNAME=evil" not in str(err.value)
    with pytest.raises(ValueError):
        connect("XCAT;DB")
    assert mon_get_hadr.Db2QueryError is Db2QueryError
