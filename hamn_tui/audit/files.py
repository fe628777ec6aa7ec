"""A run's files, read and made safely.

Reading: a segment, a `.sig` or an output replaced by a symlink to /dev/urandom would be read
forever (memory without bound, deaf to Ctrl-C), and a FIFO blocks the `open()` itself. So a file
of a log is opened with `O_NOFOLLOW | O_NONBLOCK` (a FIFO opens at once), refused unless
`fstat` says it is a regular file, and read in chunks (interruptible), never past what it may
hold: its size when opened, at most a cap the log itself gives (the size a `command_finished`
records for an output, the size the next segment names for a segment; a signature is small).

Making: a run's directories are 0700 and its files 0600 whatever the umask (an audit log says
who did what to which database; the outputs hold what the commands printed).
"""
from __future__ import annotations

import errno
import gzip
import os
import stat
import zlib
from pathlib import Path
from typing import Iterator

CHUNK = 1 << 20
MAX_SEGMENT = 1 << 30
"""A segment larger than this is refused (records are small, outputs live beside the log: a
million records is a few hundred MiB)."""
MAX_SIG = 16 * 1024
"""A detached SSHSIG is a few hundred bytes (RSA 16384: under 3 KiB)."""
MAX_OUTPUT = 256 << 20
"""What a reader that does not know an output's recorded size reads of it at most."""

_KINDS = {stat.S_IFLNK: "a symbolic link", stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device",
          stat.S_IFBLK: "a block device", stat.S_IFDIR: "a directory", stat.S_IFSOCK: "a socket"}


class UnsafeFile(OSError):
    """A file of the log that is not a regular file, or holds more than it may: one line, its name first."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unsafe file"


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def open_regular(path: Path) -> tuple[int, os.stat_result]:
    """An fd on `path` for reading, and its stat: only if it is a regular file, not through a
    symlink, and without waiting on a FIFO. Raises UnsafeFile, or OSError (missing, denied)."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR, errno.EMLINK):
            try:
                kind = _kind(os.lstat(path).st_mode)
            except OSError:
                raise exc from None
            raise UnsafeFile(f"{path.name} is not a regular file ({kind})") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFile(f"{path.name} is not a regular file ({_kind(st.st_mode)})")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def read_regular(path: Path, limit: int, what: str = "") -> bytes:
    """The whole of a regular file of at most `limit` bytes (UnsafeFile if larger: `what` says
    where the limit comes from). Only the bytes there when it was opened are read."""
    fd, st = open_regular(path)
    try:
        if st.st_size > limit:
            raise UnsafeFile(f"{Path(path).name} holds {st.st_size} bytes, more than {what or f'the {limit} it may'}")
        out = bytearray()
        while len(out) < st.st_size:
            chunk = os.read(fd, min(CHUNK, st.st_size - len(out)))
            if not chunk:
                break
            out += chunk
        return bytes(out)
    finally:
        os.close(fd)


def gzip_bound(size: int) -> int:
    """The most a gzip file of `size` bytes of content can take (zlib's compressBound, a gzip
    header and trailer), with room for another compressor's header."""
    return size + (size >> 12) + (size >> 14) + (size >> 25) + 13 + 18 + 1024


def gunzip_regular(path: Path, size: int | None, limit: int | None = None) -> Iterator[bytes]:
    """The content of a gzip output file, in chunks, read no further than the log allows: `size`
    is what it records (a file larger than that content could compress to is refused), `limit`
    how much content to read at most (default `size`; MAX_OUTPUT when the size is not known).
    UnsafeFile when it holds more; OSError, EOFError or zlib.error when it is damaged."""
    name = Path(path).name
    most = limit if limit is not None else MAX_OUTPUT if size is None else size
    fd, st = open_regular(path)
    with os.fdopen(fd, "rb") as raw:
        if size is not None and st.st_size > gzip_bound(size):
            raise UnsafeFile(f"{name} holds {st.st_size} compressed bytes, more than {size} bytes could compress to")
        n = 0
        with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
            while chunk := gz.read(min(CHUNK, most + 1 - n)):
                n += len(chunk)
                if n > most:
                    raise UnsafeFile(f"{name} holds more than the {size if size is not None else most} bytes "
                                     + ("the log records" if size is not None else "a reader reads"))
                yield chunk


def read_gzip(path: Path, size: int | None = None) -> bytes:
    """A whole output (see `gunzip_regular`); damage is an OSError."""
    try:
        return b"".join(gunzip_regular(path, size))
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise UnsafeFile(f"{Path(path).name} is damaged ({exc})") from None


def private_dir(path: Path) -> None:
    """Make `path` (and any missing parent) a directory only its owner may enter: 0700 whatever
    the umask. An existing directory of ours (the run's, on a resume) is set to 0700 too; a
    parent that existed is left as it is."""
    path = Path(path)
    missing: list[Path] = []
    p = path
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            pass
    for d in missing or [path]:
        st = os.stat(d)
        if st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) != 0o700:
            os.chmod(d, 0o700)


def private_file(path: Path, flags: int) -> int:
    """Open (create) a file of the run for writing: never through a symlink, 0600 whatever the umask."""
    fd = os.open(path, flags | os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_synced(fd: int, data: bytes) -> None:
    """All of `data` to `fd` (a short write is continued, never dropped), then fsync."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.fsync(fd)
