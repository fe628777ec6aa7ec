"""A node's file system, as far as the runbooks touch it: paths, owners, modes and contents.

A file's content is text, or an object (a DB2 backup image) that copies with the file.
"""
from __future__ import annotations

import fnmatch
import posixpath
from dataclasses import dataclass, field
from typing import Any, Iterator


@dataclass
class Entry:
    kind: str  # "file" | "dir"
    owner: str = "root"
    group: str = "root"
    mode: int = 0o644
    content: Any = ""
    mtime: float = 0.0

    @property
    def size(self) -> int:
        if self.kind == "dir":
            return 4096
        size = getattr(self.content, "size", None)
        return int(size) if size is not None else len(str(self.content).encode())

    def copy(self) -> "Entry":
        return Entry(self.kind, self.owner, self.group, self.mode, self.content, self.mtime)


class FsError(Exception):
    """errno-style failure; the message is what the coreutils command would print after its name."""


def norm(path: str) -> str:
    if not path.startswith("/"):
        raise FsError(f"{path}: relative paths are not simulated (use an absolute path)")
    return posixpath.normpath(path) if path != "/" else "/"


@dataclass
class SimFs:
    entries: dict[str, Entry] = field(default_factory=lambda: {"/": Entry("dir", mode=0o755)})

    def get(self, path: str) -> Entry | None:
        return self.entries.get(norm(path))

    def exists(self, path: str) -> bool:
        return norm(path) in self.entries

    def is_dir(self, path: str) -> bool:
        e = self.get(path)
        return e is not None and e.kind == "dir"

    def mkdir(self, path: str, *, parents: bool = False, owner: str = "root", group: str = "root", mode: int = 0o755) -> None:
        p = norm(path)
        if p in self.entries:
            if self.entries[p].kind == "dir" and parents:
                return
            raise FsError(f"cannot create directory '{path}': File exists")
        parent = posixpath.dirname(p)
        if parent not in self.entries:
            if not parents:
                raise FsError(f"cannot create directory '{path}': No such file or directory")
            self.mkdir(parent, parents=True)
        elif self.entries[parent].kind != "dir":
            raise FsError(f"cannot create directory '{path}': Not a directory")
        self.entries[p] = Entry("dir", owner, group, mode)

    def write(self, path: str, content: Any, *, append: bool = False, owner: str = "root", group: str = "root",
              mode: int = 0o644, mtime: float = 0.0) -> None:
        p = norm(path)
        parent = posixpath.dirname(p)
        if parent not in self.entries or self.entries[parent].kind != "dir":
            raise FsError(f"{path}: No such file or directory")
        old = self.entries.get(p)
        if old is not None and old.kind == "dir":
            raise FsError(f"{path}: Is a directory")
        if old is not None:
            old.content = (str(old.content) + str(content)) if append else content
            old.mtime = mtime
            return
        self.entries[p] = Entry("file", owner, group, mode, content, mtime)

    def read(self, path: str) -> Any:
        e = self.get(path)
        if e is None:
            raise FsError(f"{path}: No such file or directory")
        if e.kind == "dir":
            raise FsError(f"{path}: Is a directory")
        return e.content

    def text(self, path: str) -> str:
        content = self.read(path)
        return content if isinstance(content, str) else ""

    def children(self, path: str) -> list[str]:
        p = norm(path)
        prefix = p.rstrip("/") + "/"
        return sorted(k for k in self.entries if k != p and k.startswith(prefix) and "/" not in k[len(prefix):])

    def walk(self, path: str) -> Iterator[str]:
        """The path and everything below it, parents first."""
        p = norm(path)
        if p not in self.entries:
            return
        prefix = p.rstrip("/") + "/"
        yield p
        for k in sorted(self.entries):
            if k.startswith(prefix):
                yield k

    def remove(self, path: str, *, recursive: bool = False) -> None:
        p = norm(path)
        e = self.entries.get(p)
        if e is None:
            raise FsError(f"cannot remove '{path}': No such file or directory")
        if e.kind == "dir":
            if self.children(p) and not recursive:
                raise FsError(f"failed to remove '{path}': Directory not empty")
            for k in list(self.walk(p)):
                del self.entries[k]
            return
        del self.entries[p]

    def glob(self, pattern: str) -> list[str]:
        """Shell globbing, one path component at a time; hidden files match only an explicit dot."""
        if not pattern.startswith("/"):
            return []
        matches = ["/"]
        for part in [x for x in pattern.split("/") if x]:
            nxt: list[str] = []
            for base in matches:
                if not any(ch in part for ch in "*?["):
                    cand = posixpath.join(base, part)
                    if cand in self.entries:
                        nxt.append(cand)
                    continue
                for child in self.children(base):
                    name = posixpath.basename(child)
                    if name.startswith(".") and not part.startswith("."):
                        continue
                    if fnmatch.fnmatchcase(name, part):
                        nxt.append(child)
            matches = nxt
        return sorted(matches) if matches != ["/"] else []
