"""The takeover-safety rules (db2-hadr-facts §5, §9): may this standby take over, and how?

Three verdicts — graceful, BY FORCE PEER WINDOW ONLY, BY FORCE — each allowed, refused or
unknown, with reasons that name the fields and their values. Unknown is never allowed: a
value the status does not show stops the takeover until someone reads it, and so does a value
that cannot be true (a negative log gap, a PEER_WINDOW_END whose date and epoch disagree): a
garbled reading is no evidence either way.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .model import HadrChannel, HadrStatus, LogPosition

VerdictWord = Literal["allowed", "refused", "unknown"]
CLOCK_MARGIN_S = 5
"""TAKEOVER … PEER WINDOW ONLY needs now + 5 s < PEER_WINDOW_END (DB2's own clock tolerance)."""
BLOCKING_FLAGS = ("STANDBY_TABLESPACE_ERROR", "STANDBY_RECV_BLOCKED", "STANDBY_LOG_DEVICE_FULL")
DEFAULT_MAX_GAP = 8 * 1024 * 1024


@dataclass
class Verdict:
    verdict: VerdictWord = "allowed"
    reasons: list[str] = field(default_factory=list)

    def refuse(self, reason: str) -> None:
        self.verdict = "refused"
        self.reasons.append(reason)

    def unknown(self, reason: str) -> None:
        if self.verdict != "refused":
            self.verdict = "unknown"
        self.reasons.append(reason)

    def note(self, reason: str) -> None:
        self.reasons.append(reason)

    def to_json(self) -> dict[str, object]:
        return {"verdict": self.verdict, "reasons": list(self.reasons)}


@dataclass
class Advice:
    graceful: Verdict
    peer_window_only: Verdict
    force: Verdict
    estimated_loss_bytes: int | None = None
    estimated_loss_s: int | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "graceful": self.graceful.to_json(),
            "peer_window_only": self.peer_window_only.to_json(),
            "force": self.force.to_json(),
            "estimated_loss_bytes": self.estimated_loss_bytes,
            "estimated_loss_s": self.estimated_loss_s,
        }


NAMES = {
    "log_gap_bytes": "HADR_LOG_GAP", "time_since_last_recv_s": "TIME_SINCE_LAST_RECV", "hadr_timeout_s": "HADR_TIMEOUT",
    "peer_window_s": "PEER_WINDOW", "peer_window_end_epoch": "PEER_WINDOW_END", "primary_log": "PRIMARY_LOG_FILE,PAGE,POS",
    "standby_log": "STANDBY_LOG_FILE,PAGE,POS", "primary_log_time_epoch": "PRIMARY_LOG_TIME",
    "standby_replay_log_time_epoch": "STANDBY_REPLAY_LOG_TIME",
}
"""The DB2 name of each channel field a verdict reads, for its reasons."""


def _doubt(ch: HadrChannel, name: str) -> str | None:
    """Why field `name` cannot be decided on, or None: the parser found it impossible (and left it
    unknown), or — whatever the source — it is negative, which no DB2 count, size or time is."""
    why = getattr(ch, "implausible", {}).get(name)
    if why:
        return str(why)
    value = getattr(ch, name)
    parts = (value.page, value.pos) if isinstance(value, LogPosition) else (value,)
    if any(isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0 for v in parts):
        return f"{NAMES.get(name, name)} = {value}: negative, which it never is"
    return None


def _doubts(v: Verdict, ch: HadrChannel, *names: str) -> set[str]:
    """Mark `v` unknown for each impossible field it reads; the names of those fields."""
    found = set()
    for name in names:
        why = _doubt(ch, name)
        if why:
            v.unknown(f"{why}: cannot decide on an impossible value")
            found.add(name)
    return found


def _all(reason: str, word: VerdictWord) -> Advice:
    return Advice(Verdict(word, [reason]), Verdict(word, [reason]), Verdict(word, [reason]))


def _loss(ch: HadrChannel) -> tuple[int | None, int | None, list[str]]:
    """Last known primary minus standby log position (bytes) and log time (seconds), from plausible values
    only; and the impossible values it had to pass over (said next to the estimate)."""
    passed: list[str] = []

    def usable(*names: str) -> bool:
        whys = [why for n in names if (why := _doubt(ch, n))]
        passed.extend(whys)
        return not whys

    b = s = None
    if usable("primary_log", "standby_log") and ch.primary_log.pos is not None and ch.standby_log.pos is not None:
        b = max(0, ch.primary_log.pos - ch.standby_log.pos)
    elif usable("log_gap_bytes") and ch.log_gap_bytes is not None:
        b = ch.log_gap_bytes
    if usable("primary_log_time_epoch", "standby_replay_log_time_epoch") and ch.primary_log_time_epoch is not None \
            and ch.standby_replay_log_time_epoch is not None:
        s = max(0, ch.primary_log_time_epoch - ch.standby_replay_log_time_epoch)
    return b, s, passed


def advise(
    standby: HadrStatus,
    *,
    now_epoch: float,
    second: HadrStatus | None = None,
    primary: HadrStatus | None = None,
    primary_unreadable: bool = False,
    primary_down: bool | None = None,
    primary_fenced: bool | None = None,
    max_gap_bytes: int = DEFAULT_MAX_GAP,
) -> Advice:
    """Verdicts for `standby` (the node where TAKEOVER would be issued).

    second: the same node read again after a delay — a change between readings makes every
        verdict unknown (a crashed primary can still look PEER until HADR_TIMEOUT).
    primary / primary_unreadable: the primary's own db2pd, or the fact that it could not be read.
    primary_down: the old primary is confirmed down (None: not checked).
    primary_fenced: it is fenced so it cannot come back (powered off, instance disabled).
    """
    if standby.activated is False:
        return _all(f"database {standby.database or ''} is not activated: db2pd cannot tell the role (read `db2 get db cfg`, HADR database role)".replace("  ", " "), "unknown")
    if standby.hadr_active is False:
        return _all("HADR is not active on this database (role STANDARD): there is nothing to take over", "refused")
    if not standby.channels:
        return _all("no HADR channel in the status: nothing to decide on", "unknown")
    ch = standby.channels[0]
    if ch.role is None:
        return _all("HADR_ROLE is not shown", "unknown")
    if ch.role != "STANDBY":
        return _all(f"HADR_ROLE = {ch.role}: a takeover is issued on the standby, not here", "refused")

    advice = Advice(Verdict(), Verdict(), Verdict())
    advice.estimated_loss_bytes, advice.estimated_loss_s, passed_over = _loss(ch)
    state, sync, conn = ch.state, ch.syncmode, ch.connect_status

    if second is not None:
        ch2 = second.channels[0] if second.channels else None
        if ch2 is None or (ch2.role, ch2.state, ch2.connect_status) != (ch.role, state, conn):
            after = "nothing" if ch2 is None else f"{ch2.role}/{ch2.state}/{ch2.connect_status}"
            why = f"the status changed between two readings ({ch.role}/{state}/{conn} then {after}): read again before deciding"
            for v in (advice.graceful, advice.peer_window_only, advice.force):
                v.unknown(why)
            return advice
        ch = ch2
        state, sync, conn = ch.state, ch.syncmode, ch.connect_status

    _graceful(advice.graceful, ch, primary, primary_unreadable, max_gap_bytes)
    _peer_window_only(advice.peer_window_only, ch, now_epoch, primary_down, primary_fenced)
    _force(advice.force, ch, primary_down, primary_fenced, advice, passed_over)
    if second is None:
        for v in (advice.graceful, advice.peer_window_only, advice.force):
            if v.verdict == "allowed":
                v.note("read once: read the status again after a delay before acting (a crashed primary can still look PEER until HADR_TIMEOUT)")
    return advice


def _graceful(v: Verdict, ch: HadrChannel, primary: HadrStatus | None, primary_unreadable: bool, max_gap: int) -> None:
    state, sync, conn = ch.state, ch.syncmode, ch.connect_status
    if state is None or conn is None:
        v.unknown(f"HADR_STATE = {state}, HADR_CONNECT_STATUS = {conn}: both are needed")
        return
    superasync = sync == "SUPERASYNC" and state == "REMOTE_CATCHUP"
    if state != "PEER" and not superasync:
        hint = {
            "DISCONNECTED_PEER": "the primary is not connected; if it is down and fenced, TAKEOVER BY FORCE PEER WINDOW ONLY applies",
            "REMOTE_CATCHUP_PENDING": "the standby is not connected to the primary and may be missing log data",
            "REMOTE_CATCHUP": "the standby is still catching up",
            "LOCAL_CATCHUP": "the standby is replaying its local logs",
        }.get(state, "")
        v.refuse(f"HADR_STATE = {state}: a graceful takeover needs PEER (SQL1770N otherwise)" + (f"; {hint}" if hint else ""))
    if conn != "CONNECTED":
        v.refuse(f"HADR_CONNECT_STATUS = {conn}: the primary must be connected to hand over its role")
    if superasync:
        v.note(f"SUPERASYNC never reaches PEER: the takeover first ships and replays the whole gap (HADR_LOG_GAP = {ch.log_gap_bytes})")
    doubted = _doubts(v, ch, "log_gap_bytes", "time_since_last_recv_s", "hadr_timeout_s")
    blocked = [f for f in ch.flags if f in BLOCKING_FLAGS]
    if not getattr(ch, "flags_reported", True):
        v.note("HADR_FLAGS is not reported by this source (DB2 9.x/10.1, snapshot): check `db2pd -db DB -tablespaces` on the standby shows every table space normal")
    if blocked:
        v.refuse(f"HADR_FLAGS = {' '.join(ch.flags)}: {', '.join(blocked)} must be fixed before a takeover")
    if "log_gap_bytes" in doubted:
        pass  # unknown already, with why
    elif ch.log_gap_bytes is None:
        v.note("HADR_LOG_GAP is not shown")
    elif ch.log_gap_bytes > max_gap and not superasync:
        v.refuse(f"HADR_LOG_GAP = {ch.log_gap_bytes} bytes > {max_gap}: let the standby catch up first")
    if (not doubted & {"time_since_last_recv_s", "hadr_timeout_s"} and ch.time_since_last_recv_s is not None
            and ch.hadr_timeout_s is not None and ch.time_since_last_recv_s >= ch.hadr_timeout_s):
        v.refuse(f"TIME_SINCE_LAST_RECV = {ch.time_since_last_recv_s:g} s ≥ HADR_TIMEOUT = {ch.hadr_timeout_s:g} s: the primary has gone quiet")
    if primary_unreadable:
        v.unknown("the primary's own status could not be read: it may have just failed (it can still look PEER here until HADR_TIMEOUT)")
    elif primary is not None:
        p = primary.channels[0] if primary.channels else None
        if p is None or p.role != "PRIMARY":
            v.refuse(f"the partner reports HADR_ROLE = {p.role if p else primary.role}, not PRIMARY")
        elif p.state != "PEER" and not superasync:
            v.refuse(f"the primary reports HADR_STATE = {p.state}: both sides must be in PEER")
        elif p.connect_status != "CONNECTED":
            v.refuse(f"the primary reports HADR_CONNECT_STATUS = {p.connect_status}")
    else:
        v.note("the primary's own view was not checked (both sides should report PEER and CONNECTED)")
    if v.verdict == "allowed":
        v.note(f"HADR_STATE = {state}, HADR_CONNECT_STATUS = {conn}: roles switch without data loss")


def _peer_window_only(v: Verdict, ch: HadrChannel, now: float, primary_down: bool | None, fenced: bool | None) -> None:
    state, sync = ch.state, ch.syncmode
    if sync is None:
        v.unknown("HADR_SYNCMODE is not shown")
    elif sync not in ("SYNC", "NEARSYNC"):
        v.refuse(f"HADR_SYNCMODE = {sync}: PEER WINDOW ONLY is valid only with SYNC or NEARSYNC")
    doubted = _doubts(v, ch, "peer_window_s", "peer_window_end_epoch")
    if "peer_window_s" in doubted:
        pass  # unknown already, with why
    elif ch.peer_window_s is None:
        v.unknown("PEER_WINDOW is not shown")
    elif ch.peer_window_s <= 0:
        v.refuse("PEER_WINDOW = 0: there is no peer window (set HADR_PEER_WINDOW > 0)")
    if state is None:
        v.unknown("HADR_STATE is not shown")
    elif state == "PEER":
        if primary_down is not True:
            v.refuse("HADR_STATE = PEER: the primary may still be alive; PEER WINDOW ONLY from PEER needs the primary confirmed dead (else use a graceful takeover)")
    elif state != "DISCONNECTED_PEER":
        v.refuse(f"HADR_STATE = {state}: PEER WINDOW ONLY needs DISCONNECTED_PEER (the standby was in PEER when the primary went away)")
    end = ch.peer_window_end_epoch
    if "peer_window_end_epoch" in doubted:
        pass  # unknown already, with why
    elif end is None:
        if state in ("PEER", "DISCONNECTED_PEER"):
            v.unknown("PEER_WINDOW_END is not shown: cannot tell whether the window is still open")
    elif now + CLOCK_MARGIN_S >= end:
        v.refuse(f"PEER_WINDOW_END = {end} but now + {CLOCK_MARGIN_S} s = {int(now) + CLOCK_MARGIN_S}: the peer window is closed (SQL1770N reason 9)")
    else:
        v.note(f"{int(end - now - CLOCK_MARGIN_S)} s left in the peer window to take over (PEER_WINDOW_END = {end}, less DB2's {CLOCK_MARGIN_S} s margin)")
    if primary_down is not True:
        if state == "DISCONNECTED_PEER":
            v.refuse("the old primary is not confirmed down: after PEER_WINDOW_END a partitioned primary resumes writing alone — confirm it is down (and fenced) first")
    if fenced is not True and v.verdict == "allowed":
        v.note("the old primary must stay down (fenced) before PEER_WINDOW_END for no committed transaction to be lost")


def _force(v: Verdict, ch: HadrChannel, primary_down: bool | None, fenced: bool | None, advice: Advice,
           passed_over: list[str]) -> None:
    state = ch.state
    if state is None:
        v.unknown("HADR_STATE is not shown")
        return
    if state in ("LOCAL_CATCHUP", "REMOTE_CATCHUP"):
        v.refuse(f"HADR_STATE = {state}: DB2 refuses BY FORCE in this state")
        return
    if state not in ("PEER", "DISCONNECTED_PEER", "REMOTE_CATCHUP_PENDING"):
        v.refuse(f"HADR_STATE = {state}: not a state BY FORCE applies to")
        return
    if primary_down is not True:
        v.refuse("BY FORCE is never advised while the old primary is not confirmed down: it would leave two primaries")
    if fenced is not True:
        v.refuse("BY FORCE needs proof that the old primary is fenced (powered off, or its instance stopped and kept from restarting)")
    loss_b, loss_s = advice.estimated_loss_bytes, advice.estimated_loss_s
    if state == "REMOTE_CATCHUP_PENDING":
        v.note("HADR_STATE = REMOTE_CATCHUP_PENDING: the standby was not in PEER — committed transactions not shipped to it are lost")
    for why in passed_over:
        v.note(f"the possible loss below ignores an impossible value: {why}")
    shown = f"{loss_b} bytes of log" if loss_b is not None else "an unknown amount of log"
    shown += f", about {loss_s} s of transactions" if loss_s is not None else ""
    v.note(f"possible data loss: {shown} (last known primary minus standby position); the old primary will need reinitialising")
