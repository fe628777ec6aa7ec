"""The probes a gate or check may name, with the fields each reports and the arguments it takes.

This is the contract between runbooks and the probe implementations: the validator rejects
a gate on an unknown probe or field, and each probe implementation must report exactly these
fields (a field it cannot read is reported as unknown, never guessed).
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ProbeSpec:
    name: str
    summary: str
    fields: dict[str, str]
    """field name -> what it holds (type and unit in words, shown in docs and errors)."""
    args: dict[str, str] = field(default_factory=dict)
    """argument name -> meaning; every listed argument is required."""
    optional_args: dict[str, str] = field(default_factory=dict)


_HADR_CHANNEL = {
    "activated": "bool: the database is active (db2pd could attach)",
    "role": "PRIMARY | STANDBY | STANDARD (null when the database is not activated)",
    "state": "LOCAL_CATCHUP | REMOTE_CATCHUP_PENDING | REMOTE_CATCHUP | PEER | DISCONNECTED_PEER | DISCONNECTED",
    "syncmode": "SYNC | NEARSYNC | ASYNC | SUPERASYNC",
    "connect_status": "CONNECTED | CONGESTED | DISCONNECTED",
    "flags": "array of HADR_FLAGS tokens",
    "primary_host": "string",
    "standby_host": "string",
    "log_gap_bytes": "int, running average of the primary-standby log gap",
    "primary_log_pos": "int, byte offset",
    "standby_log_pos": "int, byte offset",
    "standby_replay_log_pos": "int, byte offset",
    "standby_recv_replay_gap_bytes": "int",
    "peer_window_s": "int seconds (0 = no peer window)",
    "peer_window_end_epoch": "int epoch seconds, primary's clock",
    "peer_window_left_s": "int seconds left in the peer window at probe time",
    "hadr_timeout_s": "int seconds",
    "time_since_last_recv_s": "int seconds",
}

PROBES: dict[str, ProbeSpec] = {
    p.name: p
    for p in [
        ProbeSpec("db2.hadr", "HADR status from `db2pd -db DB -hadr` on the node (first channel)", _HADR_CHANNEL),
        ProbeSpec(
            "db2.cfg",
            "HADR lines of `db2 get db cfg for DB` (works while the database is inactive)",
            {
                "role": "PRIMARY | STANDBY | STANDARD (HADR database role)",
                "local_host": "string",
                "local_svc": "string",
                "remote_host": "string",
                "remote_svc": "string",
                "remote_inst": "string",
                "syncmode": "SYNC | NEARSYNC | ASYNC | SUPERASYNC",
                "timeout_s": "int seconds",
                "peer_window_s": "int seconds",
                "rollforward_pending": "bool",
                "log_archiving": "bool: LOGRETAIN / LOGARCHMETH1 set",
                "trackmod": "bool",
                "logindexbuild": "bool",
                "indexrec": "string",
            },
        ),
        ProbeSpec(
            "db2.takeover",
            "the takeover-safety verdicts for this node as a standby (read twice, with a delay)",
            {
                "graceful": "allowed | refused | unknown",
                "peer_window_only": "allowed | refused | unknown",
                "force": "allowed | refused | unknown",
                "estimated_loss_bytes": "int, last known primary minus standby log position",
                "estimated_loss_s": "int, last known primary log time minus standby replay time",
            },
            optional_args={"fenced_step": "id of an earlier step (e.g. a manual attestation) whose success proves the old primary is fenced"},
        ),
        ProbeSpec(
            "pg.replication",
            "PostgreSQL role and streaming state (psycopg2)",
            {
                "reachable": "bool",
                "role": "primary | standby",
                "in_recovery": "bool",
                "timeline": "int",
                "streaming_standbys": "int, rows of pg_stat_replication in state streaming",
                "sync_state": "async | potential | sync | quorum (first standby)",
                "lag_bytes": "int, primary's current LSN minus the standby's replay LSN",
                "wal_receiver": "streaming | stopped | … (standby only)",
                "replay_age_s": "int seconds since the last replayed transaction (standby only)",
            },
        ),
        ProbeSpec(
            "pg.promote",
            "the promotion-safety verdict for this node as a standby",
            {"verdict": "allowed | refused | unknown", "lag_bytes": "int"},
            optional_args={"fenced_step": "id of an earlier step whose success proves the old primary is down and fenced (unplanned promotion needs it)"},
        ),
        ProbeSpec("host.reachable", "the node answers over SSH", {"reachable": "bool"}),
        ProbeSpec(
            "host.service",
            "a system service's state on the node",
            {"running": "bool", "enabled": "bool"},
            {"service": "service name, e.g. xcatd, dhcpd, named, conserver"},
        ),
        ProbeSpec(
            "host.service_ip",
            "who holds the cluster's service IP",
            {"holds": "bool: this node has the address", "holder": "node name or null"},
            optional_args={"only_this_node": "true: ask this node alone (holds only, no holder): "
                                             "the status reading, which must not wait on the other node"},
        ),
        ProbeSpec("host.clock", "clock skew between this node and the local machine", {"skew_s": "number of seconds"}),
        ProbeSpec(
            "command",
            "a read-only command run on the node; its exit status and output",
            {"exit_status": "int", "stdout": "string", "stderr": "string"},
            {"run": "the command (templated, values quoted); it must not change anything"},
        ),
    ]
}
