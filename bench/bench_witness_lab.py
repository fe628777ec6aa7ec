"""One checkpoint's round trip to a witness on the lab: what a run pays, in its sender thread,
per checkpoint it hands to mn2's `hamn witness serve` over SSH.

    sudo .venv/bin/python bench/bench_witness_lab.py [--rounds 15] [--records 8]

The lab (docs/lab.md) is brought up in a temporary directory and `hamn run witness-setup` makes
mn2 a witness (account, key, forced command; the run is left waiting at its keep-or-undo choice
and goes with the lab). A real signed audit log is written on the console (a runbook of many
read-only steps, its session key kept to sign checkpoints as the running hamn does). Each round,
in the same run and against the same node:

- **ssh true**: plain `ssh root@mn2 true` with the same options the witness client uses (the
  baseline: a login and a command that does nothing). On this machine root's shell is bash and
  its ~/.bashrc runs `pyenv init`, which sshd's bash reads even for a command;
- **ssh true, no rc**: the same as the lab's `postgres` user (bash, no ~/.bashrc): the login alone;
- **refusal**: the witness account with an empty request: sshd, the forced command, Python and
  hamn's start, a one-line refusal — everything but the work;
- **send**: `client.send` of the next signed checkpoint with its new records (`--records` per
  round, as a run's checkpoint after a few steps), cosigned and stored by the witness;
- **holds**: `client.holds` of the log's origin.

Medians of `--rounds` (at most 50). Not part of the test suite; needs root.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hamn_tui.audit import writer as writer_module  # noqa: E402
from hamn_tui.audit.keys import Signer, session_key  # noqa: E402
from hamn_tui.audit.witness.checkpoint import Checkpoint, origin_for, sign_checkpoint, tree_hash  # noqa: E402
from hamn_tui.audit.witness.client import SshTarget, holds, send  # noqa: E402
from hamn_tui.audit.writer import AuditWriter  # noqa: E402
from hamn_tui.lab.lab import Lab  # noqa: E402
from hamn_tui.lab.topology import NODES  # noqa: E402
from tests.test_audit_support import Lab as Keys, lines_of, run_book  # noqa: E402

MAX_ROUNDS = 50
STEP = """
[[steps]]
id = "s{i}"
title = "step {i}"
run = "echo step {i}"
mutating = false
"""


def make_witness(lab: Lab, tmp: Path) -> Path:
    """mn2 a witness through the shipped runbook; returns the client's private key."""
    identity = tmp / "witness_client"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "hamn-bench", "-f", str(identity)], check=True)
    r = subprocess.run([sys.executable, "-m", "hamn_tui", "run", "witness-setup", "--headless", "--yes", "--cluster", str(lab.cluster_path),
                        "--audit-dir", str(tmp / "setup-runs"), "--set", f"client_key={identity.with_suffix('.pub').read_text().strip()}",
                        "--set", f"hamn={Path(sys.executable).parent / 'hamn'}", "--set", "on_primary=false", "--set", "on_service_nodes=false"],
                       capture_output=True, text=True, timeout=240, cwd=REPO)
    if r.returncode != 4 or not re.search(r"^hamn-witness/mn2\+", r.stdout, re.M):
        raise SystemExit(f"witness-setup did not make mn2 a witness (exit {r.returncode}):\n{r.stdout[-2000:]}{r.stderr[-1000:]}")
    return identity


def write_log(tmp: Path, steps: int) -> tuple[Path, Signer, list[bytes]]:
    """A real signed log of `steps` read-only steps, and the session key that signs its checkpoints."""
    kept: list[Signer] = []

    def keep() -> Signer:
        kept.append(session_key())
        return kept[-1]

    original = writer_module.session_key
    writer_module.session_key = keep  # type: ignore[assignment]
    try:
        keys = Keys(tmp / "keys")
        path = tmp / "runs" / "t-run-1" / "audit-000.jsonl"  # runbook t, run run-1: what its records name
        run_book("".join(STEP.format(i=i) for i in range(steps)), tmp, AuditWriter(path, signer=keys.alice()))
    finally:
        writer_module.session_key = original  # type: ignore[assignment]
    return path, kept[0], lines_of(path)


def timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--records", type=int, default=8, help="new records per checkpoint")
    args = ap.parse_args()
    rounds = max(1, min(args.rounds, MAX_ROUNDS))
    if os.geteuid() != 0:
        raise SystemExit("bench_witness_lab needs root (the lab: network namespaces)")
    tmp = Path(tempfile.mkdtemp(prefix="hamn-bench-witness-"))
    lab = Lab(tmp / "lab")
    rows: dict[str, list[float]] = {"ssh true": [], "ssh no rc": [], "refusal": [], "send": [], "holds": []}
    try:
        lab.up()
        identity = make_witness(lab, tmp)
        path, session, lines = write_log(tmp, steps=rounds * args.records // 3 + 4)
        if len(lines) < rounds * args.records:
            raise SystemExit(f"the log has {len(lines)} records, fewer than {rounds} rounds of {args.records}")
        origin = origin_for("none", path.parent.name, path.name)  # a log written without a cluster file
        known = lab.dir / "known_hosts"
        target = SshTarget(NODES["mn2"], "hamn-witness", identity=identity, known_hosts=known)
        root = SshTarget(NODES["mn2"], "root", identity=lab.dir / "client_ed25519", known_hosts=known)
        plain = root.argv()[:-3] + ["true"]  # the same options, `ssh … -- HOST true`
        pg = SshTarget(NODES["mn2"], "postgres", identity=lab.dir / "postgres_ed25519", known_hosts=known)
        bare = pg.argv()[:-3] + ["true"]
        for r in range(rounds):
            t, p = timed(lambda: subprocess.run(plain, capture_output=True, timeout=30))
            assert p.returncode == 0, p.stderr  # type: ignore[attr-defined]
            rows["ssh true"].append(t)
            t, p = timed(lambda: subprocess.run(bare, capture_output=True, timeout=30))
            assert p.returncode == 0, p.stderr  # type: ignore[attr-defined]
            rows["ssh no rc"].append(t)
            t, p = timed(lambda: subprocess.run(target.argv(), input=b"", capture_output=True, timeout=30))
            assert p.stdout.startswith(b"refused: "), p.stdout  # type: ignore[attr-defined]
            rows["refusal"].append(t)
            first, size = r * args.records, (r + 1) * args.records
            note = sign_checkpoint(Checkpoint(origin, size, tree_hash(lines[:size])), session)
            t, a = timed(lambda: send(note, first, lines[first:size], target, timeout_s=30))
            assert a.ok, a.text  # type: ignore[attr-defined]
            rows["send"].append(t)
            t, h = timed(lambda: holds(origin, target, timeout_s=30))
            assert h.ok and h.holds == size, h.text  # type: ignore[attr-defined]
            rows["holds"].append(t)
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1] * 1000:.0f} ms" for k, v in rows.items()), flush=True)
    finally:
        problems = lab.down()
        shutil.rmtree(tmp, ignore_errors=True)
        if problems:
            print("lab down left: " + "; ".join(problems), file=sys.stderr)
    print(f"\n{platform.node()} {platform.platform()} python {platform.python_version()}; {rounds} rounds, "
          f"{args.records} new records per checkpoint")
    for k, v in rows.items():
        print(f"median {k:<9} {statistics.median(v) * 1000:6.0f} ms  (min {min(v) * 1000:.0f}, max {max(v) * 1000:.0f})")


if __name__ == "__main__":
    main()
