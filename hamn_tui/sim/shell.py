"""The shell subset the runbooks and probes use, interpreted against the simulated nodes.

Supported: words with '…', "…" and \\ quoting, globs on the node's files, `;` and newlines,
`&&`, `||`, `|`, `!`, `{ …; }`, `if …; then …; [elif …; then …;] [else …;] fi`, redirections
`>`, `>>`, `<`, `N>`, `N>>`, `N>&M` (files on the node, /dev/null), `exit N`, comments.
Everything else (`$…`, backquotes, `( … )`, `&`, here-documents) is refused as not simulated,
with exit status 127, so a trainee sees at once that the simulator cannot answer it. The
lexer is our own rather than shlex: shlex cannot tell a quoted `'|'` (an argument, as in the
file-sync cron line) from a pipe.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Union

from .fs import FsError

if TYPE_CHECKING:
    from .cluster import SimCluster, SimNode


class NotSimulated(Exception):
    """A construct or command form the simulator does not model."""


class ShellExit(Exception):
    def __init__(self, code: int):
        self.code = code


# --- lexing ---------------------------------------------------------------------------------

@dataclass
class Word:
    parts: list[tuple[str, bool]] = field(default_factory=list)
    """(text, quoted) pieces; quoted text is never a glob or a reserved word."""

    @property
    def text(self) -> str:
        return "".join(t for t, _ in self.parts)

    @property
    def plain(self) -> str | None:
        """The text when nothing in it was quoted (reserved words must be unquoted)."""
        return self.text if all(not q for _, q in self.parts) else None

    def pattern(self) -> str | None:
        """A glob pattern when an unquoted part has * ? or [, with the quoted parts made literal."""
        if not any(not q and any(ch in t for ch in "*?[") for t, q in self.parts):
            return None
        out = []
        for t, q in self.parts:
            out.append("".join(f"[{ch}]" if ch in "*?[" else ch for ch in t) if q else t)
        return "".join(out)


Token = tuple[str, Union[str, Word]]
_OPS = "|&;<>()"


def lex(text: str) -> list[Token]:
    text = text.replace("\\\n", "")  # line continuation
    toks: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r":
            i += 1
            continue
        if ch == "\n":
            toks.append(("nl", "\n"))
            i += 1
            continue
        if ch == "#":
            while i < n and text[i] != "\n":
                i += 1
            continue
        if ch.isdigit() and i + 1 < n and text[i + 1] in "<>" and (i == 0 or text[i - 1] in " \t\n;|&"):
            op, i = _redirection(text, i + 1, ch)
            toks.append(("op", op))
            continue
        if ch in "<>":
            op, i = _redirection(text, i, "1" if ch == ">" else "0")
            toks.append(("op", op))
            continue
        if ch in "|&;":
            two = text[i: i + 2]
            if two in ("&&", "||"):
                toks.append(("op", two))
                i += 2
                continue
            if ch == "&":
                raise NotSimulated("a background job (&)")
            if two == ";;":
                raise NotSimulated("case … esac")
            toks.append(("op", ch))
            i += 1
            continue
        if ch in "()":
            raise NotSimulated("a subshell ( … )")
        word, i = _word(text, i)
        toks.append(("word", word))
    return toks


def _redirection(text: str, i: int, fd: str) -> tuple[str, int]:
    if text.startswith("<<", i):
        raise NotSimulated("a here-document (<<)")
    if text.startswith(">>", i):
        return f"{fd}>>", i + 2
    if text.startswith(">&", i):
        j = i + 2
        if j < len(text) and text[j].isdigit():
            return f"{fd}>&{text[j]}", j + 1
        raise NotSimulated("redirection >& without a descriptor number")
    if text[i] == ">":
        if text.startswith(">|", i):
            return f"{fd}>", i + 2
        return f"{fd}>", i + 1
    return f"{fd}<", i + 1


def _word(text: str, i: int) -> tuple[Word, int]:
    w = Word()
    n = len(text)
    buf = ""

    def flush(quoted: bool = False) -> None:
        nonlocal buf
        if buf:
            w.parts.append((buf, quoted))
            buf = ""

    while i < n and text[i] not in " \t\r\n" and text[i] not in _OPS:
        ch = text[i]
        if ch == "'":
            flush()
            j = text.find("'", i + 1)
            if j < 0:
                raise NotSimulated("an unterminated ' quote")
            w.parts.append((text[i + 1: j], True))
            i = j + 1
        elif ch == '"':
            flush()
            i += 1
            q = ""
            while i < n and text[i] != '"':
                c = text[i]
                if c in "$`":
                    raise NotSimulated(f"{c} expansion inside double quotes")
                if c == "\\" and i + 1 < n and text[i + 1] in '"\\$`':
                    q += text[i + 1]
                    i += 2
                    continue
                q += c
                i += 1
            if i >= n:
                raise NotSimulated('an unterminated " quote')
            w.parts.append((q, True))
            i += 1
        elif ch == "\\":
            flush()
            if i + 1 < n:
                w.parts.append((text[i + 1], True))
            i += 2
        elif ch in "$`":
            raise NotSimulated(f"{'$' if ch == '$' else 'backquote'} expansion ({text[i: i + 12]!r}…)")
        else:
            buf += ch
            i += 1
    flush()
    if not w.parts:
        w.parts.append(("", True))
    return w, i


# --- parsing --------------------------------------------------------------------------------

@dataclass
class Redir:
    fd: int
    op: str  # ">", ">>", "<", ">&"
    target: Word | int


@dataclass
class Simple:
    words: list[Word]
    redirs: list[Redir]


@dataclass
class Group:
    body: "Seq"
    redirs: list[Redir]


@dataclass
class If:
    clauses: list[tuple["Seq", "Seq"]]
    otherwise: "Seq | None"
    redirs: list[Redir]


Command = Union[Simple, Group, If]


@dataclass
class Pipeline:
    cmds: list[Command]
    negate: bool = False


@dataclass
class AndOr:
    first: Pipeline
    rest: list[tuple[str, Pipeline]]


@dataclass
class Seq:
    items: list[AndOr]


class _Parser:
    def __init__(self, toks: list[Token]):
        self.toks = toks
        self.i = 0

    def peek(self) -> Token | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def reserved(self) -> str | None:
        t = self.peek()
        if t is None or t[0] != "word":
            return None
        w = t[1]
        assert isinstance(w, Word)
        return w.plain if w.plain in ("{", "}", "if", "then", "elif", "else", "fi", "!", "while", "until", "for", "case", "do", "done") else None

    def seq(self, stop: tuple[str, ...] = ()) -> Seq:
        items: list[AndOr] = []
        while True:
            while (t := self.peek()) is not None and (t[0] == "nl" or t == ("op", ";")):
                self.i += 1
            if self.peek() is None or (self.reserved() in stop and stop):
                return Seq(items)
            items.append(self.and_or())
            t = self.peek()
            if t is None or t[0] == "nl" or t == ("op", ";"):
                continue
            if self.reserved() in stop and stop:
                return Seq(items)
            raise NotSimulated(f"unexpected {t[1] if isinstance(t[1], str) else t[1].text!r}")

    def and_or(self) -> AndOr:
        first = self.pipeline()
        rest: list[tuple[str, Pipeline]] = []
        while (t := self.peek()) is not None and t[0] == "op" and t[1] in ("&&", "||"):
            self.i += 1
            while (t2 := self.peek()) is not None and t2[0] == "nl":
                self.i += 1
            rest.append((str(t[1]), self.pipeline()))
        return AndOr(first, rest)

    def pipeline(self) -> Pipeline:
        negate = False
        if self.reserved() == "!":
            self.i += 1
            negate = True
        cmds = [self.command()]
        while self.peek() == ("op", "|"):
            self.i += 1
            while (t := self.peek()) is not None and t[0] == "nl":
                self.i += 1
            cmds.append(self.command())
        return Pipeline(cmds, negate)

    def expect(self, word: str) -> None:
        if self.reserved() != word:
            t = self.peek()
            raise NotSimulated(f"expected {word!r}, found {'the end' if t is None else (t[1] if isinstance(t[1], str) else t[1].text)!r}")
        self.i += 1

    def command(self) -> Command:
        r = self.reserved()
        if r == "{":
            self.i += 1
            body = self.seq(("}",))
            self.expect("}")
            return Group(body, self.redirs())
        if r == "if":
            self.i += 1
            clauses = []
            cond = self.seq(("then",))
            self.expect("then")
            clauses.append((cond, self.seq(("elif", "else", "fi"))))
            otherwise = None
            while self.reserved() == "elif":
                self.i += 1
                cond = self.seq(("then",))
                self.expect("then")
                clauses.append((cond, self.seq(("elif", "else", "fi"))))
            if self.reserved() == "else":
                self.i += 1
                otherwise = self.seq(("fi",))
            self.expect("fi")
            return If(clauses, otherwise, self.redirs())
        if r in ("while", "until", "for", "case", "do", "done"):
            raise NotSimulated(f"the shell construct {r!r}")
        if r in ("}", "then", "elif", "else", "fi"):
            raise NotSimulated(f"unexpected {r!r}")
        words: list[Word] = []
        redirs: list[Redir] = []
        while (t := self.peek()) is not None:
            if t[0] == "word":
                assert isinstance(t[1], Word)
                if not words and t[1].plain is not None and "=" in t[1].plain and not t[1].plain.startswith("="):
                    raise NotSimulated(f"a variable assignment ({t[1].text})")
                words.append(t[1])
                self.i += 1
            elif t[0] == "op" and _is_redir(str(t[1])):
                redirs.append(self.redir())
            else:
                break
        if not words and not redirs:
            t = self.peek()
            raise NotSimulated(f"a missing command before {'the end' if t is None else t[1]!r}")
        return Simple(words, redirs)

    def redirs(self) -> list[Redir]:
        out = []
        while (t := self.peek()) is not None and t[0] == "op" and _is_redir(str(t[1])):
            out.append(self.redir())
        return out

    def redir(self) -> Redir:
        op = str(self.toks[self.i][1])
        self.i += 1
        fd = int(op[0])
        body = op[1:]
        if body.startswith(">&"):
            return Redir(fd, ">&", int(body[2:]))
        t = self.peek()
        if t is None or t[0] != "word":
            raise NotSimulated(f"a redirection {op} without a target")
        self.i += 1
        assert isinstance(t[1], Word)
        return Redir(fd, body, t[1])


def _is_redir(op: str) -> bool:
    return len(op) >= 2 and op[0].isdigit() and op[1] in "<>"


def parse(text: str) -> Seq:
    p = _Parser(lex(text))
    seq = p.seq()
    if p.peek() is not None:
        t = p.peek()
        raise NotSimulated(f"unexpected {t[1] if isinstance(t[1], str) else t[1].text!r}")  # type: ignore[index]
    return seq


# --- running ----------------------------------------------------------------------------------

class _FileSink(list):
    def __init__(self, path: str, append: bool):
        super().__init__()
        self.path, self.append_mode = path, append


class _Null(list):
    def append(self, item: str) -> None:  # type: ignore[override]
        pass


@dataclass
class Inv:
    """One command invocation: what a handler gets."""

    sh: "Shell"
    node: "SimNode"
    user: str
    argv: list[str]
    stdin: str
    _out: list[str]
    _err: list[str]

    @property
    def sim(self) -> "SimCluster":
        return self.sh.sim

    def out(self, text: str) -> None:
        self._out.append(text)

    def err(self, text: str) -> None:
        self._err.append(text)


Handler = Callable[[Inv], int]


class Shell:
    """One login session on one node as one user (a DB2 CLP connection lives as long as it)."""

    def __init__(self, sim: "SimCluster", node: "SimNode", user: str):
        self.sim = sim
        self.node = node
        self.user = user
        self.session: dict[str, object] = {}

    def run(self, text: str, stdin: str = "") -> tuple[int, str, str]:
        out: list[str] = []
        err: list[str] = []
        try:
            seq = parse(text)
        except NotSimulated as exc:
            return 127, "", f"hamn training: not simulated: {exc}\n"
        try:
            status = self._seq(seq, stdin, {1: out, 2: err})
        except ShellExit as exc:
            status = exc.code
        return status, "".join(out), "".join(err)

    def _seq(self, seq: Seq, stdin: str, fds: dict[int, list[str]]) -> int:
        status = 0
        for item in seq.items:
            status = self._and_or(item, stdin, fds)
        return status

    def _and_or(self, ao: AndOr, stdin: str, fds: dict[int, list[str]]) -> int:
        status = self._pipeline(ao.first, stdin, fds)
        for op, pl in ao.rest:
            if (op == "&&" and status == 0) or (op == "||" and status != 0):
                status = self._pipeline(pl, stdin, fds)
        return status

    def _pipeline(self, pl: Pipeline, stdin: str, fds: dict[int, list[str]]) -> int:
        data = stdin
        status = 0
        for i, cmd in enumerate(pl.cmds):
            last = i == len(pl.cmds) - 1
            out = fds[1] if last else []
            status = self._command(cmd, data, {1: out, 2: fds[2]})
            if not last:
                data = "".join(out)
        return (0 if status else 1) if pl.negate else status

    def _command(self, cmd: Command, stdin: str, fds: dict[int, list[str]]) -> int:
        try:
            fds, stdin, sinks = self._redirect(cmd.redirs, stdin, fds)
        except (FsError, NotSimulated) as exc:
            fds[2].append(f"bash: {exc}\n")
            return 1
        try:
            if isinstance(cmd, Group):
                return self._seq(cmd.body, stdin, fds)
            if isinstance(cmd, If):
                for cond, body in cmd.clauses:
                    if self._seq(cond, stdin, fds) == 0:
                        return self._seq(body, stdin, fds)
                return self._seq(cmd.otherwise, stdin, fds) if cmd.otherwise else 0
            return self._simple(cmd, stdin, fds)
        finally:
            for sink in sinks:
                self._flush(sink, fds[2])

    def _redirect(self, redirs: list[Redir], stdin: str, fds: dict[int, list[str]]):
        fds = dict(fds)
        sinks: list[_FileSink] = []
        for r in redirs:
            if r.op == ">&":
                fds[r.fd] = fds.get(int(r.target), fds[1])  # type: ignore[arg-type]
                continue
            path = self.expand(r.target)[0] if isinstance(r.target, Word) else str(r.target)
            if r.op == "<":
                stdin = "" if path == "/dev/null" else self.node.fs.text(path) if self.node.fs.exists(path) else _missing(path)
                continue
            if r.fd not in (1, 2):
                raise NotSimulated(f"redirecting descriptor {r.fd}")
            if path == "/dev/null":
                fds[r.fd] = _Null()
                continue
            sink = _FileSink(path, r.op == ">>")
            sinks.append(sink)
            fds[r.fd] = sink
        return fds, stdin, sinks

    def _flush(self, sink: _FileSink, err: list[str]) -> None:
        fs = self.node.fs
        entry = fs.get(sink.path)
        parent = fs.get(sink.path.rsplit("/", 1)[0] or "/")
        owner_ok = self.user == "root" or (entry.owner if entry else parent.owner if parent else "") == self.user
        if not owner_ok:
            err.append(f"bash: {sink.path}: Permission denied\n")
            return
        try:
            fs.write(sink.path, "".join(sink), append=sink.append_mode, owner=self.user, mtime=self.sim.clock.now())
        except FsError as exc:
            err.append(f"bash: {exc}\n")

    def expand(self, word: Word) -> list[str]:
        pat = word.pattern()
        if pat is not None:
            hits = self.node.fs.glob(pat)
            if hits:
                return hits
        return [word.text]

    def _simple(self, cmd: Simple, stdin: str, fds: dict[int, list[str]]) -> int:
        argv = [a for w in cmd.words for a in self.expand(w)]
        if not argv:
            return 0
        name = argv[0]
        if name == "exit":
            raise ShellExit(int(argv[1]) if len(argv) > 1 and argv[1].isdigit() else 0)
        from .commands import lookup

        handler = lookup(self, name)
        if handler is None:
            fds[2].append(f"bash: {name}: command not found\n")
            return 127
        inv = Inv(self, self.node, self.user, argv, stdin, fds[1], fds[2])
        try:
            return handler(inv)
        except NotSimulated as exc:
            fds[2].append(f"hamn training: not simulated: {exc}\n")
            return 127
        except FsError as exc:
            fds[2].append(f"{name}: {exc}\n")
            return 1


def _missing(path: str) -> str:
    raise FsError(f"{path}: No such file or directory")
