"""OpenSSH SSHSIG signatures (`PROTOCOL.sshsig`), made byte-identical to `ssh-keygen -Y sign`
and checked more strictly than `ssh-keygen -Y verify` 9.2 does.

Strict means: the armour must be exactly what `armor()` writes (70-column base64, LF only,
one trailing newline — ssh-keygen also accepts `\\f` for `\\n`, blank lines and other
wrapping); the blob must parse to its end with nothing left over; the namespace must be the
one expected; SHA-512 only; and Ed25519 is checked by OpenSSL, which refuses the malleable
form S+L of a signature that ssh-keygen 9.2 accepts. RSA (rsa-sha2-256/512) is checked by
OpenSSL with the exact signature length; other key types are refused.
"""
from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass
from typing import Any

MAGIC = b"SSHSIG"
VERSION = 1
BEGIN = "-----BEGIN SSH SIGNATURE-----"
END = "-----END SSH SIGNATURE-----"
WRAP = 70
HASH = "sha512"
KEY_TYPES = ("ssh-ed25519", "ssh-rsa")


class SigError(ValueError):
    pass


# --- SSH wire encoding (RFC 4251) ------------------------------------------------------------
def string(b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + b


class Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise SigError("truncated signature blob")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def uint32(self) -> int:
        return struct.unpack(">I", self.take(4))[0]

    def string(self) -> bytes:
        return self.take(self.uint32())

    def mpint(self) -> int:
        raw = self.string()
        if raw and (raw[0] == 0 and (len(raw) == 1 or raw[1] < 0x80)):
            raise SigError("integer not minimally encoded")
        if raw and raw[0] & 0x80:
            raise SigError("negative integer")
        return int.from_bytes(raw, "big")

    def end(self) -> None:
        if self.pos != len(self.data):
            raise SigError(f"{len(self.data) - self.pos} unexpected bytes after the signature blob")


def key_type(public_blob: bytes) -> str:
    return Reader(public_blob).string().decode("ascii", "replace")


def public_line(public_blob: bytes) -> str:
    """`ssh-ed25519 AAAA…` as in authorized_keys and allowed_signers."""
    return f"{key_type(public_blob)} {base64.b64encode(public_blob).decode()}"


def parse_public_line(line: str) -> bytes:
    parts = line.split()
    if len(parts) < 2:
        raise SigError("not an SSH public key")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except ValueError:
        raise SigError("public key is not base64") from None
    if key_type(blob) != parts[0]:
        raise SigError("public key type does not match its blob")
    return blob


def fingerprint(public_blob: bytes) -> str:
    return "SHA256:" + base64.b64encode(hashlib.sha256(public_blob).digest()).decode().rstrip("=")


# --- making a signature ----------------------------------------------------------------------
def signed_data(digest: bytes, namespace: str) -> bytes:
    """What the key signs: the magic, namespace, reserved, hash name and H(message)."""
    return MAGIC + string(namespace.encode()) + string(b"") + string(HASH.encode()) + string(digest)


def blob(public_blob: bytes, namespace: str, ssh_signature: bytes) -> bytes:
    return MAGIC + struct.pack(">I", VERSION) + string(public_blob) + string(namespace.encode()) + string(b"") + string(HASH.encode()) + string(ssh_signature)


def armor(raw: bytes) -> str:
    b64 = base64.b64encode(raw).decode()
    lines = [b64[i : i + WRAP] for i in range(0, len(b64), WRAP)]
    return "\n".join([BEGIN, *lines, END]) + "\n"


def sign(signer, message: bytes | None = None, *, namespace: str, digest: bytes | None = None) -> str:
    """An armoured SSHSIG of `message` (or of a SHA-512 `digest` already computed) by `signer`
    (anything with `public_blob` and `sign_ssh(data) -> SSH signature encoding`)."""
    if digest is None:
        assert message is not None
        digest = hashlib.sha512(message).digest()
    return armor(blob(signer.public_blob, namespace, signer.sign_ssh(signed_data(digest, namespace))))


# --- checking one ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Parsed:
    public_blob: bytes
    namespace: str
    hash_alg: str
    sig_alg: str
    signature: bytes


def unarmor(text: str | bytes) -> bytes:
    """The blob, if and only if `text` is exactly the armour `armor()` writes for it."""
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise SigError("signature armour is not ASCII") from None
    if not text.startswith(BEGIN + "\n") or not text.endswith("\n" + END + "\n"):
        raise SigError("signature armour: wrong header or footer")
    body = text[len(BEGIN) + 1 : -len(END) - 2]
    try:
        raw = base64.b64decode(body.replace("\n", ""), validate=True)
    except ValueError:
        raise SigError("signature armour: invalid base64") from None
    if armor(raw) != text:
        raise SigError("signature armour is not in canonical form (70-column lines, LF only)")
    return raw


def parse(raw: bytes) -> Parsed:
    r = Reader(raw)
    if r.take(6) != MAGIC:
        raise SigError("not an SSHSIG blob")
    if r.uint32() != VERSION:
        raise SigError("unsupported SSHSIG version")
    public_blob = r.string()
    namespace = r.string()
    if r.string() != b"":
        raise SigError("reserved field is not empty")
    hash_alg = r.string()
    sig = Reader(r.string())
    r.end()
    sig_alg = sig.string()
    signature = sig.string()
    sig.end()
    try:
        return Parsed(public_blob, namespace.decode("utf-8"), hash_alg.decode("ascii"), sig_alg.decode("ascii"), signature)
    except UnicodeDecodeError:
        raise SigError("namespace or algorithm is not text") from None


_ED25519_KEYS: dict[bytes, Any] = {}


def _ed25519_fast(raw: bytes, namespace: str, public_blob: bytes, data: bytes) -> bool:
    """The common case, an Ed25519 signature by a known key: the blob must be exactly the bytes
    `blob()` makes for that key and namespace, so compare them instead of parsing (same result,
    a fifth of the time). False: not this case, take the general path."""
    if len(public_blob) != 51 or not public_blob.startswith(b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20"):
        return False
    prefix = blob(public_blob, namespace, b"")[:-4] + struct.pack(">I", 83) + string(b"ssh-ed25519") + struct.pack(">I", 64)
    if len(raw) != len(prefix) + 64 or not raw.startswith(prefix):
        return False
    key = _ED25519_KEYS.get(public_blob)
    if key is None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        key = _ED25519_KEYS[public_blob] = Ed25519PublicKey.from_public_bytes(public_blob[19:])
    from cryptography.exceptions import InvalidSignature

    try:
        key.verify(raw[-64:], data)  # OpenSSL: strict, S < L
    except InvalidSignature:
        raise SigError("incorrect signature") from None
    return True


def verify(text: str | bytes, *, namespace: str, message: bytes | None = None, digest: bytes | None = None,
           public_blob: bytes | None = None) -> Parsed | None:
    """Check an armoured signature strictly; returns what it holds (None when `public_blob` was
    given and matched: the caller knows it), raises SigError.

    `public_blob`: the key that must have made it (else any supported key is accepted, and the
    caller decides whether it trusts `Parsed.public_blob`).
    """
    raw = unarmor(text)
    if public_blob is not None:
        if digest is None:
            assert message is not None
            digest = hashlib.sha512(message).digest()
        if _ed25519_fast(raw, namespace, public_blob, signed_data(digest, namespace)):
            return None
    p = parse(raw)
    if p.namespace != namespace:
        raise SigError(f"signature namespace is {p.namespace!r}, not {namespace!r}")
    if p.hash_alg != HASH:
        raise SigError(f"signature hash is {p.hash_alg!r}, not {HASH}")
    if public_blob is not None and p.public_blob != public_blob:
        raise SigError("signed by another key")
    if digest is None:
        assert message is not None
        digest = hashlib.sha512(message).digest()
    check_ssh_signature(p.public_blob, p.sig_alg, p.signature, signed_data(digest, namespace))
    return p


def check_ssh_signature(public_blob: bytes, sig_alg: str, signature: bytes, data: bytes) -> None:
    from cryptography.exceptions import InvalidSignature

    r = Reader(public_blob)
    ktype = r.string().decode("ascii", "replace")
    try:
        if ktype == "ssh-ed25519":
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

            pk = r.string()
            r.end()
            if sig_alg != "ssh-ed25519" or len(pk) != 32 or len(signature) != 64:
                raise SigError("malformed Ed25519 signature")
            # OpenSSL refuses S >= L (the malleable S+L form ssh-keygen 9.2 accepts)
            Ed25519PublicKey.from_public_bytes(pk).verify(signature, data)
        elif ktype == "ssh-rsa":
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.asymmetric import padding
            from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers

            e, n = r.mpint(), r.mpint()
            r.end()
            algs = {"rsa-sha2-512": hashes.SHA512(), "rsa-sha2-256": hashes.SHA256()}
            if sig_alg not in algs:
                raise SigError(f"RSA signature algorithm {sig_alg!r} refused (rsa-sha2-512 or -256 only)")
            if n.bit_length() < 2048 or len(signature) != (n.bit_length() + 7) // 8:
                raise SigError("malformed RSA signature (key under 2048 bits or wrong length)")
            RSAPublicNumbers(e, n).public_key().verify(signature, data, padding.PKCS1v15(), algs[sig_alg])
        else:
            raise SigError(f"key type {ktype!r} is not supported (ssh-ed25519 or ssh-rsa)")
    except InvalidSignature:
        raise SigError("incorrect signature") from None
    except (ValueError, TypeError) as exc:
        if isinstance(exc, SigError):
            raise
        raise SigError(f"malformed key or signature ({exc})") from None
