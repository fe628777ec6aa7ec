"""An OpenSSH allowed_signers file (ssh-keygen(1), ALLOWED SIGNERS), as the auditor keeps it.

`principals [options] keytype base64 [comment]`; options `namespaces="…"`, `valid-after="…"`,
`valid-before="…"` are honoured, and checked at the time the log says it signed (ssh-keygen's
`-O verify-time=`). `cert-authority` lines are ignored: hamn signs with plain keys.

Options are parsed as OpenSSH parses them (sshsig.c `sshsigopt_parse`): names in any case, each
value in double quotes, `cert-authority` a bare flag, nothing else. A line OpenSSH refuses (an
option it does not know, such as `namespace="…"` or `bogus`, a value without quotes, a clause
twice, a bad time, a bad key) grants nothing, as in `ssh-keygen -Y verify`, and a signer it would
have named is told why, by file and line: a typo must never widen what a key may sign.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .sshsig import SigError, parse_public_line


KNOWN = 'cert-authority, namespaces="…", valid-after="…", valid-before="…"'
VALUED = ("namespaces", "valid-after", "valid-before")


@dataclass(frozen=True)
class Entry:
    principals: str
    key: bytes
    namespaces: str | None
    valid_after: datetime | None
    valid_before: datetime | None
    cert_authority: bool
    line: int
    error: str = ""
    """Why OpenSSH refuses this line ('' if it does not): such a line grants nothing."""


def _patterns_match(patterns: str, value: str) -> bool:
    """OpenSSH match_pattern_list: any negated match refuses, else any positive match accepts."""
    matched = False
    for pat in patterns.split(","):
        neg = pat.startswith("!")
        pat = pat[1:] if neg else pat
        rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pat)
        if re.fullmatch(rx, value, re.S):
            if neg:
                return False
            matched = True
    return matched


def _time(value: str) -> datetime:
    utc = value.endswith(("Z", "z"))
    v = value[:-1] if utc else value
    for fmt in ("%Y%m%d%H%M%S", "%Y%m%d%H%M", "%Y%m%d"):
        if len(v) == len(datetime(2000, 1, 1).strftime(fmt)):
            try:
                t = datetime.strptime(v, fmt)
            except ValueError:
                break
            return t.replace(tzinfo=timezone.utc) if utc else t.astimezone()
    raise ValueError(f"bad time {value!r}")


def _split_options(text: str) -> tuple[str, str]:
    """The options token (up to whitespace outside quotes, `\\"` inside them) and the rest."""
    quoted = False
    i = 0
    while i < len(text):
        c = text[i]
        if quoted and c == "\\" and text[i + 1:i + 2] == '"':
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        elif c.isspace() and not quoted:
            return text[:i], text[i:].strip()
        i += 1
    return text, ""


def _dequote(token: str, i: int, name: str) -> tuple[str, int]:
    """OpenSSH's opt_dequote: a value in double quotes (`\\"` is a quote) from token[i]; (value, index after it)."""
    if token[i:i + 1] != '"':
        raise ValueError(f"{name}: the value must be in double quotes")
    out: list[str] = []
    i += 1
    while i < len(token) and token[i] != '"':
        if token[i] == "\\" and token[i + 1:i + 2] == '"':
            i += 1
        out.append(token[i])
        i += 1
    if i >= len(token):
        raise ValueError(f"{name}: no closing quote")
    return "".join(out), i + 1


def _options(token: str) -> dict[str, str]:
    """The options of a line, as OpenSSH's sshsigopt_parse reads them; ValueError for what it refuses."""
    out: dict[str, str] = {}
    i = 0
    while i < len(token):
        rest = token[i:].lower()
        if rest.startswith("cert-authority"):
            out["cert-authority"] = ""
            i += len("cert-authority")
        else:
            name = next((n for n in VALUED if rest.startswith(n + "=")), None)
            if name is None:
                unknown = token[i:].split(",")[0].split("=")[0]
                raise ValueError(f'unknown option "{unknown}" (OpenSSH knows {KNOWN})')
            if name in out:
                raise ValueError(f"{name} given more than once")
            out[name], i = _dequote(token, i + len(name) + 1, name)
        if i >= len(token):
            break
        if token[i] != ",":
            raise ValueError(f"unknown option text {token[i:]!r} after an option (OpenSSH knows {KNOWN})")
        i += 1
        if i >= len(token):
            raise ValueError("a comma with no option after it")
    return out


def _entry(principals: str, rest: str, n: int) -> Entry:
    """One line's entry; ValueError or SigError for what OpenSSH refuses."""
    opts: dict[str, str] = {}
    if not re.match(r"(ssh-|ecdsa-|sk-)", rest):
        token, rest = _split_options(rest)
        opts = _options(token)
    key = parse_public_line(rest)
    times: dict[str, datetime | None] = {}
    for name in ("valid-after", "valid-before"):
        try:
            times[name] = _time(opts[name]) if name in opts else None
        except ValueError:
            raise ValueError(f'invalid "{name}" time {opts[name]!r}') from None
    after, before = times["valid-after"], times["valid-before"]
    if after and before and before <= after:
        raise ValueError('"valid-before" is not after "valid-after"')
    return Entry(principals, key, opts.get("namespaces"), after, before, "cert-authority" in opts, n)


class AllowedSigners:
    def __init__(self, text: str, source: str = "allowed_signers"):
        self.source = source
        self.entries: list[Entry] = []
        self.problems: list[str] = []
        for n, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 1)
            if len(parts) < 2:
                self.problems.append(f"{source}:{n}: refused: no key")
                continue
            try:
                self.entries.append(_entry(parts[0], parts[1], n))
            except (ValueError, SigError) as exc:
                self.problems.append(f"{source}:{n}: refused: {exc}")
                self.entries.append(Entry(parts[0], b"", None, None, None, False, n, error=str(exc)))

    @classmethod
    def read(cls, path: str | Path) -> "AllowedSigners":
        return cls(Path(path).read_text(encoding="utf-8", errors="replace"), str(path))

    def check(self, principal: str, key: bytes, namespace: str, when: datetime) -> str:
        """'' if an entry allows `key` to sign as `principal` in `namespace` at `when`; else why not."""
        near = refused = ""
        for e in self.entries:
            if e.error:
                # OpenSSH skips the line (after saying why, when it names this principal): so do we
                if _patterns_match(e.principals, principal) and not refused:
                    refused = f"{self.source}:{e.line}: refused: {e.error}"
                continue
            if e.cert_authority or e.key != key:
                continue
            if not _patterns_match(e.principals, principal):
                near = near or f"the key is listed (line {e.line}) but not for principal {principal!r}"
                continue
            if e.namespaces is not None and not _patterns_match(e.namespaces, namespace):
                near = f"line {e.line} does not allow namespace {namespace!r}"
                continue
            if e.valid_after and when < e.valid_after:
                near = f"line {e.line}: the key was not yet valid at {when:%Y-%m-%d %H:%M:%S}Z"
                continue
            if e.valid_before and when >= e.valid_before:
                near = f"line {e.line}: the key had expired by {when:%Y-%m-%d %H:%M:%S}Z"
                continue
            return ""
        return refused or near or f"the key is not in {self.source}"
