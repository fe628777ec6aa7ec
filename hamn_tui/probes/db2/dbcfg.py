"""`db2 get db cfg for X` → HadrStatus(source="dbcfg", cfg={...}) with the `db2.cfg` probe's fields.

The db cfg is the only way to know the HADR role of an inactive database (facts §1), and it holds
the prerequisites of HADR (archive logging, TRACKMOD, LOGINDEXBUILD, INDEXREC). `cfg` has exactly
the catalog's keys (None where the listing does not show the line — e.g. a `grep`ped listing);
every other line goes to `cfg_extra` as printed. Lines that are not `label (PARAM) = value` (the
header, a pasted prompt, blank lines) are skipped: the listing is long and varies by level.
"""
from __future__ import annotations

import re
from typing import Any

from .model import HadrStatus, ParseError
from .normalise import enum_in, lines_of, null, snippet, to_int, yes_no

ITEM = re.compile(r"^\s*(?P<left>[^=]*?)\s*=(?P<value>.*)$")
PARAM = re.compile(r"\((?P<param>[A-Z][A-Z0-9_]*)\)\s*$")
TITLE = re.compile(r"^\s*Database Configuration for Database\s+(?P<db>\S+)\s*$", re.I)

CFG_KEYS = ("role", "local_host", "local_svc", "remote_host", "remote_svc", "remote_inst", "syncmode", "timeout_s",
            "peer_window_s", "rollforward_pending", "log_archiving", "trackmod", "logindexbuild", "indexrec")
"""The `db2.cfg` probe fields (probes/catalog.py)."""
_STRINGS = {"HADR_LOCAL_HOST": "local_host", "HADR_LOCAL_SVC": "local_svc", "HADR_REMOTE_HOST": "remote_host",
            "HADR_REMOTE_SVC": "remote_svc", "HADR_REMOTE_INST": "remote_inst", "INDEXREC": "indexrec"}
_INTS = {"HADR_TIMEOUT": "timeout_s", "HADR_PEER_WINDOW": "peer_window_s"}
_BOOLS = {"TRACKMOD": "trackmod", "LOGINDEXBUILD": "logindexbuild"}


def parse_dbcfg(text: str) -> HadrStatus:
    """Parse a (possibly grep-filtered) db cfg listing; it must at least show `HADR database role`."""
    lines = lines_of(text, "the output of db2 get db cfg for <database>")
    cfg: dict[str, Any] = dict.fromkeys(CFG_KEYS)
    extra: dict[str, Any] = {}
    warnings: list[str] = []
    database = None
    seen_role = False
    archiving: dict[str, str | None] = {}
    for line in lines:
        if (t := TITLE.match(line.text)):
            database = t.group("db")
            continue
        m = ITEM.match(line.text)
        if not m or not m.group("left"):
            continue
        left, value = m.group("left"), m.group("value").strip()
        p = PARAM.search(left)
        param = p.group("param") if p else None
        label = " ".join((left[: p.start()] if p else left).split())
        if line.cut:
            warnings.append(f"line {line.no}: the input ends without a newline on this line, so the value of "
                            f"{param or label} may be cut: ignored (unknown)")
            seen_role = seen_role or label.lower() == "hadr database role"
            continue
        where = f"line {line.no}: "
        try:
            if label.lower() == "hadr database role":
                cfg["role"], seen_role = enum_in("role", value, warnings, where), True
            elif param == "HADR_SYNCMODE":
                cfg["syncmode"] = enum_in("syncmode", value, warnings, where)
            elif param in _STRINGS:
                cfg[_STRINGS[param]] = null(value)
            elif param in _INTS:
                cfg[_INTS[param]] = to_int(value)
            elif param in _BOOLS:
                cfg[_BOOLS[param]] = yes_no(value)
            elif label.lower() == "rollforward pending":
                cfg["rollforward_pending"] = _rollforward(value, warnings, where)
                extra[label] = value
            elif param in ("LOGARCHMETH1", "LOGRETAIN"):
                archiving[param] = null(value)
                extra[param] = value
            else:
                extra[param or label] = value
        except ValueError as exc:
            raise ParseError(f"{param or label}: {exc}", line.no) from None
    if not seen_role:
        first = next(l for l in lines if l.text.strip())
        raise ParseError(f"no 'HADR database role' line: expected the output of db2 get db cfg for <database>; "
                         f"found {snippet(first.text)}", first.no)
    cfg["log_archiving"] = _archiving(archiving)
    return HadrStatus("dbcfg", database, cfg=cfg, cfg_extra=extra, warnings=warnings)


def _rollforward(value: str, warnings: list[str], where: str) -> bool | None:
    """NO → False; DATABASE / TABLESPACE (something must be rolled forward) → True."""
    up = (null(value) or "").upper()
    if up == "NO":
        return False
    if up in ("DATABASE", "TABLESPACE", "YES"):
        return True
    warnings.append(f"{where}Rollforward pending {value!r} not understood")
    return None


def _archiving(seen: dict[str, str | None]) -> bool | None:
    """Archive logging is on when LOGARCHMETH1 is not OFF, or (9.x) LOGRETAIN is RECOVERY/ON.

    False only when LOGARCHMETH1 itself says OFF (and LOGRETAIN, if shown, does not say on);
    LOGRETAIN = OFF alone proves nothing (LOGARCHMETH1 may archive to disk), so that is unknown.
    """
    meth = (seen.get("LOGARCHMETH1") or "").upper()
    retain = (seen.get("LOGRETAIN") or "").upper()
    if retain in ("RECOVERY", "ON", "YES") or (meth and meth != "OFF"):
        return True
    if meth == "OFF":
        return False
    return None


def target_list(raw: str | None) -> list[str]:
    """HADR_TARGET_LIST `host1:svc1|host2:svc2` → entries, principal first; `{…}` pureScale groups kept whole."""
    text = null(raw)
    if text is None:
        return []
    out, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "{"
        depth -= ch == "}"
        if ch == "|" and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    out.append(cur.strip())
    return [e for e in out if e]
