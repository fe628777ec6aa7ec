"""The closed set of record types and the exact shape of each one's `data`.

Every record is `{"v","log","seq","prev","ts","mono","type","data"}` and nothing else.
`log_open`, `checkpoint` and `log_close` carry signatures; no other record may.
The engine's events become records of the same name (`event_type`), with their fields as
`data`; `tests/test_audit_format.py` fails when an event gains a field this table lacks.
"""
from __future__ import annotations

import re
from typing import Any, Callable

TOP = frozenset({"v", "log", "seq", "prev", "ts", "mono", "type", "data"})
HEX64 = re.compile(r"\A[0-9a-f]{64}\Z")
HEX32 = re.compile(r"\A[0-9a-f]{32}\Z")
ZERO = "0" * 64

Check = Callable[[Any], bool]


def S(v: Any) -> bool:
    return type(v) is str


def I(v: Any) -> bool:  # noqa: E743
    return type(v) is int


def B(v: Any) -> bool:
    return type(v) is bool


def D(v: Any) -> bool:
    return type(v) is dict


def J(v: Any) -> bool:
    return True


def H(v: Any) -> bool:
    return type(v) is str and HEX64.match(v) is not None


def opt(check: Check) -> Check:
    return lambda v: v is None or check(v)


def one_of(*values: str) -> Check:
    return lambda v: v in values


def obj(**fields: Check) -> Check:
    keys = frozenset(fields)
    return lambda v: type(v) is dict and v.keys() == keys and all(fields[k](v[k]) for k in keys)


def list_of(check: Check) -> Check:
    return lambda v: type(v) is list and all(check(x) for x in v)


SIGNER = obj(kind=one_of("operator", "installation", "ephemeral"), source=one_of("agent", "file", "generated", "memory"),
             principal=S, key=S, fingerprint=S)
PREVIOUS = opt(obj(file=S, log=lambda v: type(v) is str and HEX32.match(v) is not None, size=I, head=H, seq=I, torn_bytes=I, torn_sha256=opt(H)))
CHECK_OUTCOME = obj(node=S, probe=S, field=S, expected=S, observed=J, verdict=one_of("pass", "fail", "unknown"), reason=S, why=S)

SCHEMA: dict[str, dict[str, Check]] = {
    "log_open": dict(namespace=S, session_key=S, signer=SIGNER, host=S, os_user=S, pid=I, tool=S, run_id=S, runbook_id=S,
                     runbook_sha256=S, training=B, segment=I, previous=PREVIOUS, attest=S),
    "run_started": dict(run_id=S, runbook_id=S, runbook_version=S, runbook_sha256=S, runbook_path=S, params=D, cluster=opt(S),
                        roles=D, operator=S, dry_run=B, training=B, resumed=B, tool_version=S),
    "step_started": dict(step_id=S, index=I, total=I, title=S, kind=S, node=S, section=S),
    "step_skipped": dict(step_id=S, reason=S),
    "checks_evaluated": dict(step_id=S, phase=S, outcomes=list_of(CHECK_OUTCOME)),
    "question_asked": dict(step_id=S, kind=S, prompt=S),
    "answered": dict(step_id=S, kind=S, action=S, reason=S, text=S, os_user=S),
    "command_sent": dict(step_id=S, node=S, user=opt(S), transport=S, command=S, mutating=B, rollback=B),
    "command_finished": dict(step_id=S, node=S, ending=S, exit_status=opt(I), signal=opt(S), duration_us=I, stdout_bytes=I,
                             stderr_bytes=I, error=opt(S), rollback=B, stdout_sha256=H, stdout_size=I, stderr_sha256=H,
                             stderr_size=I, redactions=I, timing=list_of(lambda t: type(t) is list and len(t) == 3 and all(type(x) is int and x >= 0 for x in t) and t[1] < 2)),
    "captured": dict(step_id=S, name=S, value=S),
    "step_finished": dict(step_id=S, outcome=S, reason=S, choice=opt(S)),
    "rollback_started": dict(step_id=S),
    "rollback_finished": dict(step_id=S, ok=B, reason=S),
    "lock_event": dict(action=S, holder=D),
    "note": dict(text=S, step_id=opt(S)),
    "run_finished": dict(outcome=S, reason=S),
    "question_withdrawn": dict(step_id=S, kind=S, reason=S),
    "witness_gate": dict(step_id=S, outcome=one_of("cosigned", "unwitnessed"), records=I, witness=S, reason=S, os_user=S),
    "approval_requested": dict(step_id=S, request_id=S, code=S, request=S, where=S),
    "approval_decided": dict(step_id=S, request_id=S, verdict=one_of("approved", "rejected", "refused", "expired", "withdrawn"),
                             reason=S, approver=S, approver_key=S, statement=S, signature=S),
    "checkpoint": dict(reason=S, sig=S),
    "log_close": dict(outcome=S, reason=S, records=I, sig=S, attest=S),
}

ENGINE_EXTRA = {"run_started": {"tool_version"},
                "command_finished": {"stdout_sha256", "stdout_size", "stderr_sha256", "stderr_size", "redactions", "timing"}}
"""Fields the writer adds to an event's own."""

SIGNED = {"log_open": ("attest",), "checkpoint": ("sig",), "log_close": ("sig", "attest")}
"""Signature fields; the signed bytes are the canonical record without them."""


def check_data(kind: str, data: Any) -> str:
    """'' if `data` has exactly the fields of `kind`, each of the right shape; else why not."""
    fields = SCHEMA.get(kind)
    if fields is None:
        return f"unknown record type {kind!r}"
    if type(data) is not dict:
        return "data is not an object"
    if data.keys() != fields.keys():
        missing = sorted(fields.keys() - data.keys())
        extra = sorted(data.keys() - fields.keys())
        return f"{kind} data: " + "; ".join(x for x in (missing and f"missing {', '.join(missing)}", extra and f"unexpected {', '.join(extra)}") if x)
    for k, check in fields.items():
        if not check(data[k]):
            return f"{kind} data: {k} has the wrong type or shape"
    return ""


def signed_view(record: dict[str, Any]) -> dict[str, Any]:
    """The record as signed: without its signature fields."""
    drop = SIGNED.get(record.get("type", ""), ())
    return {**record, "data": {k: v for k, v in record["data"].items() if k not in drop}}
