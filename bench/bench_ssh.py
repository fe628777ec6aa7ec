"""Benchmark SshTransport against OpenSSH's own client, on a private sshd started here.

    .venv/bin/python bench/bench_ssh.py [--commands 200] [--lines 1000000] [--repeat 3]

(a) N sequential trivial commands: SshTransport (one reused connection) vs a fresh
    `ssh host true` each time vs OpenSSH ControlMaster (multiplexed, like ours).
(b) `seq 1 LINES` streamed through SshTransport (chunks counted, bytes checked) vs
    `ssh host seq 1 LINES > /dev/null`.
Every ratio compares numbers measured in the same run, on the same sshd. Needs root (the
sshd switches users) and openssh-server / openssh-client. Not part of the test suite.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hamn_tui.transport.ssh import SshTransport  # noqa: E402
from tests.sshd_fixture import TEST_USER, SshdLab, lab_dir  # noqa: E402


def ssh_argv(lab: SshdLab, user: str, *extra: str) -> list[str]:
    return ["ssh", "-F", "/dev/null", "-p", str(lab.port), "-i", str(lab.client_key),
            "-o", f"UserKnownHostsFile={lab.known_hosts}", "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", *extra, f"{user}@{lab.host}"]


def timed_ssh(argv: list[str], command: str, devnull: bool = False) -> float:
    t = time.perf_counter()
    subprocess.run([*argv, command], check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL if devnull else subprocess.PIPE)
    return time.perf_counter() - t


async def transport_sequential(cluster, n: int) -> tuple[float, list[float], int]:
    """Total wall time for n commands including the first connect; per-command times."""
    t = SshTransport(cluster)
    per: list[float] = []
    try:
        start = time.perf_counter()
        for _ in range(n):
            s = time.perf_counter()
            r = await t.run("mn1", "true")
            assert r.ok, r
            per.append(time.perf_counter() - s)
        return time.perf_counter() - start, per, t.connects
    finally:
        await t.close()


async def transport_stream(cluster, lines: int, expect: int) -> tuple[float, float, int]:
    """(cold seconds incl. connect, warm seconds on the reused connection, chunks of the warm run)."""
    t = SshTransport(cluster)
    try:
        counts = {"chunks": 0, "bytes": 0}

        def sink(stream: str, chunk: bytes) -> None:
            counts["chunks"] += 1
            counts["bytes"] += len(chunk)

        s = time.perf_counter()
        r = await t.run("mn1", f"seq 1 {lines}", on_output=sink)
        cold = time.perf_counter() - s
        assert r.ok and r.stdout_bytes == expect and counts["bytes"] == expect, (r, counts)
        counts = {"chunks": 0, "bytes": 0}
        s = time.perf_counter()
        r = await t.run("mn1", f"seq 1 {lines}", on_output=sink)
        warm = time.perf_counter() - s
        assert r.ok and counts["bytes"] == expect
        return cold, warm, counts["chunks"]
    finally:
        await t.close()


async def engine_sequential(cluster, n: int, journal_dir: Path) -> float:
    """n one-command steps through the whole engine: runner, events, journal (fsync per command)."""
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
    t = SshTransport(cluster)
    journal = AuditWriter(journal_dir / "bench.journal.jsonl")
    ctx = RunContext({}, cluster, bind_roles(cluster))
    runner = Runner(rb, ctx, t, host_probes(t, cluster), ScriptedOperator([]), run_id="bench", subscribers=[journal])
    try:
        start = time.perf_counter()
        assert await runner.run() == "done"
        return time.perf_counter() - start
    finally:
        journal.close()
        await t.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--commands", type=int, default=200)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3, help="stream runs per variant (median reported)")
    ap.add_argument("--user", default=TEST_USER,
                    help="login user (default: the test user, whose .bashrc is Debian's; root's may do more)")
    args = ap.parse_args()
    n, lines = args.commands, args.lines
    expect = sum(len(str(i)) + 1 for i in range(1, lines + 1))

    lab = SshdLab(lab_dir(), remove_dir=True).start()
    cm_dir = tempfile.mkdtemp(prefix="hamn-cm-")
    cm = ["-o", "ControlMaster=auto", "-o", f"ControlPath={cm_dir}/cm-%C", "-o", "ControlPersist=120"]
    rows: list[tuple[str, str, str]] = []
    try:
        cluster = lab.cluster(Path(lab.dir) / "cluster.toml", ssh_user=args.user)
        plain = ssh_argv(lab, args.user)
        muxed = ssh_argv(lab, args.user, *cm)

        # (a) sequential trivial commands
        total, per, connects = asyncio.run(transport_sequential(cluster, n))
        fresh = [timed_ssh(plain, "true") for _ in range(n)]
        master_first = timed_ssh(muxed, "true")
        master = [timed_ssh(muxed, "true") for _ in range(n)]
        a_ours, a_fresh, a_cm = total, sum(fresh), master_first + sum(master)
        rows += [
            (f"(a) {n}× true: SshTransport, one connection ({connects} connect)",
             f"{a_ours:.2f} s", f"median {statistics.median(per) * 1e3:.1f} ms, p95 "
             f"{sorted(per)[int(0.95 * n) - 1] * 1e3:.1f} ms"),
            (f"(a) {n}× fresh `ssh host true`", f"{a_fresh:.2f} s",
             f"median {statistics.median(fresh) * 1e3:.1f} ms"),
            (f"(a) {n}× ssh with ControlMaster (incl. master setup)", f"{a_cm:.2f} s",
             f"first {master_first * 1e3:.0f} ms, then median {statistics.median(master) * 1e3:.1f} ms"),
            ("(a) speed-up vs fresh ssh (target ≥ 10×)", f"{a_fresh / a_ours:.1f}×", ""),
            ("(a) time vs ControlMaster (target ≤ 1.5×)", f"{a_ours / a_cm:.2f}×", ""),
        ]

        # (a') the same through the engine, as a runbook of n steps
        e_total = asyncio.run(engine_sequential(cluster, n, Path(lab.dir)))
        rows += [
            (f"(a') {n} one-command steps through the engine (runner + journal)", f"{e_total:.2f} s",
             f"{e_total / n * 1e3:.1f} ms per step"),
            ("(a') engine speed-up vs fresh ssh (target ≥ 10×)", f"{a_fresh / e_total:.1f}×", ""),
            ("(a') engine time vs ControlMaster (target ≤ 1.5×)", f"{e_total / a_cm:.2f}×", ""),
        ]

        # (b) streaming a million lines
        cold, warm, chunks = [], [], []
        for _ in range(args.repeat):
            c, w, k = asyncio.run(transport_stream(cluster, lines, expect))
            cold.append(c)
            warm.append(w)
            chunks.append(k)
        ssh_fresh = [timed_ssh(plain, f"seq 1 {lines}", devnull=True) for _ in range(args.repeat)]
        ssh_cm = [timed_ssh(muxed, f"seq 1 {lines}", devnull=True) for _ in range(args.repeat)]
        b_cold, b_warm = statistics.median(cold), statistics.median(warm)
        b_fresh, b_cm = statistics.median(ssh_fresh), statistics.median(ssh_cm)
        mb = expect / 1e6
        rows += [
            (f"(b) seq 1 {lines} via SshTransport, incl. connect", f"{b_cold:.3f} s",
             f"{mb / b_cold:.0f} MB/s, {statistics.median(chunks):.0f} chunks"),
            (f"(b) seq 1 {lines} via SshTransport, reused connection", f"{b_warm:.3f} s", f"{mb / b_warm:.0f} MB/s"),
            (f"(b) fresh `ssh host seq 1 {lines} > /dev/null`", f"{b_fresh:.3f} s", f"{mb / b_fresh:.0f} MB/s"),
            (f"(b) ControlMaster `ssh host seq 1 {lines} > /dev/null`", f"{b_cm:.3f} s", f"{mb / b_cm:.0f} MB/s"),
            ("(b) SshTransport incl. connect vs fresh ssh (target ≤ 2×)", f"{b_cold / b_fresh:.2f}×", ""),
            ("(b) SshTransport reused vs ControlMaster", f"{b_warm / b_cm:.2f}×", ""),
        ]
    finally:
        subprocess.run([*ssh_argv(lab, args.user, *cm)[:-1], "-O", "exit", f"{args.user}@{lab.host}"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        lab.stop()
        subprocess.run(["rm", "-rf", cm_dir])

    ssh_version = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip()
    import asyncssh

    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"asyncssh {asyncssh.__version__}, {ssh_version}")
    print(f"payload (b): {expect} bytes; sshd on 127.0.0.1, login {args.user}, ed25519 keys\n")
    w = max(len(r[0]) for r in rows)
    print(f"{'measurement'.ljust(w)} | {'result':>9} | detail")
    print(f"{'-' * w}-|-{'-' * 9}-|-{'-' * 40}")
    for name, value, detail in rows:
        print(f"{name.ljust(w)} | {value:>9} | {detail}")


if __name__ == "__main__":
    main()
