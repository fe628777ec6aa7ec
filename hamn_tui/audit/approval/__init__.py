"""Four eyes: a second operator approves (or rejects) one exact command before it runs.

- `request.py` — the approval request (bound to run, log head, step, command, node, user,
  gate readings, requester, nonce, expiry) and its voice code;
- `spool.py` — the directory where requests wait and answers are left;
- `answer.py` — the signed answer (SSHSIG, namespace `hamn-approval@v1`) and how it is made;
- `check.py` — everything checked before the command runs, and the used-nonce store.

docs/audit-log.md, "Four eyes", describes the formats and what is (not yet) integrated.
"""

NAMESPACE = "hamn-approval@v1"
"""The SSHSIG namespace of approvals and rejections: a signature made for the audit log
(`hamn-audit-v1`) or for anything else can never pass as one."""

MAX_TTL_S = 600
"""A request lives at most ten minutes: an approval is for the situation the approver saw."""
