"""The pieces: canonical records, the record schema against the engine's events, SSHSIG
byte-for-byte with ssh-keygen, and streaming redaction."""
from __future__ import annotations

import dataclasses
import json
import random
import subprocess
import typing
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hamn_tui.audit import NAMESPACE, sshsig
from hamn_tui.audit.canon import MAX_INT, CanonError, canonical, jsonable, parse_line
from hamn_tui.audit.keys import SigningKeyError, load_key_file
from hamn_tui.audit.records import ENGINE_EXTRA, SCHEMA
from hamn_tui.record.redact import Redactor
from hamn_tui.record import codec, events

from .test_audit_support import hermetic, keygen  # noqa: F401

keys = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=8)
scalars = st.none() | st.booleans() | st.integers(-MAX_INT, MAX_INT) | st.text(max_size=20).filter(lambda s: not any(0xD800 <= ord(c) <= 0xDFFF for c in s))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4), max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, values, max_size=6))
def test_canonical_records_round_trip(obj):
    line = canonical(obj)
    assert b"\n" not in line
    assert parse_line(line) == obj
    # JCS (RFC 8785) on this subset: sorted keys, no whitespace, shortest escapes, integers as written
    assert line == json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@pytest.mark.parametrize("line, why", [
    (b'{"a":1.0}', "non-integer"), (b'{"a":1e3}', "non-integer"), (b'{"a":-0.0}', "non-integer"), (b'{"a":NaN}', "not JSON"),
    (b'{"a":9007199254740992}', "outside"), (b'{"a":1,"a":1}', "canonical"), (b'{"b":1,"a":1}', "canonical"),
    (b'{"a": 1}', "canonical"), (b'{"a":"\\u0041"}', "canonical"), (b'{"a":"\\/"}', "canonical"), (b'[1]', "object"),
    (b'{"\xc3\xa9":1}', "ASCII"), (b'{"a":"\xff"}', "UTF-8"), (b'{"a":"\\ud800"}', "surrogate"), (b'{"a":1} ', "canonical"),
])
def test_non_canonical_lines_are_refused(line, why):
    with pytest.raises(CanonError, match=why):
        parse_line(line)


def test_event_values_are_made_canonical():
    assert jsonable({"f": 0.5, "big": 2**60, "t": (1, 2), "b": b"\xff", 3: "x", "s": "\udcff"}) == \
        {"f": "0.5", "big": str(2**60), "t": [1, 2], "b": "\ufffd", "3": "x", "s": "\\udcff"}
    canonical(jsonable({"f": float("nan")}))


def test_every_engine_event_has_its_record_schema():
    """When an event gains a field, this fails until records.SCHEMA (and the verifier) know it."""
    for cls in typing.get_args(events.Event):
        kind = codec.event_type(cls.__new__(cls))
        if kind == "output_chunk":
            continue  # kept in the output store, not as records
        fields = {f.name for f in dataclasses.fields(cls)} | ENGINE_EXTRA.get(kind, set())
        assert set(SCHEMA[kind]) == fields, kind


@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
def test_sshsig_is_byte_identical_to_ssh_keygen(tmp_path, kind):
    key = keygen(tmp_path, f"k_{kind}", "someone@example.com", kind)
    data = tmp_path / "data.jsonl"
    data.write_bytes(b'{"a":1}\n{"b":2}\n')
    subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-n", NAMESPACE, "-f", str(key), str(data)], check=True, capture_output=True)
    theirs = (tmp_path / "data.jsonl.sig").read_text()
    ours = sshsig.sign(load_key_file(key, "operator", "someone@example.com"), data.read_bytes(), namespace=NAMESPACE)
    assert ours == theirs  # Ed25519 is deterministic, and so is RSA PKCS#1 v1.5 (rsa-sha2-512)
    pub = sshsig.parse_public_line(Path(str(key) + ".pub").read_text())
    sshsig.verify(theirs, namespace=NAMESPACE, message=data.read_bytes(), public_blob=pub)
    (tmp_path / "ours.sig").write_text(ours)
    (tmp_path / "allowed").write_text(f'someone@example.com namespaces="{NAMESPACE}" {Path(str(key) + ".pub").read_text()}')
    with data.open("rb") as f:
        ok = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(tmp_path / "allowed"), "-I", "someone@example.com", "-n", NAMESPACE,
                             "-s", str(tmp_path / "ours.sig")], stdin=f, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    with pytest.raises(sshsig.SigError, match="namespace"):
        sshsig.verify(theirs, namespace="git", message=data.read_bytes())
    with pytest.raises(sshsig.SigError, match="incorrect"):
        sshsig.verify(theirs, namespace=NAMESPACE, message=data.read_bytes() + b"x")


def test_key_files_that_are_not_usable(tmp_path):
    key = keygen(tmp_path, "open", "x")
    key.chmod(0o644)
    with pytest.raises(SigningKeyError, match="chmod 600"):
        load_key_file(key, "operator", "x")
    locked = tmp_path / "locked"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "a passphrase", "-f", str(locked)], check=True)
    with pytest.raises(SigningKeyError, match="ssh-add"):
        load_key_file(locked, "operator", "x")
    ecdsa = keygen(tmp_path, "ec", "x", "ecdsa")
    with pytest.raises(SigningKeyError, match="Ed25519"):
        load_key_file(ecdsa, "operator", "x")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 9), min_size=1, max_size=30), st.integers(0, 2**32))
def test_redaction_survives_any_chunking(cuts, seed):
    import tempfile

    from hamn_tui.audit.store import CommandCapture, OutputStore, cast

    rng = random.Random(seed)
    secrets = ["pw-1234", "tok"]
    text = b"".join(rng.choice([b"a", b"\n", b"pw-1234", b"tok", b"pw-12", b"to", "é".encode()]) for _ in range(40))
    with tempfile.TemporaryDirectory() as d:
        store = OutputStore(Path(d), fsync=False)
        cap = CommandCapture(store, Redactor(secrets))
        pos = 0
        for c in cuts:
            cap.write("stdout", text[pos:pos + c])
            pos += c
        cap.write("stdout", text[pos:])
        out = cap.finish()
        expected, n = Redactor(secrets).bytes_(text)
        stored = store.read(out["stdout_sha256"]) if out["stdout_size"] else b""
        assert stored == expected and out["redactions"] == n
        assert sum(t[2] for t in out["timing"]) == len(expected)
        recording = cast("t", 0, out["timing"], stored, b"")
        assert b"pw-1234" not in recording and b"tok" not in recording
        events = [json.loads(line) for line in recording.decode().splitlines()[1:]]
        assert "".join(e[2] for e in events).replace("\r\n", "\n") == expected.decode("utf-8", "replace")
