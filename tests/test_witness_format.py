"""The witness formats: C2SP signed notes (the spec's own example), vkeys, checkpoints, RFC 6962
tree hashes and consistency proofs, and cosignature/v1."""
from __future__ import annotations

import base64
import hashlib
import itertools
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hamn_tui.audit.witness import note
from hamn_tui.audit.witness.checkpoint import (Checkpoint, consistency_proof, cosign, cosigned_message, leaf_hash, node_hash,
                                               origin_for, parse_body, parse_origin, sign_checkpoint, tree_hash, verify_consistency,
                                               verify_cosignature)
from hamn_tui.audit.witness.note import COSIGNATURE_V1, ED25519, NoteError, Verifier

# c2sp.org/signed-note, "Verifier keys", "Example" — verbatim.
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = ("This is an example message.\n\n"
             "\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n").encode()

# RFC 6962 test leaves and roots (certificate-transparency's merkle tree tests).
LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")]
ROOTS = ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
         "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
         "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
         "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
         "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
         "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
         "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
         "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"]


def test_the_specs_example_note_verifies_with_the_specs_vkey():
    v = note.parse_vkey(SPEC_VKEY)
    assert (v.name, v.sig_type, v.key_id.hex()) == ("example.com/foo", ED25519, "530d903a")
    assert v.vkey == SPEC_VKEY
    n = note.parse_note(SPEC_NOTE)
    assert n.text == "This is an example message.\n"
    assert n.encode() == SPEC_NOTE
    assert note.verify(n, [v]) == ["example.com/foo"]
    forged = note.parse_note(SPEC_NOTE.replace(b"example message", b"example massage"))
    with pytest.raises(NoteError, match="does not verify"):
        note.verify(forged, [v])


def test_unknown_keys_are_ignored_and_a_note_no_known_key_signed_is_refused():
    other = Verifier("example.com/foo", ED25519, bytes(32))  # same name, other key (so another key ID)
    with pytest.raises(NoteError, match="no known key"):
        note.verify(note.parse_note(SPEC_NOTE), [other])


def test_sign_round_trip_and_key_id_rule():
    k = Ed25519PrivateKey.generate()
    sig = note.sign("hello\n", "example.org/k", k)
    pub = note.ed25519_public(k)
    assert sig.key_id == hashlib.sha256(b"example.org/k\n\x01" + pub).digest()[:4]
    n = note.Note("hello\n", (sig,))
    assert note.verify(note.parse_note(n.encode()), [Verifier("example.org/k", ED25519, pub)]) == ["example.org/k"]


@pytest.mark.parametrize("data, reason", [
    (b"no blank line\n\xe2\x80\x94 a AAAAAAA=\n", "no blank line"),
    (b"text\n\n", "no signature"),
    (b"text\n\n- a AAAAAAAA\n", "em dash"),
    (b"text\n\n\xe2\x80\x94 a+b AAAAAAAA\n", "bad key name"),
    (b"text\n\n\xe2\x80\x94 a AAAA!!AA\n", "not base64"),
    (b"text\n\n\xe2\x80\x94 a AAAAAA==\n", "too short"),
    (b"te\x01xt\n\n\xe2\x80\x94 a AAAAAAAA\n", "control character"),
    (b"text\n\n\xe2\x80\x94 a AAAAAAAA", "newline"),
    (b"\xff\xfe\n\n", "UTF-8"),
    (b"x" * (note.MAX_NOTE + 1), "larger than"),
])
def test_malformed_notes_are_refused_with_one_line(data, reason):
    with pytest.raises(NoteError, match=reason) as exc:
        note.parse_note(data)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("vkey, reason", [
    ("example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "does not match"),
    ("example.com/foo+530d903a", "name\\+keyid\\+base64"),
    ("example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "lowercase hex"),
    ("example.com/foo+530d903a+AmkyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "not an Ed25519"),
])
def test_bad_vkeys_are_refused(vkey, reason):
    with pytest.raises(NoteError, match=reason):
        note.parse_vkey(vkey)


def _reference_mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 as written (recursive), to check the iterative one."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(_reference_mth(leaves[:k]), _reference_mth(leaves[k:]))


def test_tree_hash_matches_rfc6962_vectors_and_the_definition():
    assert tree_hash([]).hex() == hashlib.sha256(b"").hexdigest()
    for n in range(1, 9):
        assert tree_hash(LEAVES[:n]).hex() == ROOTS[n - 1]
    leaves = [bytes([i]) * i for i in range(70)]
    for n in range(70):
        assert tree_hash(leaves[:n]) == _reference_mth(leaves[:n])


def test_consistency_proofs_between_every_pair_of_sizes():
    leaves = [b"line %d" % i for i in range(33)]
    hashes = [leaf_hash(x) for x in leaves]
    for m, n in itertools.combinations_with_replacement(range(1, 34), 2):
        old, new = tree_hash(leaves[:m]), tree_hash(leaves[:n])
        proof = consistency_proof(hashes[:n], m)
        assert verify_consistency(m, n, old, new, proof), (m, n)
        if m < n:
            assert not verify_consistency(m, n, tree_hash([b"forged"] + leaves[1:m]), new, proof), (m, n)
            assert not verify_consistency(m, n, old, tree_hash(leaves[:n - 1] + [b"forged"]), proof), (m, n)
            if proof:
                bad = [bytes(32)] + proof[1:]
                assert not verify_consistency(m, n, old, new, bad), (m, n)


def test_checkpoint_body_and_origin():
    origin = origin_for("lab", "failover-20261202-abc", "audit-001.jsonl")
    assert origin == "hamn/lab/failover-20261202-abc/audit-001"
    assert parse_origin(origin) == ("lab", "failover-20261202-abc", "audit-001.jsonl")
    cp = Checkpoint(origin, 17, bytes(range(32)))
    assert cp.body == f"{origin}\n17\n{base64.b64encode(bytes(range(32))).decode()}\n"
    assert parse_body(cp.body) == cp
    for bad, reason in ((f"{origin}\n017\n{base64.b64encode(bytes(32)).decode()}\n", "leading zeroes"),
                        (f"{origin}\n1\n{base64.b64encode(bytes(31)).decode()}\n", "32 bytes"),
                        (f"{origin}\n1\n{base64.b64encode(bytes(32)).decode()}\next\n", "three lines")):
        with pytest.raises(NoteError, match=reason):
            parse_body(bad)
    with pytest.raises(NoteError):
        origin_for("my cluster", "r", "audit-000.jsonl")


def test_log_signed_checkpoint_is_a_c2sp_note_named_by_its_origin():
    k = Ed25519PrivateKey.generate()
    cp = Checkpoint("hamn/lab/t-r/audit-000", 3, tree_hash([b"a", b"b", b"c"]))
    n = note.parse_note(sign_checkpoint(cp, k))
    assert n.text == cp.body and n.signatures[0].name == cp.origin
    assert note.verify(n, [Verifier(cp.origin, ED25519, note.ed25519_public(k))]) == [cp.origin]


def test_cosignature_v1_message_signature_and_key_id():
    body = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    # the spec's example of the signed message, verbatim
    assert cosigned_message(body, 1679315147) == (b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
                                                  b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n")
    k = Ed25519PrivateKey.generate()
    pub = note.ed25519_public(k)
    w = Verifier("witness.example.com/w1", COSIGNATURE_V1, pub)
    sig = cosign(body, w.name, k, timestamp=1679315147)
    assert sig.key_id == hashlib.sha256(b"witness.example.com/w1\n\x04" + pub).digest()[:4]
    assert struct.unpack(">Q", sig.signature[:8])[0] == 1679315147 and len(sig.signature) == 72
    assert verify_cosignature(body, note.parse_signature_line(sig.line.rstrip("\n")), w) == 1679315147
    k.public_key().verify(sig.signature[8:], cosigned_message(body, 1679315147))  # any Ed25519 library checks it
    with pytest.raises(NoteError, match="does not verify"):
        verify_cosignature(body.replace("20852163", "20852164"), sig, w)
    bumped = note.Signature(sig.name, sig.key_id, struct.pack(">Q", 1679315148) + sig.signature[8:])
    with pytest.raises(NoteError, match="does not verify"):
        verify_cosignature(body, bumped, w)
    with pytest.raises(NoteError, match="not by the key"):
        verify_cosignature(body, sig, Verifier(w.name, ED25519, pub))  # a plain 0x01 key is another key ID
