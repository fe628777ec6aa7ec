"""The keys that sign a log.

- the **session key**: Ed25519, made when a segment opens, held in memory only, dropped at
  close. It signs the checkpoints and the closing record.
- the **signer** of the opening and closing records and of the detached LOG.sig, in this order:
  1. `--key FILE` (through ssh-agent if the agent holds that key, else the file itself);
  2. the first ssh-agent key (the cluster file's `[signing].key` if the agent holds it);
  3. the cluster file's `[signing].key` file;
  4. the **installation key**, `~/.config/hamn/installation_ed25519` (made at first use, 0600):
     weaker — anyone who is root on this machine has it — and the log says so;
  and for a training run, an **ephemeral key** that lives as long as the segment, and says so.

Ed25519 and RSA keys are used; others (ECDSA, FIDO `sk-` keys) are skipped in the agent and
refused as files. A passphrase-protected key file must be added to ssh-agent.
"""
from __future__ import annotations

import asyncio
import getpass
import os
import socket
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable

from ..settings import settings
from . import sshsig

AGENT_TIMEOUT_S = 120.0
MAX_KEY_FILE = 64 * 1024
"""A private key file is a few KiB (RSA 16384 is under 13 KiB); a larger file is not one, and is not read whole."""


class SigningKeyError(Exception):
    """A signing key cannot be used; the message says what to do."""


@dataclass
class Signer:
    """A key that signs; `sign_ssh(data)` returns the SSH signature encoding."""

    kind: str
    """operator | installation | ephemeral | session"""
    source: str
    """agent | file | generated | memory"""
    principal: str
    public_blob: bytes
    sign_ssh: Callable[[bytes], bytes]
    path: str = ""

    @property
    def public_line(self) -> str:
        return sshsig.public_line(self.public_blob)

    @property
    def fingerprint(self) -> str:
        return sshsig.fingerprint(self.public_blob)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "source": self.source, "principal": self.principal, "key": self.public_line, "fingerprint": self.fingerprint}


# --- keys held by this process ---------------------------------------------------------------
def _ed25519_signer(private: Any, kind: str, source: str, principal: str, path: str = "") -> Signer:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    pub = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    public_blob = sshsig.string(b"ssh-ed25519") + sshsig.string(pub)

    def sign_ssh(data: bytes) -> bytes:
        return sshsig.string(b"ssh-ed25519") + sshsig.string(private.sign(data))

    return Signer(kind, source, principal, public_blob, sign_ssh, path)


def _rsa_signer(private: Any, kind: str, source: str, principal: str, path: str) -> Signer:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    if private.key_size < 2048:
        raise SigningKeyError(f"{path}: RSA keys under 2048 bits are refused")
    line = private.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()
    public_blob = sshsig.parse_public_line(line)

    def sign_ssh(data: bytes) -> bytes:
        return sshsig.string(b"rsa-sha2-512") + sshsig.string(private.sign(data, padding.PKCS1v15(), hashes.SHA512()))

    return Signer(kind, source, principal, public_blob, sign_ssh, path)


def session_key() -> Signer:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return _ed25519_signer(Ed25519PrivateKey.generate(), "session", "memory", "session")


def ephemeral_key(principal: str) -> Signer:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return _ed25519_signer(Ed25519PrivateKey.generate(), "ephemeral", "memory", principal)


def load_key_file(path: str | Path, kind: str, principal: str) -> Signer:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_ssh_private_key

    p = Path(path).expanduser()
    try:
        with open(p, "rb") as fh:
            data = fh.read(MAX_KEY_FILE + 1)
    except OSError as exc:
        raise SigningKeyError(f"cannot read the signing key {p}: {exc.strerror}") from None
    _check_is_private_key(p, data)
    _check_private(p)
    try:
        loader = load_ssh_private_key if b"OPENSSH PRIVATE KEY" in data else load_pem_private_key
        private = loader(data, password=None)
    except (TypeError, ValueError, Exception) as exc:  # encrypted keys raise TypeError, or need bcrypt
        text = str(exc).lower()
        if isinstance(exc, TypeError) or "password" in text or "bcrypt" in text or "encrypt" in text:
            raise SigningKeyError(f"the signing key {p} is protected by a passphrase: add it to ssh-agent (ssh-add {p}) and run again") from None
        raise SigningKeyError(f"the signing key {p} cannot be read: {exc}") from None
    if isinstance(private, Ed25519PrivateKey):
        return _ed25519_signer(private, kind, "file", principal, str(p))
    if isinstance(private, RSAPrivateKey):
        return _rsa_signer(private, kind, "file", principal, str(p))
    raise SigningKeyError(f"the signing key {p} is a {type(private).__name__}: use an Ed25519 (or RSA) key")


def _check_is_private_key(p: Path, data: bytes) -> None:
    """Refuse, by its content, a file that is no private key (its .pub, /etc/passwd, a log) before
    anything else is said about it: its mode or a parser's message would send the operator astray."""
    if len(data) > MAX_KEY_FILE:
        raise SigningKeyError(f"the signing key {p} is not a private key: larger than {MAX_KEY_FILE // 1024} KiB")
    if b"PRIVATE KEY-----" in data:
        return
    try:
        sshsig.parse_public_line(data.decode("ascii"))
    except (UnicodeDecodeError, sshsig.SigError):
        raise SigningKeyError(f"the signing key {p} is not a private key: expected an OpenSSH or PEM private key file "
                              f"(Ed25519 or RSA)") from None
    raise SigningKeyError(f"the signing key {p} is not a private key but a public one: give the file without .pub")


def _check_private(p: Path) -> None:
    mode = p.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SigningKeyError(f"the signing key {p} can be read by others (mode {stat.S_IMODE(mode):04o}): chmod 600 {p}")


def config_dir() -> Path:
    return settings().config_dir


def installation_key(host: str | None = None) -> Signer:
    """This installation's key, made on first use: ~/.config/hamn/installation_ed25519 (0600)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

    principal = f"installation@{host or socket.gethostname()}"
    d = config_dir()
    path = d / "installation_ed25519"
    if not path.exists():
        try:
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption())
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, pem)
                os.fsync(fd)
            finally:
                os.close(fd)
            pub = key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()
            (d / "installation_ed25519.pub").write_text(f"{pub} {principal}\n")
        except FileExistsError:
            pass  # another hamn made it first
        except OSError as exc:
            raise SigningKeyError(f"no operator key (ssh-agent, --key or [signing].key) and the installation key {path} cannot be made: {exc.strerror}") from None
    return load_key_file(path, "installation", principal)


# --- ssh-agent ---------------------------------------------------------------------------------
def _in_thread(make: Callable[[], Awaitable[Any]], timeout: float = AGENT_TIMEOUT_S) -> Any:
    """Run an asyncio coroutine to completion from sync code, even inside a running event loop
    (engine subscribers are sync callables called from the runner's loop)."""
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["v"] = asyncio.run(make())
        except BaseException as exc:  # handed back to the caller
            out["e"] = exc

    t = threading.Thread(target=target, name="hamn-ssh-agent", daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise SigningKeyError(f"ssh-agent did not answer within {timeout:.0f} s")
    if "e" in out:
        raise out["e"]
    return out["v"]


def agent_keys() -> list[bytes]:
    """Public key blobs the agent holds that hamn can use (Ed25519 first, then RSA)."""
    if not settings().ssh_agent:
        return []

    async def listing() -> list[bytes]:
        import asyncssh

        async with asyncssh.connect_agent() as agent:
            return [k.public_data for k in await agent.get_keys()]

    try:
        blobs = _in_thread(listing, 10.0)
    except Exception:  # no agent listening, or it refused: fall back to the next source
        return []
    usable = [b for b in blobs if sshsig.key_type(b) in sshsig.KEY_TYPES]
    return sorted(usable, key=lambda b: sshsig.KEY_TYPES.index(sshsig.key_type(b)))


def agent_signer(public_blob: bytes, kind: str, principal: str) -> Signer:
    def sign_ssh(data: bytes) -> bytes:
        async def signing() -> bytes:
            import asyncssh

            async with asyncssh.connect_agent() as agent:
                for k in await agent.get_keys():
                    if k.public_data == public_blob:
                        if sshsig.key_type(public_blob) == "ssh-rsa":
                            k.set_sig_algorithm(b"rsa-sha2-512")
                        return await k.sign_async(data)
            raise SigningKeyError("the signing key is no longer in ssh-agent")

        return _in_thread(signing)

    return Signer(kind, "agent", principal, public_blob, sign_ssh)


def _public_of(path: Path) -> bytes | None:
    """The public key of a key file: FILE.pub, or derived from an unencrypted FILE."""
    pub = Path(str(path) + ".pub")
    try:
        return sshsig.parse_public_line(pub.read_text())
    except (OSError, sshsig.SigError):
        pass
    try:
        return load_key_file(path, "operator", "").public_blob
    except SigningKeyError:
        return None


def default_principal() -> str:
    try:
        user = getpass.getuser()
    except Exception:
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def resolve_signer(*, key: str | None = None, cluster_key: str | None = None, principal: str | None = None,
                   training: bool = False) -> Signer:
    """Who signs the opening and closing records (see the module's docstring for the order)."""
    host = socket.gethostname()
    if training:
        return ephemeral_key(f"training@{host}")
    principal = principal or default_principal()
    if key:
        path = Path(key).expanduser()
        wanted = _public_of(path)
        if wanted is not None and wanted in agent_keys():
            return agent_signer(wanted, "operator", principal)
        return load_key_file(path, "operator", principal)
    held = agent_keys()
    if held:
        if cluster_key:
            wanted = _public_of(Path(cluster_key).expanduser())
            if wanted in held:
                return agent_signer(wanted, "operator", principal)  # type: ignore[arg-type]
        return agent_signer(held[0], "operator", principal)
    if cluster_key:
        return load_key_file(cluster_key, "operator", principal)
    return installation_key(host)
