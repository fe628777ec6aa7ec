"""The spool: where requests wait for a second operator and their answers are left.

`<spool>/<id>.request.json` (the request's canonical bytes and a newline), and at most one
answer: `<id>.approval.json` + `<id>.approval.sig`, or `<id>.rejection.json` + `.rejection.sig`
(the signed statement and its SSHSIG). Nothing is replaced: every file is made with O_EXCL,
never through a symlink, and read only if it is a regular file (files.py).

Modes: a spool hamn makes is 0700, its files 0600 — both operators share one login (each with
their own key, often root on a management node). For two OS users the administrator makes the
spool a group directory (`install -d -m 2770 -g hamnops DIR`): then files are 0640 so the
group reads them. A spool anyone else may enter, or a symlink, is refused.
"""
from __future__ import annotations

import os
import stat
from datetime import datetime, timezone
from pathlib import Path

from ..files import UnsafeFile, read_regular, write_synced
from ..sshsig import BEGIN
from .request import Request, RequestError, parse_request

MAX_ANSWER = 16 * 1024
VERDICTS = ("approval", "rejection")


class SpoolError(OSError):
    """The spool cannot be used: one line, naming the directory."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "spool error"


class Spool:
    def __init__(self, directory: Path | str, create: bool = True):
        self.dir = Path(directory)
        self.file_mode = 0o600
        try:
            st = os.lstat(self.dir)
        except FileNotFoundError:
            if not create:
                raise SpoolError(f"{self.dir}: no such spool directory") from None
            self._make()
            st = os.lstat(self.dir)
        except OSError as exc:
            raise SpoolError(f"{self.dir}: {exc.strerror}") from None
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
            raise SpoolError(f"{self.dir}: the spool must be a directory, not a symlink or a file")
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o007:
            raise SpoolError(f"{self.dir}: others may enter the spool (mode {mode:04o}): chmod o-rwx {self.dir}")
        if mode & 0o070:
            self.file_mode = 0o640

    def _make(self) -> None:
        try:
            self.dir.parent.mkdir(parents=True, exist_ok=True)
            os.mkdir(self.dir, 0o700)
            os.chmod(self.dir, 0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            raise SpoolError(f"{self.dir}: cannot make the spool: {exc.strerror}") from None

    # --- paths -------------------------------------------------------------------------------
    def request_path(self, request_id: str) -> Path:
        return self.dir / f"{request_id}.request.json"

    def answer_paths(self, request_id: str, verdict: str) -> tuple[Path, Path]:
        assert verdict in VERDICTS
        return self.dir / f"{request_id}.{verdict}.json", self.dir / f"{request_id}.{verdict}.sig"

    # --- writing -----------------------------------------------------------------------------
    def _write_new(self, path: Path, data: bytes) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, self.file_mode)
        try:
            os.fchmod(fd, self.file_mode)
            write_synced(fd, data)
        finally:
            os.close(fd)

    def _sync_dir(self) -> None:
        fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def put_request(self, request: Request) -> Path:
        path = self.request_path(request.id)
        self._write_new(path, request.raw + b"\n")
        self._sync_dir()
        return path

    def put_answer(self, request_id: str, verdict: str, statement: bytes, signature: str) -> Path:
        """Leave an answer (statement first, then its signature: a reader needs both). FileExistsError
        if this request already has this answer."""
        if self.answered(request_id):
            raise FileExistsError(f"request {request_id} has already been answered")
        js, sig = self.answer_paths(request_id, verdict)
        self._write_new(js, statement + b"\n")
        self._write_new(sig, signature.encode("ascii"))
        self._sync_dir()
        return sig

    # --- reading -----------------------------------------------------------------------------
    def load(self, request_id: str) -> Request:
        """The request as its file holds it now (UnsafeFile, OSError or RequestError)."""
        path = self.request_path(request_id)
        raw = read_regular(path, 256 * 1024 + 1)
        if not raw.endswith(b"\n") or raw.count(b"\n") != 1:
            raise RequestError(f"{path.name}: not one canonical line")
        request = parse_request(raw[:-1])
        if request.id != request_id:
            raise RequestError(f"{path.name}: id: the file holds request {request.id}")
        return request

    def request_ids(self) -> list[str]:
        ids = []
        for p in sorted(self.dir.glob("*.request.json")):
            rid = p.name[: -len(".request.json")]
            if len(rid) == 16 and all(c in "0123456789abcdef" for c in rid):
                ids.append(rid)
        return ids

    def answered(self, request_id: str) -> str:
        """'rejection', 'approval' or '' (a rejection wins: it ends the request)."""
        for verdict in ("rejection", "approval"):
            if any(os.path.lexists(p) for p in self.answer_paths(request_id, verdict)):
                return verdict
        return ""

    def read_answer(self, request_id: str) -> tuple[str, bytes, str] | None:
        """(verdict, statement bytes, signature text) of the answer left, rejection first; None if none."""
        verdict = self.answered(request_id)
        if not verdict:
            return None
        js, sig = self.answer_paths(request_id, verdict)
        statement = read_regular(js, MAX_ANSWER)
        signature = read_regular(sig, MAX_ANSWER)
        if not statement.endswith(b"\n") or statement.count(b"\n") != 1:
            raise UnsafeFile(f"{js.name} is not one line")
        if not signature.startswith(BEGIN.encode()):
            raise UnsafeFile(f"{sig.name} is not an SSH signature")
        return verdict, statement[:-1], signature.decode("ascii", "replace")

    def pending(self, now: datetime | None = None) -> tuple[list[Request], list[str]]:
        """Requests with no answer that have not expired, oldest first; and one line per request
        file that cannot be read (a tampered or damaged file is shown, never offered)."""
        now = now or datetime.now(timezone.utc)
        ok: list[Request] = []
        bad: list[str] = []
        for rid in self.request_ids():
            if self.answered(rid):
                continue
            try:
                request = self.load(rid)
            except (OSError, RequestError) as exc:
                bad.append(f"{self.request_path(rid).name}: refused: {exc}")
                continue
            if request.expires > now:
                ok.append(request)
        return sorted(ok, key=lambda r: r.data["created"]), bad
