"""Benchmark the audit log: appending with the fsync policy, and verifying a 100,000-record log
against plain `sha256sum` of the same file, measured in the same run.

    .venv/bin/python bench/bench_audit.py [--records 100000] [--steps 2000] [--repeat 3]

(a) Appending: the real writer (an engine subscriber) fed the events of STEPS command steps
    (step started, command sent, 1 KiB of output, command finished, step finished, then the
    signed checkpoint after each step): once with the shipped fsync policy (fsync before each
    mutating command and at each checkpoint; every other step here is mutating), once with
    fsync off, to show what the disk costs. Output blobs are written and fsynced as in a run.
(b) Verifying: a log of RECORDS records written by the same writer (fsync off, to build it
    quickly), in two shapes: command steps (a signed checkpoint every 5 records, the worst
    case for signature checks) and notes (a checkpoint every 64 records). Timed: the verifier
    in-process, `hamn audit verify` as a command (Python start-up included), and `sha256sum`.
Not part of the test suite.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from hamn_tui.audit.keys import _ed25519_signer  # noqa: E402
from hamn_tui.audit.verify import verify_path  # noqa: E402
from hamn_tui.audit.writer import AuditWriter  # noqa: E402
from hamn_tui.record.events import (  # noqa: E402
    CommandFinished, CommandSent, Note, OutputChunk, RunFinished, RunStarted, StepFinished, StepStarted,
)


def started() -> RunStarted:
    return RunStarted("bench-run", "bench", "1", "ab" * 32, "bench.toml", {"target": "mn2", "pw": "******"}, "lab",
                      {"primary": "mn1", "standby": "mn2"}, "root", False, False)


def step_events(n: int, output: bytes):
    sid = f"step-{n}"
    yield StepStarted(sid, n, 1_000_000, f"step {n}", "command", "standby")
    yield CommandSent(sid, "mn2", "xcatdb", "ssh", f"db2 get db cfg for XCATDB | grep -i hadr  # {n}", n % 2 == 0)
    yield OutputChunk(sid, "mn2", "stdout", output)
    yield CommandFinished(sid, "mn2", "exited", 0, None, 2100, len(output), 0)
    yield StepFinished(sid, "done")


def write_log(path: Path, records: int, shape: str, fsync: bool) -> tuple[int, float]:
    operator = _ed25519_signer(Ed25519PrivateKey.generate(), "operator", "memory", "bench@localhost")  # an operator key held in memory
    writer = AuditWriter(path, signer=operator, fsync=fsync)
    output = (b"HADR_ROLE = STANDBY\nHADR_STATE = PEER\n" * 28)[:1000]
    t = time.perf_counter()
    writer(started())
    n = 0
    while writer.seq < records - 3:
        events = step_events(n, output + b"%d\n" % n) if shape == "steps" else [Note(f"note {n}: nothing happened, all is well", None)]
        for e in events:
            writer(e)
        n += 1
    writer(RunFinished("done"))
    elapsed = time.perf_counter() - t
    writer.close()
    return writer.seq, elapsed


def bench_append(tmp: Path, steps: int, repeat: int) -> None:
    print(f"(a) appending {steps} command steps through the writer")
    for fsync in (True, False):
        rates, per_step = [], []
        for r in range(repeat):
            d = tmp / f"append-{fsync}-{r}"
            records, elapsed = write_log(d / "audit-000.jsonl", steps * 6, "steps", fsync)
            rates.append(records / elapsed)
            per_step.append(elapsed / steps * 1e3)
            shutil.rmtree(d)
        label = "fsync policy (mutating commands, checkpoints)" if fsync else "fsync off (for comparison)"
        print(f"    {label:48} {statistics.median(rates):8.0f} records/s  ({statistics.median(per_step):.2f} ms per step; "
              f"runs: {', '.join(f'{x:.0f}' for x in rates)})")


def bench_verify(tmp: Path, records: int, repeat: int) -> None:
    print(f"(b) verifying a {records}-record log")
    for shape in ("steps", "notes"):
        d = tmp / f"verify-{shape}"
        n, _ = write_log(d / "audit-000.jsonl", records, shape, fsync=False)
        log = d / "audit-000.jsonl"
        size = log.stat().st_size
        inproc, cli, bare, sums = [], [], [], []
        for _ in range(repeat):
            t = time.perf_counter()
            report = verify_path(log)
            inproc.append(time.perf_counter() - t)
            assert report.status == "VALID", report.line
            t = time.perf_counter()
            out = subprocess.run([sys.executable, "-m", "hamn_tui", "audit", "verify", str(log)], capture_output=True, text=True, cwd=REPO)
            cli.append(time.perf_counter() - t)
            assert out.returncode == 0, out.stdout
            t = time.perf_counter()
            out = subprocess.run([sys.executable, "-m", "hamn_tui", "audit", "verify", "--no-outputs", str(log)], capture_output=True, text=True, cwd=REPO)
            bare.append(time.perf_counter() - t)
            assert out.returncode == 0, out.stdout
            t = time.perf_counter()
            subprocess.run(["sha256sum", str(log)], check=True, capture_output=True)
            sums.append(time.perf_counter() - t)
        sigs = sum(1 for r in report.records if r["type"] in ("log_open", "checkpoint", "log_close"))
        blobs = len(list((d / "outputs").glob("*.gz"))) if (d / "outputs").exists() else 0
        med = statistics.median
        print(f"    {shape}: {n} records, {size / 1e6:.1f} MB, {sigs} signed records, {blobs} output files")
        print(f"      verifier in-process        {med(inproc):6.3f} s   (runs {', '.join(f'{x:.3f}' for x in inproc)})")
        print(f"      hamn audit verify (CLI)    {med(cli):6.3f} s   (runs {', '.join(f'{x:.3f}' for x in cli)})")
        print(f"      … --no-outputs             {med(bare):6.3f} s   (runs {', '.join(f'{x:.3f}' for x in bare)})")
        print(f"      sha256sum                  {med(sums):6.3f} s   (runs {', '.join(f'{x:.3f}' for x in sums)})")
        print(f"      ratio CLI / sha256sum      {med(cli) / med(sums):6.1f}x")
        shutil.rmtree(d)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", help="where to write (default: a temp dir on the same disk as /tmp)")
    args = ap.parse_args()
    print(f"{platform.node()}: Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        bench_append(Path(tmp), args.steps, args.repeat)
        bench_verify(Path(tmp), args.records, args.repeat)


if __name__ == "__main__":
    main()
