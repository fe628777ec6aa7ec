"""What a witness costs a run: bench/bench_ssh.py's (a′) — N one-command read-only steps through
the engine over a real loopback sshd, with the signed audit log — without and with a witness
(`hamn witness serve` behind a forced command on the same sshd, as in tests/test_witness_ssh.py).

    .venv/bin/python bench/bench_witness_engine.py [--steps 200] [--repeat 3] [--user hamntest]

Each repeat runs both variants back to back (same sshd, same machine state); the table shows the
medians and their ratio (target: with a witness ≤ 1.3× without). "run" is the engine's run until
it returns (the operator's wait); "drained" adds the bounded wait at the run's end for the last
checkpoint to be cosigned (what a headless run does before it exits). Needs root (the sshd
switches users) and openssh-server / openssh-client. Not part of the test suite.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="hamn-bench-config-")  # the installation key, never ~/.config
os.environ.pop("SSH_AUTH_SOCK", None)

from hamn_tui.audit.witness.checkpoint import origin_for  # noqa: E402
from hamn_tui.audit.witness.client import SshTarget  # noqa: E402
from hamn_tui.audit.witness import sender as sender_module  # noqa: E402
from hamn_tui.audit.witness.sender import WitnessSender  # noqa: E402
from hamn_tui.transport.ssh import SshTransport  # noqa: E402
from tests.sshd_fixture import TEST_USER, SshdLab, lab_dir  # noqa: E402

HAMN = Path(sys.executable).parent / "hamn"
EXCHANGES = [0]
"""ssh exchanges with the witness (the sender supersedes a checkpoint still waiting by a newer one)."""
_send = sender_module.send


def _counted_send(*args, **kw):  # type: ignore[no-untyped-def]
    EXCHANGES[0] += 1
    return _send(*args, **kw)


sender_module.send = _counted_send


async def engine_run(cluster, n: int, runs: Path, run_id: str, witness: SshTarget | None) -> tuple[float, float, int, int]:
    """(run seconds, run + drain seconds, records cosigned, checkpoints sent) of n one-command steps through the engine."""
    from hamn_tui.audit.writer import AuditWriter
    from hamn_tui.engine.operator import ScriptedOperator
    from hamn_tui.engine.runner import Runner
    from hamn_tui.probes.host import host_probes
    from hamn_tui.runbook.context import RunContext, bind_roles
    from hamn_tui.runbook.model import Runbook

    rb = Runbook.model_validate({
        "runbook": {"id": "bench", "title": "bench", "version": "1", "databases": ["pg"], "summary": "s"},
        "steps": [{"id": f"s{i}", "title": "true", "node": "primary", "run": "true", "mutating": False} for i in range(n)],
    })
    segment = runs / f"bench-{run_id}" / "audit-000.jsonl"
    sender = WitnessSender([witness], segment, origin_for("bench", segment.parent.name, segment.name), 60.0) if witness else None
    t = SshTransport(cluster)
    journal = AuditWriter(segment, witness=sender)
    ctx = RunContext({}, cluster, bind_roles(cluster))
    runner = Runner(rb, ctx, t, host_probes(t, cluster), ScriptedOperator([]), run_id=run_id, subscribers=[journal])
    EXCHANGES[0] = 0
    try:
        start = time.perf_counter()
        assert await runner.run() == "done"
        ran = time.perf_counter() - start
        if sender is not None:
            assert sender.drain(120), "the witness did not cosign the last checkpoint within 120 s"
        return ran, time.perf_counter() - start, sender.cosigned if sender else 0, EXCHANGES[0]
    finally:
        journal.close()
        await t.close()


def witness_target(lab: SshdLab) -> tuple[SshTarget, Path]:
    """A key on the bench's sshd that can only run `hamn witness serve` (state in the lab directory)."""
    wdir = lab.dir / "witness-state"
    key = lab.dir / "witness_client_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench-witness", "-f", str(key)], check=True)
    forced = f"{shlex.quote(str(HAMN))} witness serve --dir {shlex.quote(str(wdir))}"
    with open(lab.dir / "authkeys" / "root", "a") as fh:
        fh.write(f'command="{forced}",restrict {Path(f"{key}.pub").read_text().strip()}\n')
    return SshTarget("127.0.0.1", user="root", port=lab.port, identity=key, known_hosts=lab.known_hosts), wdir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3, help="runs per variant (median reported)")
    ap.add_argument("--user", default=TEST_USER, help="login user for the steps (default: the test user, as in bench_ssh.py)")
    args = ap.parse_args()
    lab = SshdLab(lab_dir(), remove_dir=True).start()
    runs = Path(tempfile.mkdtemp(prefix="hamn-bench-runs-"))
    plain: list[float] = []
    witnessed: list[float] = []
    drained: list[float] = []
    cosigned: list[int] = []
    sent: list[int] = []
    try:
        cluster = lab.cluster(Path(lab.dir) / "cluster.toml", ssh_user=args.user)
        target, _ = witness_target(lab)
        asyncio.run(engine_run(cluster, 5, runs, "warmup", target))  # first ssh, first key use: not measured
        for i in range(args.repeat):
            plain.append(asyncio.run(engine_run(cluster, args.steps, runs, f"plain{i}", None))[0])
            ran, total, n, exchanges = asyncio.run(engine_run(cluster, args.steps, runs, f"witnessed{i}", target))
            witnessed.append(ran)
            drained.append(total)
            cosigned.append(n)
            sent.append(exchanges)
    finally:
        lab.stop()
        subprocess.run(["rm", "-rf", str(runs)])
    p, w, d = statistics.median(plain), statistics.median(witnessed), statistics.median(drained)
    rows = [
        (f"{args.steps} steps through the engine, no witness", f"{p:.2f} s", f"{p / args.steps * 1e3:.1f} ms per step; runs {', '.join(f'{x:.2f}' for x in plain)}"),
        (f"{args.steps} steps through the engine, one witness", f"{w:.2f} s", f"{w / args.steps * 1e3:.1f} ms per step; runs {', '.join(f'{x:.2f}' for x in witnessed)}"),
        ("  the same until the last checkpoint is cosigned", f"{d:.2f} s", f"runs {', '.join(f'{x:.2f}' for x in drained)}; "
                                                                           f"records cosigned {', '.join(map(str, cosigned))}; "
                                                                           f"checkpoints sent {', '.join(map(str, sent))}"),
        ("with a witness / without (target ≤ 1.3×)", f"{w / p:.2f}×", "met" if w / p <= 1.3 else "MISSED"),
        ("with a witness, drained / without", f"{d / p:.2f}×", ""),
    ]
    ssh_version = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip()
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {ssh_version}")
    print(f"median of {args.repeat}; steps log in as {args.user}; the witness's forced command runs as root\n")
    width = max(len(r[0]) for r in rows)
    print(f"{'measurement'.ljust(width)} | {'result':>8} | detail")
    print(f"{'-' * width}-|-{'-' * 8}-|-{'-' * 40}")
    for name, value, detail in rows:
        print(f"{name.ljust(width)} | {value:>8} | {detail}")


if __name__ == "__main__":
    main()
