"""Comparing files across nodes and their file systems: `find`, `sort`, `sha256sum`, `df`, and SELinux's
`selinuxenabled` and `restorecon` — the forms the preflight and file-sync runbooks use.

A file's checksum is computed over its simulated content (text, or the object a backup image
holds, by its repr). `df` reports one root file system of fixed size per node. SELinux is
enabled when /etc/selinux/config says enforcing or permissive; restorecon relabels nothing
the simulator can show, it only records that it ran.
"""
from __future__ import annotations

import hashlib

from ..shell import Inv, NotSimulated

DF_TOTAL_MB = 102400
DF_USED_MB = 40960


def _digest(content: object) -> str:
    data = content if isinstance(content, str) else repr(content)
    return hashlib.sha256(data.encode()).hexdigest()


def sha256sum(inv: Inv) -> int:
    paths = inv.argv[1:]
    if any(p.startswith("-") and p != "-" for p in paths):
        raise NotSimulated(f"sha256sum {' '.join(paths)} (no options)")
    if not paths:
        inv.out(f"{_digest(inv.stdin)}  -\n")
        return 0
    status = 0
    for p in paths:
        e = inv.node.fs.get(p) if p.startswith("/") else None
        if e is None:
            inv.err(f"sha256sum: {p}: No such file or directory\n")
            status = 1
        elif e.kind == "dir":
            inv.err(f"sha256sum: {p}: Is a directory\n")
            status = 1
        else:
            inv.out(f"{_digest(e.content)}  {p}\n")
    return status


def sort(inv: Inv) -> int:
    if inv.argv[1:]:
        raise NotSimulated(f"sort {' '.join(inv.argv[1:])} (only sort of standard input)")
    inv.out("".join(line + "\n" for line in sorted(inv.stdin.splitlines())))
    return 0


def _printf(fmt: str, path: str, entry) -> str:
    out, i = "", 0
    while i < len(fmt):
        two = fmt[i:i + 2]
        if fmt[i:i + 3] == "%T@":
            out += f"{entry.mtime:.10f}"
            i += 3
        elif two == "%p":
            out, i = out + path, i + 2
        elif two == "%s":
            out, i = out + str(entry.size), i + 2
        elif two == "\\n":
            out, i = out + "\n", i + 2
        elif fmt[i] in "%\\":
            raise NotSimulated(f"find -printf directive {fmt[i:i + 3]!r} (only %p %s %T@ \\n)")
        else:
            out, i = out + fmt[i], i + 1
    return out


def find(inv: Inv) -> int:
    """`find PATH… -type f` with `-printf FORMAT` or `-exec COMMAND {} +`."""
    from . import lookup

    args = inv.argv[1:]
    if "-type" not in args or args[args.index("-type") + 1: args.index("-type") + 2] != ["f"]:
        raise NotSimulated(f"find {' '.join(args)} (only: find PATH… -type f -printf FORMAT | -exec COMMAND {{}} +)")
    roots = args[:args.index("-type")]
    action = args[args.index("-type") + 2:]
    fs = inv.node.fs
    status = 0
    files: list[str] = []
    for root in roots:
        if not fs.exists(root):
            inv.err(f"find: '{root}': No such file or directory\n")
            status = 1
            continue
        files += [p for p in fs.walk(root) if fs.get(p).kind == "file"]  # type: ignore[union-attr]
    if len(action) == 2 and action[0] == "-printf":
        inv.out("".join(_printf(action[1], p, fs.get(p)) for p in files))
        return status
    if len(action) >= 3 and action[0] == "-exec" and action[-2:] == ["{}", "+"]:
        handler = lookup(inv.sh, action[1])
        if handler is None:
            inv.err(f"find: '{action[1]}': No such file or directory\n")
            return 1
        if files:
            rc = handler(Inv(inv.sh, inv.node, inv.user, action[1:-2] + files, "", inv._out, inv._err))
            status = status or (1 if rc else 0)
        return status
    raise NotSimulated(f"find {' '.join(args)} (only -printf FORMAT or -exec COMMAND {{}} +)")


def df(inv: Inv) -> int:
    args = inv.argv[1:]
    end = args.index("--") if "--" in args else None
    opts = args[:end] if end is not None else [a for a in args if a.startswith("-")]
    paths = args[end + 1:] if end is not None else [a for a in args if not a.startswith("-")]
    if sorted(opts) not in (["-Pm"], ["-P", "-m"], ["-m", "-P"]):
        raise NotSimulated(f"df {' '.join(args)} (only df -Pm PATH…)")
    inv.out("Filesystem     1048576-blocks  Used Available Capacity Mounted on\n")
    status = 0
    free = DF_TOTAL_MB - DF_USED_MB
    for p in paths:
        if not inv.node.fs.exists(p):
            inv.err(f"df: {p}: No such file or directory\n")
            status = 1
            continue
        inv.out(f"/dev/mapper/root {DF_TOTAL_MB:>14} {DF_USED_MB:>5} {free:>9} {100 * DF_USED_MB // DF_TOTAL_MB:>7}% /\n")
    return status


def _selinux_on(inv: Inv) -> bool:
    fs = inv.node.fs
    text = fs.text("/etc/selinux/config") if fs.exists("/etc/selinux/config") else ""
    return any(line.strip() in ("SELINUX=enforcing", "SELINUX=permissive") for line in text.splitlines())


def selinuxenabled(inv: Inv) -> int:
    """Exit 0 when SELinux is enabled, 1 when it is not (selinuxenabled(8)); no output."""
    return 0 if _selinux_on(inv) else 1


def restorecon(inv: Inv) -> int:
    args = inv.argv[1:]
    flags = [a for a in args if a.startswith("-")]
    paths = [a for a in args if not a.startswith("-")]
    if any(f not in ("-R", "-r", "-F") for f in flags) or not paths:
        raise NotSimulated(f"restorecon {' '.join(args)} (only restorecon [-R] [-F] PATH…)")
    if inv.user != "root":
        inv.err("restorecon: Permission denied\n")
        return 255
    if not _selinux_on(inv):
        return 0  # SELinux disabled: restorecon has nothing to do
    for p in paths:
        if not inv.node.fs.exists(p):
            inv.err(f"restorecon: lstat({p}) failed: No such file or directory\n")
            return 255
    inv.sim.note(f"{inv.node.name}: restorecon {' '.join(args)}")
    return 0
