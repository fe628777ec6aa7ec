"""db2-hadr-setup's rollbacks put back what was there before the change (issue 13, item 3).

On the simulator: XCATDB on the primary starts with its own alternate server and some HADR
settings; the setup runs up to a point and is rolled back from there. The alternate server and
the HADR db cfg on both nodes must be what a read-only step recorded just before the change (an
empty value comes back as NULL), never NULL across the board; the primary's database is
activated again only if it was active before `deactivate-primary`.
"""
from __future__ import annotations

import pytest

from hamn_tui.sim.training import Training

from .sim_support import sh
from .test_runbook_rollbacks import run_then_roll_back

SETUP = dict(yes=True, confirms={"restore-standby": "mn2"}, attests={"same-db2-level"})
HADR_FIELDS = ("local_host", "local_svc", "remote_host", "remote_svc", "remote_inst", "syncmode", "timeout_s", "peer_window_s")


def _hadr_cfg(t: Training, node: str) -> dict[str, object]:
    cfg = t.sim.nodes[node].db.cfg
    return {f: getattr(cfg, f) for f in HADR_FIELDS}


def _primary_with_its_own_settings() -> Training:
    """mn1's XCATDB has an alternate server and part of an HADR configuration (the remote side empty)."""
    t = Training("fresh-install")
    status, out, _ = sh(t, "mn1", "db2 update db cfg for XCATDB using HADR_LOCAL_HOST mn1-old HADR_LOCAL_SVC 51000 "
                              "HADR_SYNCMODE SYNC HADR_TIMEOUT 90 HADR_PEER_WINDOW 30", user="xcatdb")
    assert status in (0, 2), out  # SQL1363W: written, in effect at the next activation
    assert sh(t, "mn1", "db2 update alternate server for database XCATDB using hostname mn1-alt port 50099", user="xcatdb")[0] == 0
    return t


@pytest.mark.parametrize("stop_at", ["alt-server-standby", "hadr-cfg-primary", "hadr-cfg-standby", "start-hadr-standby",
                                     "start-xcatd-primary"])
def test_rolling_back_puts_back_the_alternate_server_and_hadr_settings_read_before(stop_at: str):
    t = _primary_with_its_own_settings()
    mn1_before = _hadr_cfg(t, "mn1")
    assert mn1_before["remote_host"] is None and mn1_before["local_host"] == "mn1-old"
    assert t.sim.nodes["mn2"].db.alt_server is None
    r = run_then_roll_back(t, "db2-hadr-setup", stop_at=stop_at, **SETUP)
    assert r.outcome == "waiting"
    assert all(ok for _, ok in r.report), [(e.step_id, e.reason) for e in r.events if type(e).__name__ == "RollbackFinished" and not e.ok]
    assert ("restore-standby", "(irreversible: rollback stops here)") in r.plan
    mn1, mn2 = t.sim.nodes["mn1"], t.sim.nodes["mn2"]
    assert _hadr_cfg(t, "mn1") == mn1_before
    assert mn1.db.alt_server == ("mn1-alt", "50099")
    # the standby's XCATDB was restored from mn1's image: what the read before its change saw is mn1's settings
    assert _hadr_cfg(t, "mn2") == mn1_before
    assert mn2.db.alt_server is None  # it had none: NULL removes the one the setup set
    assert mn1.db.cfg.role == mn2.db.cfg.role == "STANDARD"


def test_the_rollback_of_the_primarys_hadr_settings_restores_each_value_it_read():
    t = _primary_with_its_own_settings()
    r = run_then_roll_back(t, "db2-hadr-setup", stop_at="hadr-cfg-standby", **SETUP)
    undo = [c for s, _, c in r.rollback_commands() if s == "hadr-cfg-primary"]
    assert undo[0] == ("db2 update db cfg for XCATDB using HADR_LOCAL_HOST NULL HADR_LOCAL_SVC NULL HADR_REMOTE_HOST NULL "
                       "HADR_REMOTE_SVC NULL HADR_REMOTE_INST NULL HADR_SYNCMODE SYNC HADR_TIMEOUT 90 HADR_PEER_WINDOW 30")
    assert "test -z mn1-old || db2 update db cfg for XCATDB using HADR_LOCAL_HOST mn1-old" in undo
    assert "test -z '' || db2 update db cfg for XCATDB using HADR_REMOTE_HOST ''" in undo  # empty: stays NULL
    [alt] = [c for s, _, c in r.rollback_commands() if s == "alt-server-primary"]
    assert "using hostname mn1-alt port 50099" in alt


def test_an_active_primary_database_is_activated_again_by_the_rollback():
    t = Training("fresh-install")
    sh(t, "mn1", "db2 activate database XCATDB", user="xcatdb")  # SQL1490W: already active (xcatd); now explicitly too
    assert t.sim.nodes["mn1"].db.explicit
    r = run_then_roll_back(t, "db2-hadr-setup", stop_at="backup-dir-primary", **SETUP)
    assert r.outcome == "waiting"
    assert ("deactivate-primary", "mn1", "db2 activate database XCATDB") in r.rollback_commands()
    db = t.sim.nodes["mn1"].db
    assert db.active and db.explicit  # activated again by the rollback, not only by xcatd's connection


def test_a_primary_database_that_was_inactive_is_not_activated_by_the_rollback():
    """fresh-install: only xcatd's connections keep mn1's XCATDB active; once xcatd stops everywhere it is inactive."""
    t = Training("fresh-install")
    assert not t.sim.nodes["mn1"].db.explicit
    r = run_then_roll_back(t, "db2-hadr-setup", stop_at="backup-dir-primary", **SETUP)
    assert r.outcome == "waiting"
    assert r.finished("deactivate-primary").ok and r.finished("deactivate-primary").reason.startswith("nothing to undo")
    assert ("deactivate-primary", "(nothing to undo: when: captured primary_db_was is not activated)") in r.plan
    assert "db2 activate database XCATDB" not in [c for _, _, c in r.rollback_commands()]
    assert not t.sim.nodes["mn1"].db.explicit  # xcatd, started again by its rollback, activated it by connecting
