"""C2SP signed notes (c2sp.org/signed-note): text, a blank line, then `— name base64(keyid||sig)`
lines. Ed25519 only. Anything malformed is refused with a one-line `NoteError`, never guessed at."""
from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

ED25519 = 0x01
"""Signature type of a plain Ed25519 note signature (the log's own, on its checkpoint)."""
COSIGNATURE_V1 = 0x04
"""Signature type of a timestamped Ed25519 cosignature (c2sp.org/tlog-cosignature)."""
MAX_NOTE = 16 * 1024
MAX_SIGNATURES = 32
"""The spec asks verifiers to accept at least 16."""
DASH = "\u2014 "
_SPACES = re.compile(r"\s")


class NoteError(ValueError):
    """A malformed note, key or signature; the message is one line."""


def check_name(name: str) -> str:
    """A key name: non-empty, no Unicode space, no '+' (the spec's rule)."""
    if not name or _SPACES.search(name) or "+" in name or any(ord(c) < 0x20 for c in name):
        raise NoteError(f"bad key name {name!r}: it must be non-empty, without spaces or '+'")
    return name


def key_id(name: str, sig_type: int, public: bytes) -> bytes:
    """SHA-256(name || 0x0A || type || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public).digest()[:4]


def b64decode(text: str, what: str) -> bytes:
    """Strict standard base64 (RFC 4648 §4): no other alphabet, no missing padding."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise NoteError(f"{what} is not base64") from None
    if base64.b64encode(raw).decode() != text:
        raise NoteError(f"{what} is not canonical base64")
    return raw


@dataclass(frozen=True)
class Verifier:
    """A public key as a vkey names it: `name+hex(key id)+base64(type || public key)`."""

    name: str
    sig_type: int
    public: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.sig_type, self.public)

    @property
    def vkey(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(bytes([self.sig_type]) + self.public).decode()}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


def parse_vkey(text: str) -> Verifier:
    """A vkey string; its key ID must be the one its name, type and key give."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise NoteError(f"bad verifier key {text.strip()[:80]!r}: want name+keyid+base64")
    name, hex_id, b64 = parts
    check_name(name)
    if not re.fullmatch(r"[0-9a-f]{8}", hex_id):
        raise NoteError(f"bad verifier key {name}: key ID {hex_id!r} is not 8 lowercase hex digits")
    raw = b64decode(b64, f"verifier key {name}")
    if len(raw) != 33 or raw[0] not in (ED25519, COSIGNATURE_V1):
        raise NoteError(f"bad verifier key {name}: not an Ed25519 key (type 0x01 or 0x04, 32 bytes)")
    v = Verifier(name, raw[0], raw[1:])
    if v.key_id.hex() != hex_id:
        raise NoteError(f"bad verifier key {name}: key ID {hex_id} does not match its key ({v.key_id.hex()})")
    return v


@dataclass(frozen=True)
class Signature:
    name: str
    key_id: bytes
    signature: bytes
    """The bytes after the key ID."""

    @property
    def line(self) -> str:
        return f"{DASH}{self.name} {base64.b64encode(self.key_id + self.signature).decode()}\n"


def parse_signature_line(line: str) -> Signature:
    """One `— name base64` line (without its newline)."""
    if not line.startswith(DASH):
        raise NoteError(f"signature line {line[:60]!r} does not start with an em dash and a space")
    rest = line[len(DASH):]
    name, sep, b64 = rest.partition(" ")
    if not sep:
        raise NoteError(f"signature line {line[:60]!r} has no signature")
    check_name(name)
    raw = b64decode(b64, f"the signature of {name}")
    if len(raw) < 5:
        raise NoteError(f"the signature of {name} is too short")
    return Signature(name, raw[:4], raw[4:])


@dataclass(frozen=True)
class Note:
    text: str
    """The note text, with its final newline."""
    signatures: tuple[Signature, ...]

    def encode(self) -> bytes:
        return (self.text + "\n" + "".join(s.line for s in self.signatures)).encode()


def check_text(text: str) -> str:
    """Note text: ends with a newline, no control characters but newline."""
    if not text.endswith("\n"):
        raise NoteError("the note text does not end with a newline")
    bad = next((c for c in text if ord(c) < 0x20 and c != "\n"), None)
    if bad is not None:
        raise NoteError(f"the note holds a control character (U+{ord(bad):04X})")
    return text


def parse_note(data: bytes) -> Note:
    """A whole signed note; the text ends at the last blank line."""
    if len(data) > MAX_NOTE:
        raise NoteError(f"the note is larger than {MAX_NOTE} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise NoteError("the note is not UTF-8") from None
    check_text(text)
    cut = text.rfind("\n\n")
    if cut < 0:
        raise NoteError("the note has no blank line before its signatures")
    body, sigs = text[: cut + 1], text[cut + 2:]
    lines = sigs.split("\n")[:-1]
    if not lines:
        raise NoteError("the note has no signature")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"the note has more than {MAX_SIGNATURES} signatures")
    return Note(body, tuple(parse_signature_line(line) for line in lines))


def ed25519_sign(private: object, message: bytes) -> bytes:
    """Raw Ed25519 with a `cryptography` private key, or with a hamn `Signer` (its `sign_ssh`
    gives the SSH encoding, from which the 64 bytes are taken) — so the session key signs too."""
    if hasattr(private, "sign_ssh"):
        from ..sshsig import Reader

        r = Reader(private.sign_ssh(message))  # type: ignore[attr-defined]
        if r.string() != b"ssh-ed25519":
            raise NoteError("the key is not Ed25519")
        sig = r.string()
        r.end()
        return sig
    return private.sign(message)  # type: ignore[attr-defined]


def ed25519_public(private: object) -> bytes:
    """The raw 32-byte public key of a `cryptography` key or an Ed25519 hamn `Signer`."""
    if hasattr(private, "public_blob"):
        from ..sshsig import Reader

        r = Reader(private.public_blob)  # type: ignore[attr-defined]
        if r.string() != b"ssh-ed25519":
            raise NoteError("the key is not Ed25519")
        return r.string()
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)  # type: ignore[attr-defined]


def sign(text: str, name: str, private: object) -> Signature:
    """A plain Ed25519 note signature (type 0x01) over the note text."""
    check_text(text)
    kid = key_id(check_name(name), ED25519, ed25519_public(private))
    return Signature(name, kid, ed25519_sign(private, text.encode()))


def verify(note: Note, verifiers: list[Verifier]) -> list[str]:
    """The names of the known keys (type 0x01) whose signature verifies. A known key's bad
    signature refuses the note; so does a note no known key signed (the spec's rules)."""
    good: list[str] = []
    for s in note.signatures:
        for v in verifiers:
            if v.sig_type == ED25519 and v.name == s.name and v.key_id == s.key_id:
                if not v.verify(note.text.encode(), s.signature):
                    raise NoteError(f"the signature of {s.name} does not verify")
                good.append(s.name)
    if not good:
        raise NoteError("no known key signed the note")
    return good
