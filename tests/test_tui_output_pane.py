"""The output feed and pane: safe lines, secrets kept out, bounded memory, and a view that stays put."""
from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import Log, Static

from hamn_tui.record.events import CommandFinished, OutputChunk, StepStarted
from hamn_tui.engine.operator import AutoOperator
from hamn_tui.engine.runner import Runner
from hamn_tui.probes.host import host_probes
from hamn_tui.runbook.context import RunContext, resolve_params
from hamn_tui.runbook.loader import runbook_from_document
from hamn_tui.inputs.toml_file import parse_toml_text
from hamn_tui.transport.local import LocalTransport
from hamn_tui.tui.output_feed import OutputFeed
from hamn_tui.tui.widgets.output_pane import OutputPane


def chunk(data: bytes, step: str = "s", node: str = "n", stream: str = "stdout") -> OutputChunk:
    return OutputChunk(step, node, stream, data)


def finished(step: str = "s", node: str = "n") -> CommandFinished:
    return CommandFinished(step, node, "exited", 0, None, 0, 0, 0)


def all_lines(feed: OutputFeed) -> dict[tuple[str, str], list[str]]:
    out: dict[tuple[str, str], list[str]] = {}
    for key, lines in feed.drain():
        out.setdefault(key, []).extend(lines)
    return out


# --- OutputFeed alone -----------------------------------------------------------------------------------

def test_feed_joins_utf8_and_lines_split_at_every_byte():
    data = "héllo wörld ✓\nzweite Zeile €\ntail ü".encode()
    for cut in range(1, len(data)):
        feed = OutputFeed()
        feed.feed(chunk(data[:cut]))
        feed.feed(chunk(data[cut:]))
        got = all_lines(feed)
        assert got == {("s", "n"): ["héllo wörld ✓", "zweite Zeile €"]}, cut
        feed.feed(finished())
        assert all_lines(feed) == {("s", "n"): ["tail ü"]}


def test_feed_invalid_utf8_is_replaced_not_raised():
    feed = OutputFeed()
    feed.feed(chunk(b"bad \xff\xfe bytes\n\xe2\x82"))  # and a truncated € at the end
    feed.feed(finished())
    assert all_lines(feed)[("s", "n")] == ["bad \ufffd\ufffd bytes", "\ufffd"]


def test_feed_removes_escape_sequences_even_split_across_chunks():
    data = b"\x1b[2Jcleared\n\x1b]0;title\x07after-osc\n\x1b[31mred\x1b[0m plain\n\x1b[1;32mbold green\x1b[m\r\n"
    for cut in range(1, len(data)):
        feed = OutputFeed()
        feed.feed(chunk(data[:cut]))
        feed.feed(chunk(data[cut:]))
        feed.feed(finished())
        lines = all_lines(feed)[("s", "n")]
        assert lines == ["cleared", "after-osc", "red plain", "bold green"], (cut, lines)


def test_feed_drops_c1_controls_and_unicode_line_separators():
    feed = OutputFeed()
    feed.feed(chunk("a\u009d8;;evil\u009cb\u2028c\u0085d\n".encode()))
    assert all_lines(feed)[("s", "n")] == ["a8;;evilbcd"]


def test_feed_redacts_a_secret_split_anywhere():
    secret = "s3cr3t-Pa55"
    data = f"pw={secret} again:{secret}\nnext {secret[:4]}".encode()
    for cut in range(1, len(data)):
        for cut2 in (cut, min(cut + 3, len(data))):
            feed = OutputFeed([secret])
            for part in (data[:cut], data[cut:cut2], data[cut2:]):
                feed.feed(chunk(part))
            feed.feed(finished())
            lines = all_lines(feed)[("s", "n")]
            assert lines == ["pw=****** again:******", "next s3cr"], (cut, cut2, lines)


def test_feed_redacts_a_secret_hidden_by_colour_codes():
    feed = OutputFeed(["hunter2"])
    feed.feed(chunk(b"pw: hun\x1b[0mter2\n"))
    assert all_lines(feed)[("s", "n")] == ["pw: ******"]


def test_feed_keeps_streams_partial_lines_apart_and_interleaves_complete_ones():
    feed = OutputFeed()
    feed.feed(chunk(b"out-a", stream="stdout"))
    feed.feed(chunk(b"err-1\nerr-", stream="stderr"))
    feed.feed(chunk(b"-b\nout-2\n", stream="stdout"))
    feed.feed(chunk(b"2\n", stream="stderr"))
    assert all_lines(feed) == {("s", "n"): ["err-1", "out-a-b", "out-2", "err-2"]}
    marked = OutputFeed(mark_stderr="! ")
    marked.feed(chunk(b"o\n"))
    marked.feed(chunk(b"e\n", stream="stderr"))
    assert all_lines(marked) == {("s", "n"): ["o", "! e"]}


def test_feed_groups_per_key_in_first_arrival_order_and_drain_empties():
    feed = OutputFeed()
    feed.feed(chunk(b"b1\n", node="nb"))
    feed.feed(chunk(b"a1\n", node="na"))
    feed.feed(chunk(b"b2\n", node="nb"))
    feed.feed(StepStarted("s", 0, 1, "t", "command", "nb"))  # other events are ignored
    assert feed.drain() == [(("s", "nb"), ["b1", "b2"]), (("s", "na"), ["a1"])]
    assert feed.drain() == []


def test_feed_flushes_only_the_finished_command():
    feed = OutputFeed()
    feed.feed(chunk(b"tail-a", node="a"))
    feed.feed(chunk(b"tail-b", node="b"))
    feed.feed(finished(node="a"))
    assert all_lines(feed) == {("s", "a"): ["tail-a"]}
    feed.flush("s", "b")
    assert all_lines(feed) == {("s", "b"): ["tail-b"]}


def test_feed_cuts_an_endless_line_into_bounded_pieces():
    feed = OutputFeed(max_partial=1000)
    for _ in range(10):
        feed.feed(chunk(b"x" * 300))
    lines = all_lines(feed)[("s", "n")]
    assert lines and all(len(line) <= 1300 for line in lines)
    feed.feed(finished())
    assert sum(map(len, lines + all_lines(feed)[("s", "n")])) == 3000


def test_feed_drain_tail_keeps_the_newest_lines_and_counts_all():
    feed = OutputFeed()
    for start in range(0, 100, 10):
        feed.feed(chunk("".join(f"l{i}\n" for i in range(start, start + 10)).encode(), node="a"))
    feed.feed(chunk(b"b0\n", node="b"))
    assert feed.drain_tail(25) == [(("s", "a"), [f"l{i}" for i in range(75, 100)], 100), (("s", "b"), ["b0"], 1)]
    feed.feed(chunk(b"x\ny\nz\n"))
    assert feed.drain_tail(1) == [(("s", "n"), ["z"], 3)]
    assert feed.drain_tail(1) == []


def test_feed_a_million_lines_in_64k_chunks_keeps_every_line_in_order():
    """Lines split across chunk boundaries at every offset a 64 KiB read gives: none lost,
    none joined, in order (its speed is bench/bench_output_pane.py's business, not a test's)."""
    data = "".join(f"{i}\n" for i in range(1, 1_000_001)).encode()
    chunks = [chunk(data[i:i + 65536]) for i in range(0, len(data), 65536)]
    feed = OutputFeed(["hunter2"])
    got: list[str] = []
    for c in chunks:
        feed.feed(c)
        for _, lines in feed.drain():
            got.extend(lines)
    assert len(got) == 1_000_000
    assert got[0] == "1" and got[-1] == "1000000"
    assert all(int(a) + 1 == int(b) for a, b in zip(got[::9973], got[1::9973]))


# --- the pane, in a real (headless) app -----------------------------------------------------------------

class PaneApp(App[None]):
    def __init__(self, **pane_args) -> None:
        super().__init__()
        self.pane_args = pane_args

    def compose(self) -> ComposeResult:
        yield OutputPane(**self.pane_args)


def marker(app: App) -> Static:
    return app.query_one("#output-marker", Static)


def header(app: App) -> str:
    return str(app.query_one("#output-header", Static).render())


def test_pane_through_a_feed_shows_safe_lines_only():
    async def main() -> None:
        app = PaneApp()
        async with app.run_test(size=(80, 24)) as pilot:
            pane = app.query_one(OutputPane)
            feed = OutputFeed(["hunter2"])
            pane.attach(feed, interval=0.01)
            data = "é\x1b[2J\x1b]0;pwnedtitle\x07\x1b[31mred\x1b[0m pw=hunter2 ✓\nnext\r\nlast hun".encode()
            for i in range(0, len(data), 3):  # split mid-UTF-8, mid-escape and mid-secret
                feed.feed(chunk(data[i:i + 3]))
            feed.feed(chunk(b"ter2"))
            feed.feed(finished())
            for _ in range(50):
                await pilot.pause(0.02)
                if len(pane.log_widget.lines) >= 3:
                    break
            lines = list(pane.log_widget.lines)
            assert lines == ["éred pw=****** ✓", "next", "last ******"]
            screen = app.export_screenshot()
            assert "hunter2" not in screen and "pwnedtitle" not in screen
            assert not any("\x1b" in line or "hun" in line for line in lines)

    asyncio.run(main())


def test_pane_with_one_node_has_no_node_strip():
    async def main() -> None:
        app = PaneApp()
        async with app.run_test(size=(80, 24)) as pilot:
            pane = app.query_one(OutputPane)
            pane.append("check", "mn1", ["ok"])
            await pilot.pause()
            assert header(app).strip() == "check  mn1"
            assert pane.step == "check" and pane.node == "mn1"

    asyncio.run(main())


def test_pane_scrollback_is_bounded_and_ends_with_the_last_line():
    async def main() -> None:
        app = PaneApp()
        async with app.run_test(size=(80, 24)) as pilot:
            pane = app.query_one(OutputPane)
            assert pane.max_lines == 20_000
            for start in range(0, 50_000, 5_000):
                pane.append("s", "n", [f"line {i}" for i in range(start, start + 5_000)])
                await pilot.pause()
            log = pane.log_widget
            assert len(log.lines) <= pane.max_lines
            assert log.lines[-1] == "line 49999"
            assert log.lines[0] == f"line {50_000 - len(log.lines)}"
            assert len(pane.buffered("s", "n")) == pane.max_lines
            assert log.scroll_y == log.max_scroll_y  # following: the last line is on screen
            assert "showing last 20,000 lines" in header(app) and "audit log" in header(app)

    asyncio.run(main())


def test_pane_writes_in_batches_never_a_line_at_a_time(monkeypatch):
    calls: list[int] = []
    original = Log.write_lines

    def write_lines(self, lines, scroll_end=None):
        lines = list(lines)
        calls.append(len(lines))
        return original(self, lines, scroll_end)

    def write_line(self, line, scroll_end=None):
        raise AssertionError("per-line write")

    monkeypatch.setattr(Log, "write_lines", write_lines)
    monkeypatch.setattr(Log, "write_line", write_line)

    async def main() -> None:
        app = PaneApp()
        async with app.run_test(size=(80, 24)) as pilot:
            pane = app.query_one(OutputPane)
            calls.clear()
            for i in range(200):  # 200 appends in one handler: one write
                pane.append("s", "n", [f"l{i}"])
            await pilot.pause()
            assert calls == [200]

    asyncio.run(main())


def test_pane_measures_widths_inline_without_a_thread_per_write(monkeypatch):
    from textual.worker_manager import WorkerManager

    started: list[str] = []
    original = WorkerManager.add_worker

    def add_worker(self, worker, *args, **kwargs):
        started.append(worker.name)
        return original(self, worker, *args, **kwargs)

    monkeypatch.setattr(WorkerManager, "add_worker", add_worker)

    async def main() -> None:
        app = PaneApp()
        async with app.run_test(size=(80, 24)) as pilot:
            pane = app.query_one(OutputPane)
            for i in range(20):
                pane.append("s", "n", [f"l{i}"])
                await pilot.pause()
            pane.append("s", "n", ["x" * 100, "全角" * 30, "\tindented"])
            await pilot.pause()
            assert started == []  # Log would start one thread worker per write
            assert pane.log_widget.virtual_size.width == 120  # 60 wide characters, 2 cells each

    asyncio.run(main())


def test_scrolled_up_the_view_stays_and_the_marker_counts_then_end_follows():
    async def main() -> None:
        app = PaneApp()
        async with app.run_test(size=(80, 24)) as pilot:
            pane = app.query_one(OutputPane)
            log = pane.log_widget
            pane.append("s", "n", [f"old {i}" for i in range(500)])
            await pilot.pause()
            log.focus()
            assert not marker(app).display
            await pilot.press("pageup", "pageup")
            await pilot.pause()
            assert pane.following is False
            y = log.scroll_y
            top = log.lines[int(y)]
            for i in range(0, 1234, 100):
                pane.append("s", "n", [f"new {j}" for j in range(i, min(i + 100, 1234))])
                await pilot.pause()
            assert log.scroll_y == y and log.lines[int(y)] == top  # the view did not move
            assert pane.new_lines == 1234
            assert marker(app).display
            assert str(marker(app).render()) == "+1,234 new lines (End to follow)"
            await pilot.press("end")
            await pilot.pause()
            assert pane.following is True and pane.new_lines == 0
            assert not marker(app).display
            assert log.lines[-1] == "new 1233" and log.scroll_y == log.max_scroll_y
            pane.append("s", "n", ["newest"])
            await pilot.pause()
            assert log.lines[-1] == "newest" and log.scroll_y == log.max_scroll_y

    asyncio.run(main())


def test_scrolled_up_even_past_max_lines_the_view_stays():
    async def main() -> None:
        app = PaneApp(max_lines=1_000)
        async with app.run_test(size=(80, 24)) as pilot:
            pane = app.query_one(OutputPane)
            log = pane.log_widget
            pane.append("s", "n", [f"old {i}" for i in range(1_000)])
            await pilot.pause()
            log.focus()
            await pilot.press("home")
            await pilot.pause()
            assert pane.following is False and log.lines[0] == "old 0"
            pane.append("s", "n", [f"new {i}" for i in range(3_000)])  # would prune everything shown
            await pilot.pause()
            assert log.scroll_y == 0 and log.lines[0] == "old 0"
            assert pane.new_lines == 3_000
            pane.follow()
            await pilot.pause()
            assert list(log.lines) == [f"new {i}" for i in range(2_000, 3_000)]

    asyncio.run(main())


def test_a_flood_through_the_feed_is_bounded_and_counted_exactly():
    async def main() -> None:
        app = PaneApp(max_lines=1_000)
        async with app.run_test(size=(80, 24)) as pilot:
            pane = app.query_one(OutputPane)
            feed = OutputFeed()
            pane.attach(feed, interval=0.01)
            pane.append("s", "n", [f"old {i}" for i in range(100)])
            await pilot.pause()
            pane.log_widget.focus()
            await pilot.press("pageup")
            await pilot.pause()
            data = "".join(f"{i}\n" for i in range(50_000)).encode()
            for i in range(0, len(data), 4096):
                feed.feed(chunk(data[i:i + 4096]))
            await pilot.pause(0.1)
            assert pane.new_lines == 50_000 and str(marker(app).render()) == "+50,000 new lines (End to follow)"
            await pilot.press("end")
            await pilot.pause()
            assert list(pane.log_widget.lines) == [str(i) for i in range(49_000, 50_000)]
            assert "showing last 1,000 lines" in header(app)

    asyncio.run(main())


def test_two_nodes_are_kept_apart_and_brackets_switch():
    async def main() -> None:
        app = PaneApp()
        async with app.run_test(size=(80, 24)) as pilot:
            pane = app.query_one(OutputPane)
            feed = OutputFeed()
            pane.attach(feed, interval=0.01)
            for i in range(5):
                feed.feed(chunk(f"a{i}\n".encode(), node="mn1"))
                feed.feed(chunk(f"b{i}\n".encode(), node="mn2"))
            await pilot.pause(0.1)
            log = pane.log_widget
            assert list(log.lines) == [f"a{i}" for i in range(5)]
            assert "[mn1]" in header(app) and "mn2*" in header(app)  # mn2 printed, not yet seen
            log.focus()
            await pilot.press("right_square_bracket")
            await pilot.pause()
            assert pane.node == "mn2" and list(log.lines) == [f"b{i}" for i in range(5)]
            assert "[mn2]" in header(app) and "*" not in header(app)
            await pilot.press("left_square_bracket")
            await pilot.pause()
            assert list(log.lines) == [f"a{i}" for i in range(5)]

    asyncio.run(main())


def test_show_step_switches_content_and_keeps_other_steps():
    async def main() -> None:
        app = PaneApp(max_lines=100)
        async with app.run_test(size=(80, 24)) as pilot:
            pane = app.query_one(OutputPane)
            pane.append("one", "n", ["first step"])
            pane.append("two", "n", [f"second {i}" for i in range(300)])
            await pilot.pause()
            assert pane.step == "one" and list(pane.log_widget.lines) == ["first step"]
            pane.show_step("two")
            await pilot.pause()
            assert list(pane.log_widget.lines) == [f"second {i}" for i in range(200, 300)]  # bounded per step
            pane.show_step("one")
            await pilot.pause()
            assert list(pane.log_widget.lines) == ["first step"]
            pane.show_step("three")  # no output yet: empty, and its output shows when it comes
            await pilot.pause()
            assert list(pane.log_widget.lines) == []
            pane.append("three", "n", ["third"])
            await pilot.pause()
            assert list(pane.log_widget.lines) == ["third"]
            pane.clear()
            await pilot.pause()
            assert list(pane.log_widget.lines) == [] and pane.step is None and pane.nodes("two") == []

    asyncio.run(main())


def test_a_real_command_through_the_runner_reaches_the_pane_safely(tmp_path: Path):
    book = textwrap.dedent("""
        [runbook]
        id = "t"
        title = "t"
        version = "1"
        databases = ["db2"]
        summary = "s"

        [[steps]]
        id = "noisy"
        title = "colours, a title escape, a split secret, stderr"
        run = "printf '\\\\033[31mred\\\\033[0m\\\\n\\\\033]0;pwned\\\\007ok\\\\n pw=s3cr3'; sleep 0.2; printf 't-Pa55\\\\n'; echo to-stderr >&2; seq 1 3000"
        confirm = "none"
        mutating = false
    """)
    rb = runbook_from_document(parse_toml_text(book, "t.toml"), None, "t")

    async def main() -> None:
        app = PaneApp()
        async with app.run_test(size=(80, 24)) as pilot:
            pane = app.query_one(OutputPane)
            feed = OutputFeed(["s3cr3t-Pa55"])
            pane.attach(feed)
            transport = LocalTransport()
            runner = Runner(rb, RunContext(resolve_params(rb, {}, None)), transport, host_probes(transport, None),
                            AutoOperator(), run_id="r1", subscribers=[feed.feed])
            assert await runner.run() == "done"
            await pilot.pause(0.2)
            lines = list(pane.log_widget.lines)
            assert lines[:3] == ["red", "ok", " pw=******"], lines[:5]
            assert "to-stderr" in lines and [x for x in lines if x.isdigit()] == [str(i) for i in range(1, 3001)]
            assert not any("\x1b" in line or "pwned" in line or "s3cr3t" in line for line in lines)

    asyncio.run(main())
