"""Helpers for the audit-log tests (no tests here): keys, small signed logs, a forger."""
from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import subprocess
import textwrap
from pathlib import Path
from typing import Any, Callable

import pytest

from hamn_tui.audit import NAMESPACE, sshsig
from hamn_tui.audit.canon import canonical
from hamn_tui.audit.keys import Signer, load_key_file, session_key
from hamn_tui.audit.records import ZERO, signed_view
from hamn_tui.audit.verify import Report, verify_path
from hamn_tui.audit.writer import AuditWriter
from hamn_tui.engine.operator import ScriptedOperator
from hamn_tui.record.questions import Answer
from hamn_tui.engine.runner import Runner
from hamn_tui.probes.host import host_probes
from hamn_tui.runbook.context import RunContext, resolve_params
from hamn_tui.runbook.loader import runbook_from_document
from hamn_tui.inputs.toml_file import parse_toml_text
from hamn_tui.transport.local import LocalTransport

HEAD = """
[runbook]
id = "t"
title = "t"
version = "1"
databases = ["db2"]
summary = "s"
"""

SMALL = """
[[steps]]
id = "look"
title = "look"
run = "echo looked"
mutating = false
"""

BOOK = """
[[steps]]
id = "look"
title = "look around"
run = "echo looked; echo warn >&2"
mutating = false

[[steps]]
id = "change"
title = "change something"
run = "echo changed > TMP/changed"
irreversible = true
"""


@pytest.fixture(autouse=True)
def hermetic(tmp_path, monkeypatch):
    """No ssh-agent, and an installation key (if one is made) under tmp, never in ~/.config."""
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def keygen(directory: Path, name: str, comment: str = "", kind: str = "ed25519") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    extra = ["-b", "2048"] if kind == "rsa" else []
    subprocess.run(["ssh-keygen", "-q", "-t", kind, *extra, "-N", "", "-C", comment or name, "-f", str(path)], check=True)
    return path


def allowed_signers(path: Path, principal: str, key: Path, options: str = f'namespaces="{NAMESPACE}"') -> Path:
    pub = " ".join(Path(str(key) + ".pub").read_text().split()[:2])
    path.write_text(f"{principal} {options} {pub}\n" if options else f"{principal} {pub}\n")
    return path


def run_book(body: str, tmp: Path, writer: AuditWriter, operator=None, sets: dict | None = None) -> str:
    text = HEAD + textwrap.dedent(body).replace("TMP", str(tmp))
    rb = runbook_from_document(parse_toml_text(text, "t.toml"), None, "t")
    transport = LocalTransport()
    ctx = RunContext(resolve_params(rb, sets or {}, None))
    runner = Runner(rb, ctx, transport, host_probes(transport, None), operator or ScriptedOperator(lambda q: Answer("run")),
                    run_id="run-1", runbook_sha256="ab" * 32, operator_name="alice", subscribers=[writer])
    try:
        return asyncio.run(runner.run())
    finally:
        writer.close()


class Lab:
    """Alice (the operator, in allowed_signers) and Mallory (not), and logs signed by them."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.alice_key = keygen(tmp / "keys", "alice", "alice@example.com")
        self.mallory_key = keygen(tmp / "keys", "mallory", "mallory@evil")
        self.allowed = allowed_signers(tmp / "allowed_signers", "alice@example.com", self.alice_key)
        self.n = 0

    def alice(self) -> Signer:
        return load_key_file(self.alice_key, "operator", "alice@example.com")

    def mallory(self, principal: str = "mallory@evil") -> Signer:
        return load_key_file(self.mallory_key, "operator", principal)

    def log(self, body: str = SMALL, signer: Signer | None = None, **kw: Any) -> Path:
        self.n += 1
        d = self.tmp / f"run{self.n}"
        writer = AuditWriter(d / "audit-000.jsonl", signer=signer or self.alice(), **kw)
        run_book(body, self.tmp, writer)
        return d / "audit-000.jsonl"

    def verify(self, path: Path, allowed: bool = True) -> Report:
        return verify_path(path, self.allowed if allowed else None)


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def write_lines(path: Path, lines: list[bytes], drop_sig: bool = True) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    if drop_sig:
        Path(str(path) + ".sig").unlink(missing_ok=True)


def forge(records: list[dict[str, Any]], operator: Signer, *, session: Signer | None = None, log_id: str | None = None,
          namespace: str = NAMESPACE, edit: Callable[[dict[str, Any]], None] | None = None) -> tuple[list[bytes], str]:
    """Rewrite a log as a forger with keys of their own would: re-chained, re-signed, LOG.sig too.

    Returns the lines and the detached signature."""
    session = session or session_key()
    log_id = log_id or secrets.token_hex(16)
    out: list[bytes] = []
    prev = ZERO
    whole = hashlib.sha512()
    for seq, rec in enumerate(records):
        rec = json.loads(json.dumps(rec))
        rec.update(seq=seq, prev=prev, log=log_id)
        if edit:
            edit(rec)
        d = rec["data"]
        if rec["type"] == "log_open":
            d["session_key"] = session.public_line
            d["signer"] = operator.describe()
            d["namespace"] = namespace
        if rec["type"] == "log_close":
            d["records"] = seq
        message = canonical(signed_view(rec))
        if rec["type"] == "log_open":
            d["attest"] = sshsig.sign(operator, message, namespace=namespace)
        elif rec["type"] == "checkpoint":
            d["sig"] = sshsig.sign(session, message, namespace=namespace)
        elif rec["type"] == "log_close":
            d["sig"] = sshsig.sign(session, message, namespace=namespace)
            d["attest"] = sshsig.sign(operator, message, namespace=namespace)
        line = canonical(rec)
        out.append(line)
        whole.update(line + b"\n")
        prev = hashlib.sha256(line).hexdigest()
    return out, sshsig.sign(operator, namespace=namespace, digest=whole.digest())


def records_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines_of(path)]


def put_forgery(path: Path, lines: list[bytes], sig: str) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    Path(str(path) + ".sig").write_text(sig)
