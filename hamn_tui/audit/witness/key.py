"""The witness's own Ed25519 key: one file, `PRIVATE+KEY+<name>+<key id>+base64(0x04 || seed)`
(the layout of Go's x/mod/sumdb/note signer keys, with the cosignature type), created 0600 on
first use and never through a symlink. Its public half is printed as a vkey."""
from __future__ import annotations

import base64
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from ..files import private_dir, private_file, read_regular
from .note import COSIGNATURE_V1, NoteError, Verifier, b64decode, check_name, key_id

KEY_FILE = "witness.key"


@dataclass
class WitnessKey:
    name: str
    private: object
    """A `cryptography` Ed25519PrivateKey."""

    @property
    def verifier(self) -> Verifier:
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        return Verifier(self.name, COSIGNATURE_V1, self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))  # type: ignore[attr-defined]


def default_name() -> str:
    return f"hamn-witness/{socket.gethostname().split('.')[0] or 'host'}"


def _encode(name: str, private: object) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

    seed = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())  # type: ignore[attr-defined]
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)  # type: ignore[attr-defined]
    return f"PRIVATE+KEY+{name}+{key_id(name, COSIGNATURE_V1, public).hex()}+{base64.b64encode(bytes([COSIGNATURE_V1]) + seed).decode()}\n"


def _decode(text: str, where: Path) -> WitnessKey:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    parts = text.strip().split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise NoteError(f"{where}:1: not a witness key (PRIVATE+KEY+name+id+key)")
    name = check_name(parts[2])
    raw = b64decode(parts[4], f"{where}:1: the key")
    if len(raw) != 33 or raw[0] != COSIGNATURE_V1:
        raise NoteError(f"{where}:1: not an Ed25519 cosigner key")
    key = WitnessKey(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
    if key.verifier.key_id.hex() != parts[3]:
        raise NoteError(f"{where}:1: key ID {parts[3]} does not match the key")
    return key


def load_or_create(directory: Path, name: str | None = None) -> WitnessKey:
    """The key in `directory`, made on first use (0600, O_EXCL). A `name` that differs from the
    stored key's is refused: the name is part of the key ID auditors hold."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private_dir(directory)
    path = directory / KEY_FILE
    if not path.exists():
        new_name = check_name(name or default_name())
        try:
            fd = private_file(path, os.O_EXCL)
        except FileExistsError:
            pass  # made meanwhile by another request
        else:
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(_encode(new_name, Ed25519PrivateKey.generate()))
                fh.flush()
                os.fsync(fh.fileno())
            dfd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
    st = os.stat(path, follow_symlinks=False)
    if st.st_mode & 0o077:
        raise NoteError(f"{path}: readable by group or others (mode {st.st_mode & 0o777:o}); chmod 600 it")
    key = _decode(read_regular(path, 4096, "witness key").decode("ascii", "replace"), path)
    if name is not None and name != key.name:
        raise NoteError(f"{path}: the key is named {key.name}, not {name}")
    return key
