"""The approval request: what the second operator is asked to approve, as canonical JSON.

Its SHA-256 (of the canonical bytes) is what an answer signs, and what the voice code is
derived from: two operators reading the same code on two screens are looking at the same
request, to the byte.
"""
from __future__ import annotations

import hashlib
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from ...settings import os_user
from ..canon import CanonError, canonical, jsonable, parse_line, parse_ts, valid_ts
from . import MAX_TTL_S

if TYPE_CHECKING:
    from ..keys import Signer

KIND = "hamn-approval-request"
VERSION = 1
MAX_REQUEST = 256 * 1024
"""A request is a few KiB (the gate readings are the largest part)."""
_HEX64 = set("0123456789abcdef")


class RequestError(ValueError):
    """A request that cannot be made or read: one line, saying which field."""


@dataclass(frozen=True)
class LogHead:
    """Where the run's log stood when the request was made: the segment file and the SHA-256 of
    its last line (what `AuditWriter.head` gives)."""

    run_id: str
    segment: str
    line_sha256: str

    def as_json(self) -> dict[str, str]:
        return {"run_id": self.run_id, "segment": self.segment, "line_sha256": self.line_sha256}


@dataclass(frozen=True)
class Requester:
    """Who asks: the OS user, the principal and key that sign their audit log, and the agent
    they have (socket path and the fingerprints of every key in it), so that no approval made
    through the requester's own agent or keys can pass."""

    os_user: str
    principal: str
    key_fingerprint: str
    agent_socket: str = ""
    agent_keys: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"os_user": self.os_user, "principal": self.principal, "key_fingerprint": self.key_fingerprint,
                "agent_socket": self.agent_socket, "agent_keys": sorted(set(self.agent_keys))}


@dataclass(frozen=True)
class Request:
    """A parsed request; `raw` are its canonical bytes (what is hashed and signed)."""

    data: dict[str, Any]
    raw: bytes

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()

    @property
    def code(self) -> str:
        return voice_code(self.raw)

    @property
    def nonce(self) -> str:
        return str(self.data["nonce"])

    @property
    def created(self) -> datetime:
        return parse_ts(self.data["created"])

    @property
    def expires(self) -> datetime:
        return parse_ts(self.data["expires"])

    @property
    def requester(self) -> dict[str, Any]:
        return dict(self.data["requester"])

    @property
    def gates(self) -> list[Any]:
        return list(self.data["gates"])

    @property
    def head(self) -> LogHead:
        h = self.data["head"]
        return LogHead(h["run_id"], h["segment"], h["line_sha256"])


def voice_code(raw: bytes) -> str:
    """Six digits from the request's hash, read as "123 456" (one in a million to collide by chance)."""
    n = int.from_bytes(hashlib.sha256(b"hamn-approval-code\0" + raw).digest()[:8], "big") % 1_000_000
    return f"{n // 1000:03d} {n % 1000:03d}"


def _ts(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def command_text(command: str | bytes) -> str:
    """The command as the request holds it: its exact bytes must be UTF-8 (what a shell command line is here)."""
    if isinstance(command, bytes):
        try:
            return command.decode("utf-8")
        except UnicodeDecodeError:
            raise RequestError("command: not valid UTF-8") from None
    try:
        command.encode("utf-8")
    except UnicodeEncodeError:
        raise RequestError("command: not valid UTF-8") from None
    return command


def command_sha256(command: str | bytes) -> str:
    return hashlib.sha256(command_text(command).encode("utf-8")).hexdigest()


def make_request(*, head: LogHead, step_id: str, command: str | bytes, node: str, run_as: str,
                 gates: list[Any], requester: Requester, ttl_s: int = MAX_TTL_S,
                 now: datetime | None = None) -> Request:
    """A new request with a fresh id and a 256-bit nonce. RequestError for a TTL over ten
    minutes (or not positive), or a field that cannot be canonical."""
    if not 0 < ttl_s <= MAX_TTL_S:
        raise RequestError(f"expiry: {ttl_s} s refused (1 to {MAX_TTL_S} s)")
    now = now or datetime.now(timezone.utc)
    text = command_text(command)
    data = {
        "type": KIND, "v": VERSION,
        "id": secrets.token_hex(8),
        "nonce": secrets.token_hex(32),
        "created": _ts(now), "expires": _ts(now + timedelta(seconds=ttl_s)),
        "host": socket.gethostname(),
        "head": head.as_json(),
        "step_id": step_id,
        "command": {"text": text, "sha256": command_sha256(text)},
        "node": node, "run_as": run_as,
        "gates": jsonable(list(gates)),
        "requester": requester.as_json(),
    }
    try:
        raw = canonical(data)
    except CanonError as exc:
        raise RequestError(f"request: {exc}") from None
    return parse_request(raw)


def requester_for(signer: "Signer") -> Requester:
    """The requester as hamn knows them when a step asks: the key that signs their audit log,
    their agent's socket and every key it holds (none of which may approve)."""
    import os

    from .. import sshsig
    from ..keys import agent_keys

    sock = os.environ.get("SSH_AUTH_SOCK", "")
    held = tuple(sshsig.fingerprint(b) for b in agent_keys()) if sock else ()
    return Requester(os_user(), signer.principal, signer.fingerprint, sock, held)


def _need(obj: dict[str, Any], key: str, kind: type, where: str = "") -> Any:
    if key not in obj:
        raise RequestError(f"{where}{key}: missing")
    value = obj[key]
    if type(value) is not kind:
        raise RequestError(f"{where}{key}: expected {kind.__name__}, got {type(value).__name__}")
    return value


def _hex(value: str, n: int, field: str) -> None:
    if len(value) != n or not set(value) <= _HEX64:
        raise RequestError(f"{field}: expected {n} lowercase hex digits")


def parse_request(raw: bytes) -> Request:
    """Read a request strictly (canonical bytes, every field present and of its type, expiry
    at most ten minutes after creation, the command's hash right). RequestError says which field."""
    if len(raw) > MAX_REQUEST:
        raise RequestError(f"request: larger than {MAX_REQUEST} bytes")
    try:
        data = parse_line(raw)
    except CanonError as exc:
        raise RequestError(f"request: {exc}") from None
    if data.get("type") != KIND or data.get("v") != VERSION:
        raise RequestError(f"type/v: not a {KIND} version {VERSION}")
    expected = {"type", "v", "id", "nonce", "created", "expires", "host", "head", "step_id", "command", "node", "run_as",
                "gates", "requester"}
    extra = set(data) - expected
    if extra:
        raise RequestError(f"{sorted(extra)[0]}: unknown field")
    _hex(_need(data, "id", str), 16, "id")
    _hex(_need(data, "nonce", str), 64, "nonce")
    for field in ("created", "expires"):
        if not valid_ts(_need(data, field, str)):
            raise RequestError(f"{field}: not an RFC 3339 UTC time with microseconds")
    ttl = (parse_ts(data["expires"]) - parse_ts(data["created"])).total_seconds()
    if not 0 < ttl <= MAX_TTL_S:
        raise RequestError(f"expires: {ttl:.0f} s after created (at most {MAX_TTL_S} s)")
    for field in ("host", "step_id", "node", "run_as"):
        _need(data, field, str)
    head = _need(data, "head", dict)
    if set(head) != {"run_id", "segment", "line_sha256"}:
        raise RequestError("head: expected run_id, segment, line_sha256")
    for field in ("run_id", "segment", "line_sha256"):
        _need(head, field, str, "head.")
    if "/" in head["segment"] or head["segment"] in ("", ".", ".."):
        raise RequestError("head.segment: not a file name")
    cmd = _need(data, "command", dict)
    if set(cmd) != {"text", "sha256"}:
        raise RequestError("command: expected text, sha256")
    if _need(cmd, "sha256", str, "command.") != command_sha256(_need(cmd, "text", str, "command.")):
        raise RequestError("command.sha256: does not match command.text")
    for i, gate in enumerate(_need(data, "gates", list)):
        if type(gate) is not dict or type(gate.get("gate")) is not str or type(gate.get("verdict")) is not str:
            raise RequestError(f"gates[{i}]: expected an object with gate and verdict strings")
    req = _need(data, "requester", dict)
    if set(req) != {"os_user", "principal", "key_fingerprint", "agent_socket", "agent_keys"}:
        raise RequestError("requester: expected os_user, principal, key_fingerprint, agent_socket, agent_keys")
    for field in ("os_user", "principal", "key_fingerprint", "agent_socket"):
        _need(req, field, str, "requester.")
    if not req["principal"] or not req["key_fingerprint"]:
        raise RequestError("requester: principal and key_fingerprint must not be empty")
    if not all(type(k) is str for k in _need(req, "agent_keys", list, "requester.")):
        raise RequestError("requester.agent_keys: expected a list of fingerprints")
    return Request(data, raw)


def gate_verdicts(gates: list[Any]) -> list[tuple[str, str]]:
    """(gate, verdict) pairs, in order: what must be the same when the gates are read again."""
    out = []
    for i, g in enumerate(jsonable(list(gates))):
        if type(g) is not dict or type(g.get("gate")) is not str or type(g.get("verdict")) is not str:
            raise RequestError(f"gates[{i}]: expected an object with gate and verdict strings")
        out.append((g["gate"], g["verdict"]))
    return out
