"""A stand-in for the first operator's screen until the engine asks for approvals itself:
`python -m tests.approval_requester CONFIG.json` shows "waiting for a second operator" with the
request's code, polls the spool, and prints the verdict (exit 0 approved, 1 refused). It makes
exactly the calls the engine will make (see docs/audit-log.md, "Four eyes")."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from hamn_tui.audit.allowed import AllowedSigners
from hamn_tui.audit.approval.check import NonceStore, check_spool
from hamn_tui.audit.approval.request import LogHead
from hamn_tui.audit.approval.spool import Spool


def main(config_path: str) -> int:
    c = json.loads(Path(config_path).read_text())
    spool = Spool(c["spool"], create=False)
    request = spool.load(c["request_id"])
    assert request.sha256 == c["request_sha256"], "the request file changed"
    print(f"waiting for a second operator — code {request.code}", flush=True)
    while True:
        v = check_spool(spool, request, approvers=AllowedSigners.read(c["approvers"]), nonces=NonceStore(c["nonces"]),
                        command=c["command"], gates=c["gates"], head=LogHead(**c["head"]), run_dir=Path(c["run_dir"]))
        if v.reason != "no answer yet":
            break
        time.sleep(0.1)
    print(f"approved by {v.approver} ({v.approver_key}): running" if v.ok else f"refused: {v.reason}", flush=True)
    return 0 if v.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
