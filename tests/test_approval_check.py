"""Four eyes, the core: a request signed by a second operator's real ssh-keygen key passes every
check; each way of cheating is refused with its own one-line reason."""
from __future__ import annotations

import json
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from hamn_tui.audit.approval import NAMESPACE
from hamn_tui.audit.approval.answer import AnswerError, sign_answer, signed_message, statement_bytes
from hamn_tui.audit.approval.check import check_answer, check_spool
from hamn_tui.audit.approval.request import LogHead, RequestError, parse_request
from hamn_tui.audit.approval.spool import Spool, SpoolError

from .approval_support import COMMAND, GATES, World, fingerprint, make_world
from .test_audit_support import hermetic  # noqa: F401


@pytest.fixture
def world(tmp_path: Path, hermetic) -> World:  # noqa: F811
    return make_world(tmp_path)


def verify(world: World, request, answer, **kw):
    args = dict(approvers=world.approvers, nonces=world.nonces, command=COMMAND, gates=GATES, head=world.heads[3],
                run_dir=world.run_dir)
    args.update(kw)
    return check_answer(request, answer.raw, answer.signature, **args)


def test_an_approval_by_the_second_operator_passes_and_spends_the_nonce(world: World):
    request = world.request()
    answer = sign_answer(request, "approve", "bob", key_file=world.bob)
    v = verify(world, request, answer)
    assert v.ok, v.reason
    assert (v.approver, v.approver_key) == ("bob", fingerprint(world.bob))
    assert world.nonces.used(request.nonce)
    assert len(request.code) == 7 and request.code.replace(" ", "").isdigit()
    assert len(request.nonce) == 64  # 256 bits


def _signed_elsewhere(world: World, request, key: Path, principal: str, namespace: str = NAMESPACE, verdict: str = "approve"):
    """What a forger could make with ssh-keygen directly (any namespace, any principal)."""
    from hamn_tui.audit.approval.answer import Answer, parse_answer

    statement = statement_bytes(request, verdict, principal)
    r = subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-n", namespace, "-f", str(key)],
                       input=signed_message(request.raw, statement), capture_output=True, check=True)
    parsed = parse_answer(statement, r.stdout.decode())
    return Answer(parsed.statement, statement, parsed.signature)


def _refusals(world: World) -> dict[str, str]:
    out: dict[str, str] = {}
    r = world.request()
    out["self, same principal"] = verify(world, r, _signed_elsewhere(world, r, world.alice, "alice")).reason
    r = world.request()
    out["self, same key as another principal"] = verify(world, r, _signed_elsewhere(world, r, world.alice, "alice2")).reason
    r = world.request(agent_keys=(fingerprint(world.bob),))
    out["a key of the requester's agent"] = verify(world, r, _signed_elsewhere(world, r, world.bob, "bob")).reason
    r = world.request(ttl_s=60)
    out["expired"] = verify(world, r, sign_answer(r, "approve", "bob", key_file=world.bob),
                            now=r.expires + timedelta(seconds=1)).reason
    r = world.request()
    out["wrong namespace"] = verify(world, r, _signed_elsewhere(world, r, world.bob, "bob", namespace="hamn-audit-v1")).reason
    r = world.request()
    edited = COMMAND[:-1] + "E"
    out["edited command"] = verify(world, r, sign_answer(r, "approve", "bob", key_file=world.bob), command=edited).reason
    r = world.request()
    a = sign_answer(r, "approve", "bob", key_file=world.bob)
    assert verify(world, r, a).ok
    out["replayed nonce"] = verify(world, r, a).reason
    r = world.request()
    out["unknown key"] = verify(world, r, _signed_elsewhere(world, r, world.carol, "bob")).reason
    r = world.request()
    changed = [dict(GATES[0], verdict="fail", reading="REMOTE_CATCHUP"), GATES[1]]
    out["gates changed"] = verify(world, r, sign_answer(r, "approve", "bob", key_file=world.bob), gates=changed).reason
    r = world.request(head=LogHead("r0", "audit-000.jsonl", world.heads[1].line_sha256))
    out["another run's head"] = verify(world, r, sign_answer(r, "approve", "bob", key_file=world.bob)).reason
    r = world.request(head=LogHead("r1", "audit-000.jsonl", "0" * 64))
    out["a head not in this run's log"] = verify(world, r, sign_answer(r, "approve", "bob", key_file=world.bob)).reason
    return out


def test_each_way_of_cheating_is_refused_with_its_own_one_line_reason(world: World):
    reasons = _refusals(world)
    expected = {
        "self, same principal": "self-approval refused: the approver alice is the requester",
        "self, same key as another principal": "self-approval refused: signed with the requester's key",
        "a key of the requester's agent": "self-approval refused: signed with the requester's key",
        "expired": "the request expired at",
        "wrong namespace": "signature namespace is 'hamn-audit-v1', not 'hamn-approval@v1'",
        "edited command": "the command about to run differs from the approved one",
        "replayed nonce": "replay refused",
        "unknown key": "is not allowed: the key is not in",
        "gates changed": "the gates changed since the request (gate standby-peer: pass when requested, fail now)",
        "another run's head": "the request is for run r0, not this run (r1)",
        "a head not in this run's log": "is not in audit-000.jsonl of this run",
    }
    for case, text in expected.items():
        assert text in reasons[case], (case, reasons[case])
        assert reasons[case] and "\n" not in reasons[case], case


def test_a_signed_rejection_ends_the_request(world: World):
    spool = Spool(world.tmp / "spool")
    request = world.request()
    spool.put_request(request)
    assert [r.id for r in spool.pending()[0]] == [request.id]
    rejection = sign_answer(request, "reject", "bob", reason="standby is behind", key_file=world.bob)
    spool.put_answer(request.id, "rejection", rejection.raw, rejection.signature)
    assert spool.pending()[0] == []
    kw = dict(approvers=world.approvers, nonces=world.nonces, command=COMMAND, gates=GATES, head=world.heads[3], run_dir=world.run_dir)
    v = check_spool(spool, request, **kw)
    assert v.rejected and not v.ok and v.reason == "rejected by bob: standby is behind"
    with pytest.raises(FileExistsError):  # no approval can be left after it
        spool.put_answer(request.id, "approval", b"{}", "x")
    approval = sign_answer(request, "approve", "bob", key_file=world.bob)  # and one made elsewhere is spent
    assert "replay refused" in verify(world, request, approval).reason


def test_a_tampered_request_file_is_refused(world: World):
    spool = Spool(world.tmp / "spool")
    request = world.request()
    path = spool.put_request(request)
    # the command edited in the spool (the hash edited to match): canonical, so it loads ...
    data = json.loads(path.read_bytes())
    import hashlib

    data["command"] = {"text": "rm -rf /db2", "sha256": hashlib.sha256(b"rm -rf /db2").hexdigest()}
    path.write_bytes(json.dumps(data, sort_keys=True, separators=(",", ":")).encode() + b"\n")
    shown = spool.load(request.id)
    assert shown.code != request.code  # ... the voice code the approver reads differs ...
    answer = sign_answer(shown, "approve", "bob", key_file=world.bob)
    v = verify(world, request, answer)  # ... and what was signed is not what hamn asked
    assert not v.ok and "signed for another request" in v.reason
    # a non-canonical edit is not even offered
    path.write_bytes(path.read_bytes().replace(b'","', b'", "', 1))
    with pytest.raises(RequestError, match="canonical"):
        spool.load(request.id)
    assert spool.pending()[1] and "refused" in spool.pending()[1][0]


def test_expiry_over_ten_minutes_is_refused_when_made_and_when_read(world: World):
    with pytest.raises(RequestError, match="601 s refused"):
        world.request(ttl_s=601)
    data = json.loads(world.request().raw)
    data["expires"] = data["expires"][:11] + "23:59:59.000000Z"
    data["created"] = data["created"][:11] + "00:00:00.000000Z"
    with pytest.raises(RequestError, match=r"^expires: 86399 s after created \(at most 600 s\)$"):
        parse_request(json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())


def test_signing_with_the_requesters_key_is_refused_before_anything_is_written(world: World):
    request = world.request()
    with pytest.raises(AnswerError, match="is the requester's"):
        sign_answer(request, "approve", "bob", key_file=world.alice)


def test_the_spool_is_private_and_no_symlink(world: World, tmp_path: Path):
    spool = Spool(tmp_path / "new" / "spool")
    assert (spool.dir.stat().st_mode & 0o777) == 0o700
    path = spool.put_request(world.request())
    assert (path.stat().st_mode & 0o777) == 0o600
    (tmp_path / "link").symlink_to(spool.dir)
    with pytest.raises(SpoolError, match="not a symlink"):
        Spool(tmp_path / "link")
    spool.dir.chmod(0o755)
    with pytest.raises(SpoolError, match="others may enter"):
        Spool(spool.dir)


def test_the_head_may_move_on_but_not_back(world: World):
    request = world.request(head=world.heads[2])
    v = verify(world, request, sign_answer(request, "approve", "bob", key_file=world.bob), head=world.heads[1])
    assert "later than the current one" in v.reason
