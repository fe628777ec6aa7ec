"""Benchmark the TUI output pane: 1,000,000 lines from a real command through the real engine.

    .venv/bin/python bench/bench_output_pane.py [--lines 1000000] [--repeat 3] [--trace]

Every mode runs `seq 1 LINES` as a one-step runbook through `Runner` + `LocalTransport`
(64 KiB reads), each in a fresh subprocess so that peak RSS (`ru_maxrss`) belongs to that
mode alone. Modes:

- shell:   `seq 1 LINES > /dev/null` under /bin/sh, for context (no Python, no engine).
- devnull: the engine, with one subscriber that writes every output chunk to /dev/null. The
           baseline: the same command, engine and events, and no display.
- feed:    the engine with `OutputFeed.feed` as subscriber, drained every 64 chunks (no Textual):
           the cost of decoding, neutralising, redacting and splitting into lines.
- pane:    the engine inside a headless Textual app (`App.run_test(size=(80, 24))`) whose
           `OutputPane` is attached to the feed (30 Hz pull loop, default max_lines 20,000).
           Timed until the pane shows the last line. Meanwhile a task sends the key `k` (bound
           to a trivial action) every 50 ms through the app's driver, as terminal input
           arrives; latency = send to the action's handler running. (`pilot.press` itself
           waits for the app to be idle, which it never is during a flood.)
- idle:    the same app running `true`, to show the memory Python + Textual cost by themselves.

Wall time is the median over --repeat runs; RSS is the largest peak. --trace adds tracemalloc
(Python allocations only; it slows the run, so the times of a traced run are not reported).
Not part of the test suite.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

BOOK = """
[runbook]
id = "bench"
title = "output flood"
version = "1"
databases = ["db2"]
summary = "one step printing many lines"

[[steps]]
id = "flood"
title = "flood"
run = "{command}"
confirm = "none"
mutating = false
"""


PRINTER = """import sys
n = int(sys.argv[1])
out = sys.stdout.buffer
for i in range(1, n + 1, 100):
    out.write("".join(f"{j}\\n" for j in range(i, min(i + 100, n + 1))).encode())
    out.flush()
"""


def command_for(kind: str, lines: int) -> str:
    """`seq`: one fast burst; `py`: a Python printer flushing every 100 lines (many small chunks, a longer flood)."""
    if kind == "seq":
        return f"seq 1 {lines}"
    printer = Path(os.environ.get("TMPDIR", "/tmp")) / "hamn_bench_printer.py"
    printer.write_text(PRINTER)
    return f"{sys.executable} {printer} {lines}"


def _runner(command: str, subscribers: list) -> object:
    from hamn_tui.engine.operator import AutoOperator
    from hamn_tui.engine.runner import Runner
    from hamn_tui.probes.host import host_probes
    from hamn_tui.runbook.context import RunContext, resolve_params
    from hamn_tui.runbook.loader import runbook_from_document
    from hamn_tui.inputs.toml_file import parse_toml_text
    from hamn_tui.transport.local import LocalTransport

    rb = runbook_from_document(parse_toml_text(BOOK.format(command=command), "bench.toml"), None, "bench")
    transport = LocalTransport()
    return Runner(rb, RunContext(resolve_params(rb, {}, None)), transport, host_probes(transport, None),
                  AutoOperator(), run_id="bench", subscribers=subscribers)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def mode_devnull(lines: int, command: str) -> dict:
    from hamn_tui.record.events import OutputChunk

    sink = open(os.devnull, "wb")
    count = [0]

    def sub(event: object) -> None:
        if type(event) is OutputChunk:
            sink.write(event.data)
            count[0] += len(event.data)

    runner = _runner(command, [sub])
    start = time.perf_counter()
    outcome = asyncio.run(runner.run())
    elapsed = time.perf_counter() - start
    assert outcome == "done", outcome
    return {"wall_s": elapsed, "bytes": count[0]}


def mode_feed(lines: int, command: str) -> dict:
    from hamn_tui.record.events import OutputChunk
    from hamn_tui.tui.output_feed import OutputFeed

    feed = OutputFeed(["hunter2"])  # one secret: the redaction path is on, as in a real run
    got = [0]
    chunks = [0]
    cpu = [0.0]

    def sub(event: object) -> None:
        t = time.process_time()
        feed.feed(event)
        if type(event) is OutputChunk:
            chunks[0] += 1
            if chunks[0] % 64 == 0:
                for _, batch in feed.drain():
                    got[0] += len(batch)
        cpu[0] += time.process_time() - t

    runner = _runner(command, [sub])
    start = time.perf_counter()
    outcome = asyncio.run(runner.run())
    for _, batch in feed.drain():
        got[0] += len(batch)
    elapsed = time.perf_counter() - start
    assert outcome == "done" and got[0] == lines, (outcome, got[0])
    return {"wall_s": elapsed, "feed_cpu_s": cpu[0], "chunks": chunks[0]}


def mode_pane(lines: int, command: str, idle: bool = False) -> dict:
    from textual import events
    from textual.app import App, ComposeResult

    from hamn_tui.tui.output_feed import OutputFeed
    from hamn_tui.tui.widgets.output_pane import OutputPane

    handled: list[float] = []

    class BenchApp(App[None]):
        BINDINGS = [("k", "ping", "ping")]

        def compose(self) -> ComposeResult:
            yield OutputPane()

        def action_ping(self) -> None:
            handled.append(time.perf_counter())

    result: dict = {}

    async def main() -> None:
        app = BenchApp()
        async with app.run_test(size=(80, 24)) as pilot:
            pane = app.query_one(OutputPane)
            feed = OutputFeed(["hunter2"])
            pane.attach(feed)
            runner = _runner("true" if idle else command, [feed.feed])
            latencies: list[float] = []
            done = asyncio.Event()

            async def presser() -> None:
                # The key goes in as the terminal driver's input thread sends it (what
                # `pilot.press` does, minus its wait for idle, which a flood never gives).
                driver = app._driver
                assert driver is not None
                while not done.is_set():
                    before = len(handled)
                    key = events.Key("k", "k")
                    key.set_sender(app)
                    t0 = time.perf_counter()
                    driver.send_message(key)
                    while len(handled) == before:
                        await asyncio.sleep(0.0005)
                    latencies.append(handled[before] - t0)
                    await asyncio.sleep(0.05)

            keys = asyncio.create_task(presser())
            start = time.perf_counter()
            outcome = await runner.run()
            ran = time.perf_counter() - start
            last = None if idle else str(lines)
            log = pane.log_widget
            while last is not None and not (log.lines and log.lines[-1] == last):
                await asyncio.sleep(0.005)
            shown = time.perf_counter() - start
            done.set()
            await keys
            assert outcome == "done", outcome
            assert len(log.lines) <= pane.max_lines
            result.update(wall_s=shown, runner_s=ran, pane_lines=len(log.lines), presses=len(latencies),
                          key_ms=[x * 1000 for x in latencies])

    asyncio.run(main())
    return result


def child(mode: str, lines: int, kind: str, trace: bool) -> None:
    if trace:
        import tracemalloc
        tracemalloc.start()
    command = command_for(kind, lines)
    if mode == "devnull":
        out = mode_devnull(lines, command)
    elif mode == "feed":
        out = mode_feed(lines, command)
    elif mode == "pane":
        out = mode_pane(lines, command)
    elif mode == "idle":
        out = mode_pane(lines, command, idle=True)
    else:
        raise SystemExit(f"unknown mode {mode}")
    out["rss_mb"] = _rss_mb()
    if trace:
        out["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 1e6
    print(json.dumps(out))


def run_child(mode: str, lines: int, kind: str, trace: bool = False) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--lines", str(lines), "--kind", kind] + (["--trace"] if trace else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--trace", action="store_true")
    ap.add_argument("--kind", choices=["seq", "py"], action="append", help="output source(s); default: both")
    ap.add_argument("--child")
    args = ap.parse_args()
    if args.child:
        child(args.child, args.lines, (args.kind or ["seq"])[0], args.trace)
        return
    print(f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.platform()}")
    for kind in args.kind or ["seq", "py"]:
        report(args, kind)


def report(args: argparse.Namespace, kind: str) -> None:

    command = command_for(kind, args.lines)
    shell = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        subprocess.run(f"{command} > /dev/null", shell=True, check=True)
        shell.append(time.perf_counter() - t)
    runs: dict[str, list[dict]] = {m: [run_child(m, args.lines, kind) for _ in range(args.repeat)] for m in ("devnull", "feed", "pane", "idle")}

    def med(mode: str, key: str = "wall_s") -> float:
        return statistics.median(r[key] for r in runs[mode])

    def peak(mode: str) -> float:
        return max(r["rss_mb"] for r in runs[mode])

    keys = [ms for r in runs["pane"] for ms in r["key_ms"]]
    base = med("devnull")
    print(f"\n== {kind}: `{command}`; lines: {args.lines:,}, repeat: {args.repeat} (median wall time, largest peak RSS)")
    print(f"shell   command > /dev/null              {statistics.median(shell):7.3f} s")
    print(f"devnull engine -> /dev/null (baseline)   {base:7.3f} s   peak RSS {peak('devnull'):6.1f} MB")
    print(f"feed    engine -> OutputFeed, drain()    {med('feed'):7.3f} s   peak RSS {peak('feed'):6.1f} MB"
          f"   feed CPU {med('feed', 'feed_cpu_s'):.3f} s in {runs['feed'][0]['chunks']} chunks (every line split)")
    print(f"pane    engine -> feed -> OutputPane     {med('pane'):7.3f} s   peak RSS {peak('pane'):6.1f} MB"
          f"   (runner done at {med('pane', 'runner_s'):.3f} s; pane holds {runs['pane'][0]['pane_lines']:,} lines)")
    print(f"idle    the same app running `true`      {med('idle'):7.3f} s   peak RSS {peak('idle'):6.1f} MB")
    ratio = med("pane") / base
    print(f"pane / devnull wall time: {ratio:.2f}x (target <= 3x: {'met' if ratio <= 3 else 'NOT met'})")
    print(f"pane peak RSS: {peak('pane'):.1f} MB (target < 200 MB: {'met' if peak('pane') < 200 else 'NOT met'})")
    if keys:
        print(f"key press -> handler during the flood: {len(keys)} presses, p50 {pct(keys, 50):.1f} ms, "
              f"p95 {pct(keys, 95):.1f} ms, max {max(keys):.1f} ms")
    if args.trace:
        traced = run_child("pane", args.lines, kind, trace=True)
        print(f"tracemalloc (pane, one traced run): peak Python allocations {traced['traced_peak_mb']:.1f} MB")


if __name__ == "__main__":
    main()
