"""An OpenSSH allowed_signers file (ssh-keygen(1), ALLOWED SIGNERS), as the auditor keeps it.

`principals [options] keytype base64 [comment]`; options `namespaces="…"`, `valid-after=…`,
`valid-before=…` are honoured, and checked at the time the log says it signed (ssh-keygen's
`-O verify-time=`). `cert-authority` lines are ignored: hamn signs with plain keys.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .sshsig import SigError, parse_public_line


@dataclass(frozen=True)
class Entry:
    principals: str
    key: bytes
    namespaces: str | None
    valid_after: datetime | None
    valid_before: datetime | None
    cert_authority: bool
    line: int


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
    """The options token (up to whitespace outside quotes) and the rest."""
    quoted = False
    for i, c in enumerate(text):
        if c == '"':
            quoted = not quoted
        elif c.isspace() and not quoted:
            return text[:i], text[i:].strip()
    return text, ""


def _options(token: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in re.finditer(r'([A-Za-z-]+)(?:="([^"]*)")?(?:,|$)', token):
        out[m.group(1).lower()] = m.group(2) if m.group(2) is not None else ""
    return out


class AllowedSigners:
    def __init__(self, text: str, source: str = "allowed_signers"):
        self.source = source
        self.entries: list[Entry] = []
        self.problems: list[str] = []
        for n, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            try:
                principals, rest = line.split(None, 1)
                opts: dict[str, str] = {}
                if not re.match(r"(ssh-|ecdsa-|sk-)", rest):
                    token, rest = _split_options(rest)
                    opts = _options(token)
                key = parse_public_line(rest)
                self.entries.append(Entry(principals, key, opts.get("namespaces"),
                                          _time(opts["valid-after"]) if "valid-after" in opts else None,
                                          _time(opts["valid-before"]) if "valid-before" in opts else None,
                                          "cert-authority" in opts, n))
            except (ValueError, SigError) as exc:
                self.problems.append(f"{source}:{n}: skipped: {exc}")

    @classmethod
    def read(cls, path: str | Path) -> "AllowedSigners":
        return cls(Path(path).read_text(encoding="utf-8", errors="replace"), str(path))

    def check(self, principal: str, key: bytes, namespace: str, when: datetime) -> str:
        """'' if an entry allows `key` to sign as `principal` in `namespace` at `when`; else why not."""
        near = ""
        for e in self.entries:
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
        return near or f"the key is not in {self.source}"
