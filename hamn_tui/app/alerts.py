"""Mail on status transitions, like Serviceguard's ALERT_MAIL_ID: to the cluster file's [alerts] list."""
from __future__ import annotations

import asyncio
import smtplib
import socket
from email.message import EmailMessage

from ..cluster.model import Alerts
from .situation import Situation
from .status import Snapshot, Transition


def message(alerts: Alerts, cluster: str, t: Transition, snap: Snapshot, situation: Situation | None = None) -> EmailMessage:
    """The mail: what changed, the situation with what to run and what not to do, then both nodes' readings."""
    msg = EmailMessage()
    msg["Subject"] = t.subject(cluster)
    msg["From"] = alerts.mail_from
    msg["To"] = ", ".join(alerts.mail_to)
    lines = [t.subject(cluster), "", f"seen by hamn status --watch on {socket.gethostname()}", ""]
    if situation is not None:
        lines += [situation.line(), *(f"  evidence: {e}" for e in situation.evidence)]
        lines += [f"  run: {r.command()} — {r.why}" for r in situation.recommended]
        lines += [f"  do not: {a}" for a in situation.avoid]
        lines.append("")
    for name, node in snap.nodes.items():
        rep = ", ".join(f"{k}={v}" for k, v in sorted(node.replication.items()) if k in ("role", "state", "connect_status", "log_gap_bytes", "peer_window_left_s", "streaming_standbys", "wal_receiver", "lag_bytes", "timeline"))
        lines.append(f"{name} (set up as {node.role_at_setup}): reachable={node.reachable} {rep}")
        if node.errors:
            lines.append(f"  could not read: {'; '.join(node.errors)}")
    msg.set_content("\n".join(lines) + "\n")
    return msg


def _send(alerts: Alerts, msg: EmailMessage) -> None:
    with smtplib.SMTP(alerts.smtp_host, alerts.smtp_port, timeout=20) as smtp:
        smtp.send_message(msg)


async def send(alerts: Alerts, cluster: str, t: Transition, snap: Snapshot, situation: Situation | None = None) -> str | None:
    """Send one alert; returns why it failed (the watch goes on and shows it), or None."""
    try:
        await asyncio.to_thread(_send, alerts, message(alerts, cluster, t, snap, situation))
    except (OSError, smtplib.SMTPException) as exc:
        return f"alert mail to {', '.join(alerts.mail_to)} via {alerts.smtp_host}:{alerts.smtp_port} failed: {exc}"
    return None
