"""Helpers for the witness tests (no tests here): a real signed log whose session key the test
keeps (to sign checkpoints as the running hamn would), checkpoints of it, a witness store."""
from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hamn_tui.audit import writer as writer_module
from hamn_tui.audit.keys import Signer, session_key
from hamn_tui.audit.witness.checkpoint import Checkpoint, origin_for, sign_checkpoint, tree_hash
from hamn_tui.audit.witness.key import load_or_create
from hamn_tui.audit.witness.store import WitnessStore
from hamn_tui.audit.writer import AuditWriter

from .test_audit_support import BOOK, Lab, lines_of, run_book

RUN_DIR = "t-run-1"
"""`<runbook id>-<run id>` of the logs `run_book` writes."""


@dataclass
class Log:
    path: Path
    session: Signer
    lines: list[bytes]
    cluster: str = "none"

    @property
    def origin(self) -> str:
        return origin_for(self.cluster, self.path.parent.name, self.path.name)

    def checkpoint(self, size: int, lines: list[bytes] | None = None, origin: str | None = None, session: Signer | None = None) -> bytes:
        """The signed checkpoint of the first `size` lines (of `lines`, default the log's own)."""
        src = self.lines if lines is None else lines
        return sign_checkpoint(Checkpoint(origin or self.origin, size, tree_hash(src[:size])), session or self.session)


def write_log(root: Path, monkeypatch, body: str = BOOK, run_dir: str = RUN_DIR, cluster: str = "none") -> Log:
    """Run a small runbook with the audit writer, keeping its session key (gone from the writer at close)."""
    kept: list[Signer] = []

    def keep() -> Signer:
        kept.append(session_key())
        return kept[-1]

    monkeypatch.setattr(writer_module, "session_key", keep)
    root.mkdir(parents=True, exist_ok=True)
    lab = Lab(Path(tempfile.mkdtemp(prefix="keys-", dir=root.parent)))  # beside the runs, never among them
    d = root / run_dir
    writer = AuditWriter(d / "audit-000.jsonl", signer=lab.alice())
    run_book(body, root, writer)
    path = d / "audit-000.jsonl"
    return Log(path, kept[0], lines_of(path), cluster)


def store(root: Path, name: str = "hamn-witness/w1") -> WitnessStore:
    return WitnessStore(root, load_or_create(root, name))


def snapshot(root: Path) -> dict[str, str]:
    """Every file under a witness directory (but its lock) and the SHA-256 of its bytes."""
    out: dict[str, str] = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            if f != "lock":
                out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out
