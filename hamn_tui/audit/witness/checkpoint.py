"""Checkpoints of a log segment (c2sp.org/tlog-checkpoint) and their cosignatures
(c2sp.org/tlog-cosignature, `cosignature/v1`, Ed25519).

The tree is RFC 6962's over the segment's lines: leaf i = line i's bytes without its newline
(the same bytes whose SHA-256 the next record's `prev` holds, so the record chain is untouched).
Consistency proofs (RFC 6962 §2.1.2, checked as RFC 9162 §2.1.4.2 does) let a holder of only an
old root check an extension without the records."""
from __future__ import annotations

import base64
import hashlib
import re
import struct
import time
from dataclasses import dataclass

from . import note
from .note import COSIGNATURE_V1, ED25519, NoteError, Signature, Verifier

MAX_ORIGIN = 512
ORIGIN = re.compile(r"\Ahamn/[^/\s+]+/[^/\s+]+/audit-[0-9]{3}\Z")
"""hamn's origins: hamn/<cluster>/<runbook id>-<run id>/audit-NNN."""


def leaf_hash(line: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + line).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(hashes: list[bytes]) -> bytes:
    """MTH over leaf hashes, without recursion: fold the right-most perfect subtrees."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    level = list(hashes)
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def tree_hash(lines: list[bytes]) -> bytes:
    """RFC 6962 Merkle tree hash of these leaves (lines without their newline)."""
    return root_of([leaf_hash(line) for line in lines])


def consistency_proof(hashes: list[bytes], m: int) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 6962 §2.1.2 over leaf hashes; [] when m is 0 or n."""
    n = len(hashes)
    if not 0 <= m <= n:
        raise ValueError(f"no consistency proof from {m} to {n}")
    if m in (0, n):
        return []

    def sub(m: int, d: list[bytes], complete: bool) -> list[bytes]:
        if m == len(d):
            return [] if complete else [root_of(d)]
        k = _split(len(d))
        if m <= k:
            return sub(m, d[:k], complete) + [root_of(d[k:])]
        return sub(m - k, d[k:], False) + [root_of(d[:k])]

    return sub(m, hashes, True)


def verify_consistency(m: int, n: int, old_root: bytes, new_root: bytes, proof: list[bytes]) -> bool:
    """Does the tree of size n with new_root extend the one of size m with old_root?"""
    if m > n or m < 0:
        return False
    if m == n:
        return not proof and old_root == new_root
    if m == 0 or not proof:
        return m == 0 and not proof
    path = list(proof)
    if m & (m - 1) == 0:  # m is a power of two: old_root is the first node of the path
        path.insert(0, old_root)
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0


def origin_for(cluster: str, run_dir: str, segment: str) -> str:
    """`hamn/<cluster>/<runbook id>-<run id>/audit-NNN` (segment given as `audit-NNN.jsonl`)."""
    origin = f"hamn/{cluster or 'none'}/{run_dir}/{segment.removesuffix('.jsonl')}"
    if not ORIGIN.match(origin):
        raise NoteError(f"cannot make an origin of {origin!r}: names must hold no '/', '+' or spaces")
    return origin


def parse_origin(origin: str) -> tuple[str, str, str]:
    """(cluster, run directory name, segment file name) of a hamn origin."""
    if not ORIGIN.match(origin):
        raise NoteError(f"origin {origin[:80]!r} is not hamn/<cluster>/<run>/audit-NNN")
    _, cluster, run_dir, seg = origin.split("/")
    return cluster, run_dir, seg + ".jsonl"


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    @property
    def body(self) -> str:
        """The note text: origin, size, base64 root, each ending in a newline; no extension lines."""
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"


def parse_body(text: str) -> Checkpoint:
    """Exactly three lines (hamn writes no extension lines, so it accepts none)."""
    lines = text.split("\n")
    if len(lines) != 4 or lines[3] != "":
        raise NoteError("a checkpoint is three lines: origin, tree size, root hash")
    origin, size, root = lines[:3]
    if not origin or len(origin) > MAX_ORIGIN:
        raise NoteError("the checkpoint's origin is empty or too long")
    if not re.fullmatch(r"0|[1-9][0-9]{0,15}", size):
        raise NoteError(f"the checkpoint's tree size {size[:20]!r} is not a decimal without leading zeroes")
    raw = note.b64decode(root, "the checkpoint's root hash")
    if len(raw) != 32:
        raise NoteError("the checkpoint's root hash is not 32 bytes")
    return Checkpoint(origin, int(size), raw)


def sign_checkpoint(cp: Checkpoint, private: object) -> bytes:
    """The checkpoint as a signed note, signed by the log (key name = origin, type 0x01). `private`
    is the segment's session key (a hamn `Signer`) or a `cryptography` Ed25519 key."""
    return note.Note(cp.body, (note.sign(cp.body, cp.origin, private),)).encode()


def log_verifier(origin: str, public: bytes) -> Verifier:
    return Verifier(origin, ED25519, public)


# --- cosignature/v1 ----------------------------------------------------------------------------
def cosigned_message(body: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n".encode() + body.encode()


def cosign(body: str, name: str, private: object, timestamp: int | None = None) -> Signature:
    """A witness's timestamped Ed25519 cosignature over a checkpoint body (type 0x04 key ID)."""
    ts = int(time.time()) if timestamp is None else timestamp
    if not 0 <= ts <= 2**63 - 1:
        raise NoteError("the cosignature's timestamp is out of range")
    kid = note.key_id(note.check_name(name), COSIGNATURE_V1, note.ed25519_public(private))
    return Signature(name, kid, struct.pack(">Q", ts) + note.ed25519_sign(private, cosigned_message(body, ts)))


def verify_cosignature(body: str, sig: Signature, witness: Verifier) -> int:
    """The cosignature's timestamp, if `witness` (a type 0x04 key) made it over this body."""
    if witness.sig_type != COSIGNATURE_V1 or sig.name != witness.name or sig.key_id != witness.key_id:
        raise NoteError(f"the cosignature of {sig.name} is not by the key {witness.name}+{witness.key_id.hex()}")
    if len(sig.signature) != 8 + 64:
        raise NoteError(f"the cosignature of {sig.name} is not 72 bytes (timestamp and Ed25519 signature)")
    ts = struct.unpack(">Q", sig.signature[:8])[0]
    if ts > 2**63 - 1 or not witness.verify(cosigned_message(body, ts), sig.signature[8:]):
        raise NoteError(f"the cosignature of {sig.name} does not verify")
    return ts
