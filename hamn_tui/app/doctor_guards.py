"""The doctor's checks of what a dangerous step will wait for: the approvers a four-eyes step
needs, and the witnesses a witnessed run sends to. Found broken at 3 a.m. they stop the takeover;
found now they are a line in the cluster file to fix."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from ..audit.allowed import AllowedSigners
from ..audit.approval import NAMESPACE
from ..audit.approval.spool import Spool, SpoolError
from ..audit.witness.client import holds
from ..audit.witness.sender import label
from ..cluster.model import Cluster
from ..runbook.model import Runbook
from ..settings import settings
from .doctor import CheckResult, Finding, combine
from .witnessing import targets_of

PROBE_ORIGIN = "hamn/doctor/probe/audit-000"
"""What the doctor asks a witness it holds (nothing, ever): an answer proves the account, the
forced command and the host key; it stores nothing."""


def needs_approval(books: Iterable[Runbook]) -> list[str]:
    """`runbook.step` of every step (or option) that needs a second operator."""
    return [f"{rb.runbook.id}.{s.id}" for rb in books for _, _, s in rb.all_steps()
            if s.approval != "none" or any(o.approval != "none" for o in s.options)]


def check_approvers(cluster: Cluster, books: Iterable[Runbook]) -> CheckResult | None:
    """None when no runbook for this cluster needs a second operator."""
    steps = needs_approval(books)
    if not steps:
        return None
    title = "four eyes"
    where = f"{len(steps)} step(s) need a second operator ({', '.join(steps[:3])}{', …' if len(steps) > 3 else ''})"
    a = cluster.approval
    if not a.approvers:
        return CheckResult("approval", title, "failed", f"{where}, and the cluster file names no approvers",
                           "set [approval] approvers to an allowed_signers file of the second operators (namespace hamn-approval@v1)")
    try:
        allowed = AllowedSigners.read(a.approvers)
    except OSError as exc:
        return CheckResult("approval", title, "failed", f"[approval] approvers {a.approvers}: {exc.strerror or exc}",
                           "make the file readable, or fix the path")
    if allowed.problems:
        return CheckResult("approval", title, "failed", f"[approval] approvers: {allowed.problems[0]}", "fix the line named")
    now = datetime.now(timezone.utc)
    usable = [e for e in allowed.entries if not e.error and not e.cert_authority
              and allowed.check(e.principals.split(",")[0], e.key, NAMESPACE, now) == ""]
    if len(usable) < 2:
        return CheckResult("approval", title, "failed",
                           f"[approval] approvers {a.approvers} lets {len(usable)} key(s) approve in namespace {NAMESPACE} now: "
                           "a requester cannot approve their own request, so at least two operators are needed",
                           f'add a line per operator: PRINCIPAL namespaces="{NAMESPACE}" KEY')
    try:
        spool = Spool(Path(a.spool) if a.spool else settings().state_dir / "approvals", create=a.spool is None)
    except SpoolError as exc:
        return CheckResult("approval", title, "failed", f"[approval] spool: {exc}", "make it a directory others cannot enter (chmod o-rwx)")
    return CheckResult("approval", title, "ok", f"{where}; {len(usable)} approvers may sign; requests wait in {spool.dir}")


async def check_witnesses(cluster: Cluster) -> CheckResult | None:
    """None when the cluster file has no [witness] section. Each witness is asked what it holds
    (one `holds` exchange over its forced command: nothing is stored)."""
    targets = targets_of(cluster)
    if not targets:
        return None
    timeout = float(cluster.witness.timeout_s)
    answers = await asyncio.gather(*(asyncio.to_thread(holds, PROBE_ORIGIN, t, timeout) for t in targets))
    findings = []
    for t, answer in zip(targets, answers):
        who = label(t)
        if answer.ok and answer.holds is not None:
            findings.append(Finding(who, "ok", f"{who} answers"))
        elif "Could not resolve" in answer.text or "timed out" in answer.text or "No route" in answer.text or "within" in answer.text:
            findings.append(Finding(who, "unknown", f"{who}: {answer.text}"))
        else:
            findings.append(Finding(who, "failed", f"{who}: {answer.text}",
                                    "run runbooks/witness-setup.toml for it, or check [witness] identity and known_hosts"))
    return combine("witness", "witnesses", findings)
