"""The answer: a statement (approve or reject, by whom, why) signed with SSHSIG, namespace
`hamn-approval@v1`, over the request's canonical bytes, a newline and the statement's
canonical bytes — so a signature binds both what was asked and what was answered.

Made by `ssh-keygen -Y sign` with the approver's own key: a key file (the approver's
passphrase, if any, is asked on their terminal, and SSH_AUTH_SOCK is removed from its
environment so no agent is consulted), or their own ssh-agent. Never the requester's: an agent
whose socket is the one the request names, or that is not owned by this user, is refused, and
a key the request lists (the requester's signing key, or any key in the requester's agent) is
refused before anything is written — and again by `check.py` before the command runs.
"""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from ...settings import os_user
from .. import sshsig
from ..canon import CanonError, canonical, parse_line, valid_ts
from . import NAMESPACE
from .request import Request

KIND = "hamn-approval-answer"
VERSION = 1
VERDICTS = {"approve": "approval", "reject": "rejection"}
"""The statement's verdict → the spool's file suffix."""
SIGN_TIMEOUT_S = 300.0


class AnswerError(ValueError):
    """An answer that cannot be made or read: one line."""


class NotYours(AnswerError):
    """The key or agent at hand is the requester's: a second operator signs with their own."""


@dataclass(frozen=True)
class Answer:
    statement: dict[str, Any]
    raw: bytes
    signature: str

    @property
    def verdict(self) -> str:
        return str(self.statement["verdict"])

    @property
    def principal(self) -> str:
        return str(self.statement["approver"]["principal"])


def statement_bytes(request: Request, verdict: str, principal: str, reason: str = "",
                    now: datetime | None = None) -> bytes:
    if verdict not in VERDICTS:
        raise AnswerError(f"verdict: {verdict!r} (approve or reject)")
    if not principal or any(c.isspace() for c in principal):
        raise AnswerError(f"principal: {principal!r} must be one word (as in allowed_signers)")
    when = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    try:
        return canonical({"type": KIND, "v": VERSION, "request_id": request.id, "request_sha256": request.sha256,
                          "verdict": verdict, "reason": reason,
                          "approver": {"principal": principal, "os_user": os_user()}, "signed_at": when})
    except CanonError as exc:
        raise AnswerError(f"statement: {exc}") from None


def signed_message(request_raw: bytes, statement: bytes) -> bytes:
    return request_raw + b"\n" + statement


def parse_answer(statement: bytes, signature: str) -> Answer:
    """The statement read strictly (the signature is checked by `check.py`)."""
    try:
        data = parse_line(statement)
    except CanonError as exc:
        raise AnswerError(f"answer statement: {exc}") from None
    if data.get("type") != KIND or data.get("v") != VERSION:
        raise AnswerError(f"answer statement: not a {KIND} version {VERSION}")
    if set(data) != {"type", "v", "request_id", "request_sha256", "verdict", "reason", "approver", "signed_at"}:
        raise AnswerError("answer statement: unexpected or missing fields")
    approver = data["approver"]
    if (data["verdict"] not in VERDICTS or type(data["reason"]) is not str or type(data["request_sha256"]) is not str
            or type(approver) is not dict or set(approver) != {"principal", "os_user"}
            or type(approver["principal"]) is not str or not approver["principal"] or not valid_ts(data["signed_at"])):
        raise AnswerError("answer statement: a field has the wrong type or value")
    return Answer(data, statement, signature)


# --- signing -----------------------------------------------------------------------------------
def requester_fingerprints(request: Request) -> set[str]:
    req = request.requester
    return {req["key_fingerprint"], *req["agent_keys"]}


def check_own_agent(request: Request, env: Mapping[str, str]) -> str:
    """The agent socket to use, after making sure it is this user's and not the requester's."""
    sock = env.get("SSH_AUTH_SOCK", "")
    if not sock:
        raise AnswerError("no ssh-agent (SSH_AUTH_SOCK is not set): give --key FILE")
    if request.requester["agent_socket"] and os.path.realpath(sock) == os.path.realpath(request.requester["agent_socket"]):
        raise NotYours(f"SSH_AUTH_SOCK {sock} is the requester's agent: use your own login's agent or --key FILE")
    try:
        st = os.stat(sock)
    except OSError as exc:
        raise AnswerError(f"SSH_AUTH_SOCK {sock}: {exc.strerror}") from None
    if not stat.S_ISSOCK(st.st_mode) or st.st_uid != os.geteuid():
        raise NotYours(f"SSH_AUTH_SOCK {sock} is not a socket of yours: use your own login's agent or --key FILE")
    return sock


def _agent_public_key(request: Request, env: Mapping[str, str]) -> str:
    """The first Ed25519 (else RSA) key of the approver's agent that the request does not list."""
    r = subprocess.run(["ssh-add", "-L"], capture_output=True, text=True, env=dict(env), timeout=30)
    if r.returncode != 0:
        raise AnswerError("your ssh-agent holds no key (ssh-add -L): add one, or give --key FILE")
    theirs = requester_fingerprints(request)
    usable = []
    for line in r.stdout.splitlines():
        try:
            blob = sshsig.parse_public_line(line)
        except sshsig.SigError:
            continue
        if sshsig.key_type(blob) in sshsig.KEY_TYPES and sshsig.fingerprint(blob) not in theirs:
            usable.append((sshsig.KEY_TYPES.index(sshsig.key_type(blob)), line))
    if not usable:
        raise NotYours("your ssh-agent holds no Ed25519 or RSA key of your own (the requester's keys are refused)")
    return sorted(usable)[0][1]


def ssh_keygen_sign(message: bytes, key_file: str | Path, env: Mapping[str, str]) -> str:
    """`ssh-keygen -Y sign -n hamn-approval@v1 -f KEY` over `message` (stdin → stdout). KEY is a
    private key file, or a public one whose private half is in the agent of `env`."""
    exe = shutil.which("ssh-keygen")
    if exe is None:
        raise AnswerError("ssh-keygen is not installed (package openssh-client)")
    try:
        r = subprocess.run([exe, "-q", "-Y", "sign", "-n", NAMESPACE, "-f", str(key_file)], input=message,
                           capture_output=True, env=dict(env), timeout=SIGN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise AnswerError("ssh-keygen -Y sign did not finish (a passphrase prompt with no terminal?)") from None
    if r.returncode != 0:
        why = r.stderr.decode("utf-8", "replace").strip().splitlines()
        raise AnswerError(f"ssh-keygen -Y sign failed: {why[-1] if why else f'exit {r.returncode}'}")
    return r.stdout.decode("ascii", "replace")


def sign_answer(request: Request, verdict: str, principal: str, *, reason: str = "", key_file: str | Path | None = None,
                env: Mapping[str, str] | None = None, now: datetime | None = None) -> Answer:
    """Sign `verdict` on `request` as `principal` with `key_file`, else the approver's own agent."""
    env = dict(os.environ if env is None else env)
    statement = statement_bytes(request, verdict, principal, reason, now)
    message = signed_message(request.raw, statement)
    if key_file is not None:
        env.pop("SSH_AUTH_SOCK", None)  # a key file is used by itself: no agent is asked
        signature = ssh_keygen_sign(message, Path(key_file).expanduser(), env)
    else:
        check_own_agent(request, env)
        line = _agent_public_key(request, env)
        with tempfile.TemporaryDirectory(prefix="hamn-approve-") as tmp:
            pub = Path(tmp) / "key.pub"
            pub.write_text(line + "\n")
            signature = ssh_keygen_sign(message, pub, env)
    try:
        signer = sshsig.parse(sshsig.unarmor(signature)).public_blob
    except sshsig.SigError as exc:
        raise AnswerError(f"ssh-keygen made an unreadable signature: {exc}") from None
    if sshsig.fingerprint(signer) in requester_fingerprints(request):
        raise NotYours(f"key {sshsig.fingerprint(signer)} is the requester's: a second operator signs with their own key")
    return Answer(parse_line(statement), statement, signature)


# --- an answer carried by hand ------------------------------------------------------------------
MAX_BUNDLE = 32 * 1024


def bundle(statement: bytes, signature: str) -> bytes:
    """One file holding an answer made elsewhere (`hamn approve --out FILE`): the statement's
    line, then the armored SSHSIG — what `hamn run --approval STEP=FILE` reads."""
    return statement + b"\n" + signature.encode("ascii")


def parse_bundle(data: bytes, source: str) -> tuple[bytes, str]:
    """(statement, signature) of an answer file; AnswerError naming `source` if it is not one."""
    if len(data) > MAX_BUNDLE:
        raise AnswerError(f"{source}: larger than {MAX_BUNDLE} bytes: not an answer file")
    statement, sep, rest = data.partition(b"\n")
    if not sep or not rest.startswith(sshsig.BEGIN.encode()):
        raise AnswerError(f"{source}: not an answer file (want the statement's line, then the SSH signature; hamn approve --out makes one)")
    try:
        return statement, rest.decode("ascii")
    except UnicodeDecodeError:
        raise AnswerError(f"{source}: the signature is not ASCII") from None
