"""Coreutils-level commands on a simulated node: the forms the runbooks and probes use.

A form outside those (an unknown option, a sed script other than `/re/d`) raises NotSimulated,
which the shell reports with exit status 127.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

from ..fs import FsError
from ..shell import Inv, NotSimulated, Shell


def _flags(argv: list[str], allowed: str, with_value: str = "") -> tuple[set[str], dict[str, list[str]], list[str]]:
    """Short options (combinable) and the operands; `--` ends options."""
    flags: set[str] = set()
    values: dict[str, list[str]] = {}
    rest: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            rest += argv[i + 1:]
            break
        if a.startswith("-") and len(a) > 1 and not rest:
            for j, ch in enumerate(a[1:]):
                if ch in with_value:
                    val = a[j + 2:] or (argv[i + 1] if i + 1 < len(argv) else "")
                    if not a[j + 2:]:
                        i += 1
                    values.setdefault(ch, []).append(val)
                    break
                if ch not in allowed:
                    raise NotSimulated(f"option -{ch} in {' '.join(argv)!r}")
                flags.add(ch)
        else:
            rest.append(a)
        i += 1
    return flags, values, rest


def true(inv: Inv) -> int:
    return 0


def false(inv: Inv) -> int:
    return 1


def echo(inv: Inv) -> int:
    args = inv.argv[1:]
    newline = True
    if args and args[0] == "-n":
        newline, args = False, args[1:]
    inv.out(" ".join(args) + ("\n" if newline else ""))
    return 0


def test(inv: Inv) -> int:
    args = inv.argv[1:]
    if inv.argv[0] == "[":
        if not args or args[-1] != "]":
            inv.err("[: missing `]'\n")
            return 2
        args = args[:-1]
    negate = False
    if args and args[0] == "!":
        negate, args = True, args[1:]
    fs = inv.node.fs
    if len(args) == 2 and args[0] in ("-e", "-f", "-d", "-s", "-x", "-r", "-w", "-n", "-z"):
        op, a = args
        e = fs.get(a) if a.startswith("/") else None
        result = {
            "-e": e is not None, "-f": e is not None and e.kind == "file", "-d": e is not None and e.kind == "dir",
            "-s": e is not None and e.kind == "file" and e.size > 0, "-x": e is not None and (e.kind == "dir" or bool(e.mode & 0o111)),
            "-r": e is not None, "-w": e is not None and (inv.user == "root" or e.owner == inv.user), "-n": a != "", "-z": a == "",
        }[op]
    elif len(args) == 3 and args[1] in ("=", "!=", "-eq", "-ne", "-lt", "-gt", "-le", "-ge"):
        a, op, b = args
        if op in ("=", "!="):
            result = (a == b) == (op == "=")
        else:
            try:
                x, y = int(a), int(b)
            except ValueError:
                inv.err(f"test: {a if not a.lstrip('-').isdigit() else b}: integer expression expected\n")
                return 2
            result = {"-eq": x == y, "-ne": x != y, "-lt": x < y, "-gt": x > y, "-le": x <= y, "-ge": x >= y}[op]
    elif len(args) == 1:
        result = args[0] != ""
    elif not args:
        result = False
    elif len(args) > 2 and args[0].startswith("-"):
        inv.err("test: too many arguments\n")
        return 2
    else:
        raise NotSimulated(f"test expression {' '.join(args)!r}")
    return 0 if result != negate else 1


def _bre(pattern: str) -> str:
    """GNU basic regular expression → Python: \\| \\( \\) \\+ \\? are operators, the bare ones literal."""
    out, i = "", 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            out += nxt if nxt in "|()+?{}" else "\\" + nxt
            i += 2
            continue
        out += "\\" + ch if ch in "|()+?{}" else ch
        i += 1
    return out


def grep(inv: Inv) -> int:
    flags, values, rest = _flags(inv.argv[1:], "qwvFEicolr", "e")
    patterns = values.get("e", [])
    if not patterns:
        if not rest:
            inv.err("Usage: grep [OPTION]... PATTERNS [FILE]...\n")
            return 2
        patterns, rest = [rest[0]], rest[1:]
    exprs = [re.escape(p) if "F" in flags else p if "E" in flags else _bre(p) for p in patterns]
    rx = "|".join(f"(?:{e})" for e in exprs)
    if "w" in flags:
        rx = rf"(?<![A-Za-z0-9_])(?:{rx})(?![A-Za-z0-9_])"
    regex = re.compile(rx, re.I if "i" in flags else 0)
    sources: list[tuple[str, str]] = []
    status_missing = False
    if "r" in flags:  # -r: a directory stands for every file below it (GNU grep(1))
        rest = [p for f in rest for p in ([e for e in inv.node.fs.walk(f) if not inv.node.fs.is_dir(e)] if inv.node.fs.is_dir(f) else [f])]
    for f in rest or ["-"]:
        if f == "-":
            sources.append(("(standard input)", inv.stdin))
            continue
        try:
            sources.append((f, inv.node.fs.text(f)))
        except FsError as exc:
            inv.err(f"grep: {exc}\n")
            status_missing = True
    found = 0
    for name, text in sources:
        count = 0
        for line in text.splitlines():
            if bool(regex.search(line)) != ("v" in flags):
                count += 1
                if "l" in flags:  # -l: the file's name once, not its lines
                    if count == 1 and "q" not in flags:
                        inv.out(name + "\n")
                    continue
                if "q" not in flags and "c" not in flags:
                    prefix = f"{name}:" if len(sources) > 1 else ""
                    if "o" in flags and "v" not in flags:  # -o: each matching part on its own line
                        inv.out("".join(prefix + m.group(0) + "\n" for m in regex.finditer(line) if m.group(0)))
                    else:
                        inv.out(prefix + line + "\n")
        if "c" in flags and "q" not in flags:
            inv.out((f"{name}:" if len(sources) > 1 else "") + f"{count}\n")
        found += count
    if found and "q" in flags:
        return 0
    return 2 if status_missing and not found else 0 if found else 1


def sed(inv: Inv) -> int:
    flags, values, rest = _flags(inv.argv[1:], "i", "e")
    script = values["e"][0] if "e" in values else (rest.pop(0) if rest else "")
    m = re.fullmatch(r"/(.*)/d", script)
    if m is None:
        raise NotSimulated(f"sed script {script!r} (only /regex/d is simulated)")
    regex = re.compile(_bre(m.group(1)))
    for path in rest:
        text = inv.node.fs.text(path)
        kept = "".join(line + "\n" for line in text.splitlines() if not regex.search(line))
        if "i" in flags:
            if inv.user != "root" and inv.node.fs.get(path).owner != inv.user:  # type: ignore[union-attr]
                inv.err(f"sed: couldn't open temporary file: Permission denied\n")
                return 4
            inv.node.fs.write(path, kept, mtime=inv.sim.clock.now())
        else:
            inv.out(kept)
    return 0


def cat(inv: Inv) -> int:
    status = 0
    for path in inv.argv[1:] or ["-"]:
        if path == "-":
            inv.out(inv.stdin)
            continue
        try:
            inv.out(inv.node.fs.text(path))
        except FsError as exc:
            inv.err(f"cat: {exc}\n")
            status = 1
    return status


def mkdir(inv: Inv) -> int:
    flags, _, rest = _flags(inv.argv[1:], "p")
    status = 0
    for path in rest:
        parent = path.rstrip("/").rsplit("/", 1)[0] or "/"
        pe = inv.node.fs.get(parent)
        if inv.user != "root" and pe is not None and pe.owner != inv.user:
            inv.err(f"mkdir: cannot create directory '{path}': Permission denied\n")
            status = 1
            continue
        try:
            inv.node.fs.mkdir(path, parents="p" in flags, owner=inv.user, group=inv.user)
        except FsError as exc:
            inv.err(f"mkdir: {exc}\n")
            status = 1
    return status


def chown(inv: Inv) -> int:
    flags, _, rest = _flags(inv.argv[1:], "R")
    if len(rest) < 2:
        inv.err("chown: missing operand\n")
        return 1
    spec, paths = rest[0], rest[1:]
    user, _, group = spec.partition(":")
    if user not in inv.node.users or (group and group not in inv.node.users):
        inv.err(f"chown: invalid {'user' if user not in inv.node.users else 'group'}: '{spec}'\n")
        return 1
    if inv.user != "root":
        inv.err(f"chown: changing ownership of '{paths[0]}': Operation not permitted\n")
        return 1
    status = 0
    for path in paths:
        if not inv.node.fs.exists(path):
            inv.err(f"chown: cannot access '{path}': No such file or directory\n")
            status = 1
            continue
        for p in (inv.node.fs.walk(path) if "R" in flags else [path]):
            e = inv.node.fs.get(p)
            assert e is not None
            e.owner = user
            e.group = group or e.group
    return status


def rmdir(inv: Inv) -> int:
    status = 0
    for path in inv.argv[1:]:
        e = inv.node.fs.get(path)
        if e is None or e.kind != "dir":
            inv.err(f"rmdir: failed to remove '{path}': {'No such file or directory' if e is None else 'Not a directory'}\n")
            status = 1
        elif inv.node.fs.children(path):
            inv.err(f"rmdir: failed to remove '{path}': Directory not empty\n")
            status = 1
        else:
            inv.node.fs.remove(path)
    return status


def rm(inv: Inv) -> int:
    flags, _, rest = _flags(inv.argv[1:], "frR")
    status = 0
    for path in rest:
        e = inv.node.fs.get(path) if path.startswith("/") else None
        if e is None:
            if "f" not in flags:
                inv.err(f"rm: cannot remove '{path}': No such file or directory\n")
                status = 1
            continue
        if e.kind == "dir" and not flags & {"r", "R"}:
            inv.err(f"rm: cannot remove '{path}': Is a directory\n")
            status = 1
            continue
        inv.node.fs.remove(path, recursive=True)
    return status


def wc(inv: Inv) -> int:
    flags, _, rest = _flags(inv.argv[1:], "l")
    if flags != {"l"}:
        raise NotSimulated("wc without -l")
    text = inv.node.fs.text(rest[0]) if rest else inv.stdin
    inv.out(f"{text.count(chr(10))}{(' ' + rest[0]) if rest else ''}\n")
    return 0


def awk(inv: Inv) -> int:
    _, values, rest = _flags(inv.argv[1:], "", "F")
    if not rest:
        raise NotSimulated("awk without a program")
    m = re.fullmatch(r"\s*\{\s*print\s+((?:\$\d+\s*,?\s*)+)\}\s*", rest[0])
    if m is None:
        raise NotSimulated(f"awk program {rest[0]!r} (only '{{print $N}}' is simulated)")
    cols = [int(x) for x in re.findall(r"\$(\d+)", m.group(1))]
    sep = values.get("F", [None])[0]
    text = "".join(inv.node.fs.text(p) for p in rest[1:]) if rest[1:] else inv.stdin
    for line in text.splitlines():
        fields = line.split(sep) if sep else line.split()
        inv.out(" ".join(line if c == 0 else (fields[c - 1] if c <= len(fields) else "") for c in cols) + "\n")
    return 0


def sleep(inv: Inv) -> int:
    try:
        inv.sim.clock.advance(float(inv.argv[1]))
    except (IndexError, ValueError):
        inv.err("sleep: invalid time interval\n")
        return 1
    return 0


def date(inv: Inv) -> int:
    now = inv.sim.clock.now() + inv.node.clock_skew_s
    args = inv.argv[1:]
    if not args:
        inv.out(datetime.fromtimestamp(now, timezone.utc).strftime("%a %b %d %H:%M:%S UTC %Y") + "\n")
        return 0
    if len(args) != 1 or not args[0].startswith("+"):
        raise NotSimulated(f"date {' '.join(args)}")
    fmt = args[0][1:].replace("%s", str(int(now))).replace("%N", f"{int(round((now % 1) * 1e9)):09d}")
    inv.out(datetime.fromtimestamp(now, timezone.utc).strftime(fmt) + "\n")
    return 0


def hostname(inv: Inv) -> int:
    args = inv.argv[1:]
    if not args:
        inv.out(inv.node.hostname + "\n")
        return 0
    if args[0].startswith("-"):
        raise NotSimulated(f"hostname {' '.join(args)}")
    if inv.user != "root":
        inv.err("hostname: you must be root to change the host name\n")
        return 1
    inv.node.hostname = args[0]
    inv.sim.note(f"{inv.node.name}: host name set to {args[0]}")
    return 0


def command(inv: Inv) -> int:
    from . import PATHS, lookup

    if len(inv.argv) != 3 or inv.argv[1] != "-v":
        raise NotSimulated(f"command {' '.join(inv.argv[1:])}")
    name = inv.argv[2]
    if lookup(inv.sh, name) is None:
        return 1
    inv.out((name if "/" in name else PATHS.get(name, f"/usr/bin/{name}")) + "\n")
    return 0


def _as_user(inv: Inv, user: str, cmd: str) -> int:
    if user not in inv.node.users:
        inv.err(f"su: user {user} does not exist\n")
        return 1
    if inv.user != "root" and user != inv.user:
        inv.err("su: Authentication failure\n")
        return 1
    status, out, err = Shell(inv.sim, inv.node, user).run(cmd, inv.stdin)
    inv.out(out)
    inv.err(err)
    return status


def su(inv: Inv) -> int:
    args = inv.argv[1:]
    if args and args[0] in ("-", "-l", "--login"):
        args = args[1:]
    if len(args) == 3 and args[1] == "-c":
        return _as_user(inv, args[0], args[2])
    raise NotSimulated(f"su {' '.join(inv.argv[1:])} (only su - USER -c COMMAND)")


def runuser(inv: Inv) -> int:
    args = inv.argv[1:]
    if len(args) == 4 and args[0] == "-l" and args[2] == "-c":
        if inv.user != "root":
            inv.err("runuser: may not be used by non-root users\n")
            return 1
        return _as_user(inv, args[1], args[3])
    raise NotSimulated(f"runuser {' '.join(args)} (only runuser -l USER -c COMMAND)")


def crontab(inv: Inv) -> int:
    args = inv.argv[1:]
    tabs = inv.node.crontabs
    if args == ["-l"]:
        if inv.user not in tabs:
            inv.err(f"no crontab for {inv.user}\n")
            return 1
        inv.out(tabs[inv.user])
        return 0
    if args == ["-r"]:
        tabs.pop(inv.user, None)
        return 0
    if args == ["-"]:
        text = inv.stdin
    elif len(args) == 1 and not args[0].startswith("-"):
        text = inv.node.fs.text(args[0])
    else:
        raise NotSimulated(f"crontab {' '.join(args)}")
    for line in text.splitlines():
        fields = line.split()
        if fields and not line.lstrip().startswith("#") and len(fields) < 6:
            inv.err(f'"-":1: bad command\nerrors in crontab file, can\'t install.\n')
            return 1
    tabs[inv.user] = text if text.endswith("\n") or not text else text + "\n"
    return 0


COMMANDS = {
    "true": true, "false": false, "echo": echo, "test": test, "[": test, "grep": grep, "sed": sed, "cat": cat, "mkdir": mkdir,
    "chown": chown, "rmdir": rmdir, "rm": rm, "wc": wc, "awk": awk, "sleep": sleep, "date": date, "hostname": hostname,
    "command": command, "su": su, "runuser": runuser, "crontab": crontab,
}
