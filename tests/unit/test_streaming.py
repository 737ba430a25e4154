"""The lab websocket's streaming pieces, without an engine or a socket."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from sandboxes.streaming import (
    BURST,
    LINE_OVERHEAD,
    THREAD_PREFIX,
    BuildRelay,
    LineAssembler,
    OutboundQueue,
    StreamPump,
    plain_text,
    post,
    wait_for_threads,
)

# --- LineAssembler ----------------------------------------------------------


def test_it_splits_chunks_into_whole_lines():
    asm = LineAssembler()
    assert asm.feed(b"one\ntw") == ["one"]
    assert asm.feed(b"o\nthree\n") == ["two", "three"]
    assert asm.flush() == []


def test_it_keeps_a_utf8_character_split_across_chunks():
    data = "café ☕\n".encode()
    asm = LineAssembler()
    lines = []
    for i in range(len(data)):
        lines += asm.feed(data[i : i + 1])
    assert lines == ["café ☕"]


def test_it_treats_crlf_as_one_line_end_even_when_split():
    asm = LineAssembler()
    assert asm.feed(b"a\r\nb\r") == ["a"]
    assert asm.feed(b"\nc") == ["b"]
    assert asm.flush() == ["c"]


def test_a_bare_carriage_return_redraws_the_line():
    asm = LineAssembler()
    assert asm.feed(b"10%\r50%\r") == []
    assert asm.feed(b"100%\n") == ["100%"]


def test_a_line_without_newline_is_cut_at_the_cap():
    asm = LineAssembler(max_line=4)
    assert asm.feed(b"abcdefghij") == ["abcd", "efgh"]
    assert asm.flush() == ["ij"]


def test_flush_returns_the_unfinished_tail_and_bad_bytes_become_replacement():
    asm = LineAssembler()
    assert asm.feed(b"ok\nhalf \xe2\x98") == ["ok"]
    assert asm.flush() == ["half \ufffd"]
    assert asm.flush() == []


def test_it_accepts_text_as_well_as_bytes():
    asm = LineAssembler()
    assert asm.feed("Step 1/2 : FROM x\n ---> abc\n") == ["Step 1/2 : FROM x", " ---> abc"]


def test_an_empty_line_is_kept():
    assert LineAssembler().feed(b"a\n\nb\n") == ["a", "", "b"]


# --- OutboundQueue ----------------------------------------------------------


class Recorder:
    """A socket stand-in that records frames and can be slow."""

    def __init__(self, delay: float = 0.0):
        self.frames: list[dict] = []
        self.delay = delay

    async def __call__(self, frame: dict) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        self.frames.append(frame)


async def test_a_quiet_socket_gets_a_line_at_once():
    rec = Recorder()
    out = OutboundQueue(rec, max_lines=100, batch_ms=200)
    out.start()
    out.lines("b1", ["hello"])
    await asyncio.sleep(0.05)  # far less than the batch window
    assert rec.frames == [{"type": "output", "stream": "b1", "lines": ["hello"], "skipped": 0}]
    await out.close()


async def test_lines_under_load_are_coalesced_into_few_frames():
    rec = Recorder()
    out = OutboundQueue(rec, max_lines=10_000, batch_ms=30)
    out.start()
    for i in range(200):
        out.lines("b1", [f"line {i}"])
        if i % 20 == 0:
            await asyncio.sleep(0.001)
    await asyncio.sleep(0.1)
    await out.close()
    lines = [line for f in rec.frames for line in f["lines"]]
    assert lines == [f"line {i}" for i in range(200)]
    assert 1 < len(rec.frames) < 20


async def test_control_frames_keep_their_place_between_lines():
    rec = Recorder()
    out = OutboundQueue(rec, max_lines=100, batch_ms=50)
    out.lines("b1", ["a"])
    out.frame({"type": "build.step", "stream": "b1", "step": 2})
    out.lines("b1", ["b"])
    out.lines("l2", ["x"])
    out.lines("b1", ["c"])
    types = [(f["type"], f.get("lines")) for f in out.drain()]
    assert types == [
        ("output", ["a"]),
        ("build.step", None),
        ("output", ["b"]),
        ("output", ["x"]),
        ("output", ["c"]),
    ]


def test_a_full_queue_drops_lines_and_counts_them_per_stream():
    out = OutboundQueue(Recorder(), max_lines=5, batch_ms=0)
    out.lines("b1", [str(i) for i in range(4)])
    out.lines("l2", ["x", "y", "z"])
    out.lines("b1", ["late"])
    assert out.queued_lines == 5
    frames = out.drain()
    assert frames[0] == {
        "type": "output",
        "stream": "b1",
        "lines": ["0", "1", "2", "3"],
        "skipped": 1,
    }
    assert frames[1] == {"type": "output", "stream": "l2", "lines": ["x"], "skipped": 2}
    # Once told, the count starts again.
    out.lines("b1", ["again"])
    assert out.drain()[0]["skipped"] == 0


def test_a_skipped_count_is_told_before_the_streams_end_frame():
    out = OutboundQueue(Recorder(), max_lines=2, batch_ms=0)
    out.lines("l1", ["a", "b"])
    out.drain()
    out.lines("l2", ["c", "d"])
    out.lines("l1", ["lost", "lost"])
    out.frame({"type": "logs.end", "stream": "l1"})
    frames = out.drain()
    assert frames == [
        {"type": "output", "stream": "l2", "lines": ["c", "d"], "skipped": 0},
        {"type": "output", "stream": "l1", "lines": [], "skipped": 2},
        {"type": "logs.end", "stream": "l1"},
    ]


async def test_a_slow_client_never_makes_the_queue_grow_past_its_bound():
    rec = Recorder(delay=0.02)
    out = OutboundQueue(rec, max_lines=50, batch_ms=5)
    out.start()
    sent = 0
    for _ in range(40):
        out.lines("l1", [f"n{sent + i}" for i in range(25)])
        sent += 25
        assert out.queued_lines <= 50
        await asyncio.sleep(0.002)
    await out.close()
    received = sum(len(f["lines"]) for f in rec.frames)
    skipped = sum(f["skipped"] for f in rec.frames)
    assert skipped > 0
    assert received + skipped == sent


async def test_closing_without_flush_sends_nothing_more():
    rec = Recorder()
    out = OutboundQueue(rec, max_lines=10, batch_ms=1000)
    out.start()
    await out.close(flush=False)
    out.lines("b1", ["after close"])
    await asyncio.sleep(0.01)
    assert rec.frames == []


# --- StreamPump -------------------------------------------------------------


class FakeStream:
    """A blocking stream like the engine's: yields chunks, close() unblocks it."""

    def __init__(self, chunks=(), *, block: bool = False, fail: Exception | None = None):
        self.chunks = list(chunks)
        self.block = block
        self.fail = fail
        self.closed = threading.Event()

    def __iter__(self):
        yield from self.chunks
        if self.fail:
            raise self.fail
        while self.block and not self.closed.is_set():
            self.closed.wait(0.01)
        if self.block:
            raise ConnectionError("stream closed")

    def close(self):
        self.closed.set()


class LineRelay:
    """A pump's transform: raw chunks into ("lines", [...]) items, as build relays do."""

    def __init__(self, name: str):
        self.assembler = LineAssembler()

    def __call__(self, chunk):
        lines = self.assembler.feed(chunk)
        return [("lines", lines)] if lines else []

    def tail(self):
        lines = self.assembler.flush()
        return [("lines", lines)] if lines else []


def _threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]


async def _pump(stream, relay, name="t"):
    loop = asyncio.get_running_loop()
    got: list = []
    ended: asyncio.Future = loop.create_future()
    pump = StreamPump(
        name,
        stream,
        loop=loop,
        deliver=got.extend,
        finish=lambda err: ended.done() or ended.set_result(err),
        transform=relay,
        tail=relay.tail,
    )
    pump.start()
    return pump, got, ended


async def test_a_pump_delivers_lines_and_ends_with_the_stream():
    stream = FakeStream([b"hello\nwor", b"ld\nno newline"])
    pump, got, ended = await _pump(stream, LineRelay("l1"))
    assert await asyncio.wait_for(ended, 2) is None
    assert [line for _, lines in got for line in lines] == ["hello", "world", "no newline"]
    assert stream.closed.is_set()
    assert wait_for_threads(timeout=2) == []


async def test_stopping_a_pump_closes_a_blocked_stream_and_ends_its_thread():
    before = _threads()
    stream = FakeStream([b"first\n"], block=True)
    pump, got, ended = await _pump(stream, LineRelay("l1"), name="blocked")
    await asyncio.sleep(0.05)
    assert any(n.endswith("blocked") for n in _threads())
    assert await asyncio.to_thread(pump.stop, 2) is True
    assert await asyncio.wait_for(ended, 2) is None  # a stop is not an error
    assert stream.closed.is_set()
    assert _threads() == before


async def test_a_failing_stream_reports_its_error():
    stream = FakeStream([b"x\n"], fail=ValueError("boom"))
    pump, got, ended = await _pump(stream, LineRelay("l1"))
    error = await asyncio.wait_for(ended, 2)
    assert isinstance(error, ValueError)


async def test_many_pumps_stopped_at_once_leave_no_thread_behind():
    before = len(_threads())
    pumps = []
    for i in range(8):
        pump, _, _ = await _pump(FakeStream(block=True), LineRelay(f"l{i}"), name=f"many{i}")
        pumps.append(pump)
    assert len(_threads()) == before + 8
    results = await asyncio.gather(*(asyncio.to_thread(p.stop, 2) for p in pumps))
    assert all(results)
    assert len(_threads()) == before


def test_a_pump_whose_loop_is_gone_still_ends():
    loop = asyncio.new_event_loop()
    stream = FakeStream([b"a\n"] * 10)
    pump = StreamPump("orphan", stream, loop=loop, deliver=print, finish=print)
    loop.close()
    pump.start()
    deadline = time.monotonic() + 2
    while pump.alive and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not pump.alive


# --- Relays -----------------------------------------------------------------


def test_build_events_become_steps_lines_and_a_successful_done():
    relay = BuildRelay("b1")
    emits = []
    for event in [
        {"kind": "step", "step": 1, "steps": 2, "text": "Step 1/2 : FROM python"},
        {"kind": "line", "text": " ---> abc"},
        {"kind": "line", "text": "123\n"},
        {"kind": "step", "step": 2, "steps": 2, "text": "Step 2/2 : COPY . ."},
        {"kind": "line", "text": "tail without newline"},
        {"kind": "done", "image": "flask-app:latest", "id": "sha256:1"},
    ]:
        emits += relay(event)
    assert emits == [
        (
            "frame",
            {
                "type": "build.step",
                "stream": "b1",
                "step": 1,
                "steps": 2,
                "text": "Step 1/2 : FROM python",
            },
        ),
        ("lines", [" ---> abc123"]),
        (
            "frame",
            {
                "type": "build.step",
                "stream": "b1",
                "step": 2,
                "steps": 2,
                "text": "Step 2/2 : COPY . .",
            },
        ),
        ("lines", ["tail without newline"]),
    ]
    assert relay.done_frame(None) == {
        "type": "build.done",
        "stream": "b1",
        "ok": True,
        "image": "flask-app:latest",
        "id": "sha256:1",
    }


def test_a_build_error_event_makes_a_failed_done():
    relay = BuildRelay("b1")
    relay({"kind": "line", "text": "/bin/sh: 1: nope: not found\n"})
    relay({"kind": "error", "message": "The command returned a non-zero code: 127"})
    frame = relay.done_frame(None)
    assert frame["ok"] is False
    assert "127" in frame["error"]


def test_a_build_stream_that_breaks_makes_a_failed_done():
    relay = BuildRelay("b1")
    frame = relay.done_frame(ConnectionError("reset"))
    assert frame["ok"] is False and frame["error"]


async def test_post_routes_lines_and_frames_into_the_outbox():
    out = OutboundQueue(Recorder(), max_lines=10, batch_ms=0)
    post(out, "b1", [("lines", ["a"]), ("frame", {"type": "build.step", "stream": "b1"})])
    assert [f["type"] for f in out.drain()] == ["output", "build.step"]


@pytest.mark.parametrize("junk", [None, 42, {"kind": "mystery"}])
def test_a_build_relay_ignores_items_it_does_not_understand(junk):
    assert BuildRelay("b")(junk) == []


def test_terminal_colours_and_control_characters_are_removed():
    asm = LineAssembler()
    raw = b"\x1b[31m\x1b[1mWARNING: dev server\x1b[0m\n\x1b]0;title\x07tab\there\x00\x07\n"
    assert asm.feed(raw) == ["WARNING: dev server", "tab\there"]


def test_plain_lines_are_left_alone():
    assert plain_text("just text, with ünïcode") == "just text, with ünïcode"


async def test_a_short_burst_is_sent_at_once_and_only_a_longer_flow_waits():
    rec = Recorder()
    out = OutboundQueue(rec, max_lines=100, batch_ms=300)
    out.start()
    for i in range(BURST + 2):
        out.frame({"type": "build.step", "step": i})
        await asyncio.sleep(0.002)
    await asyncio.sleep(0.05)  # far less than the batch window
    # The first BURST frames went out as they came; the rest wait for the window.
    assert [f["step"] for f in rec.frames] == list(range(BURST))
    await asyncio.sleep(0.35)
    assert [f["step"] for f in rec.frames] == list(range(BURST + 2))
    await out.close()


# --- the outbox's bound in bytes ------------------------------------------------


def test_long_lines_are_bounded_in_bytes_not_only_in_lines():
    out = OutboundQueue(Recorder(), max_lines=5000, max_bytes=100_000, batch_ms=0)
    big = "x" * 16 * 1024
    out.lines("l1", [big] * 50)
    assert out.queued_lines == 6  # 6 x (16 KiB + overhead) fit in 100 kB
    assert out.queued_bytes <= 100_000
    frames = out.drain()
    assert frames == [{"type": "output", "stream": "l1", "lines": [big] * 6, "skipped": 44}]
    assert out.skipped_total == 44


def test_a_stream_that_lost_lines_loses_the_rest_until_the_count_is_told():
    out = OutboundQueue(Recorder(), max_lines=100, max_bytes=LINE_OVERHEAD * 4 + 40, batch_ms=0)
    out.lines("l1", ["a" * 10, "b" * 10, "c" * 100])  # the long one does not fit
    out.lines("l1", ["d"])  # would fit, but would arrive before the count
    out.lines("l2", ["e"])  # another stream still has room
    frames = out.drain()
    assert frames == [
        {"type": "output", "stream": "l1", "lines": ["a" * 10, "b" * 10], "skipped": 2},
        {"type": "output", "stream": "l2", "lines": ["e"], "skipped": 0},
    ]
    out.lines("l1", ["f"])
    assert out.drain() == [{"type": "output", "stream": "l1", "lines": ["f"], "skipped": 0}]


def test_control_frames_piling_up_unread_overflow_once():
    calls = []
    out = OutboundQueue(Recorder(), max_lines=100, max_bytes=2000, batch_ms=0,
                        on_overflow=lambda: calls.append(1))
    for i in range(100):
        out.frame({"type": "error", "code": "bad_json", "message": f"not JSON ({i})"})
    assert calls == [1]
    assert out.overflowed and out.queued_bytes == 0
    out.lines("l1", ["after"])
    assert out.drain() == []


async def test_a_client_that_stops_reading_a_flood_keeps_the_outbox_bounded():
    """The server's send waits while the client does not read; the outbox drops."""
    reading = asyncio.Event()
    sent: list[dict] = []

    async def send(frame: dict) -> None:
        await reading.wait()  # a client that has stopped reading
        sent.append(frame)

    out = OutboundQueue(send, max_lines=5000, max_bytes=256 * 1024, batch_ms=5)
    out.start()
    line = "y" * 16 * 1024
    peak = 0
    for _ in range(200):
        out.lines("l1", [line] * 10)
        peak = max(peak, out.queued_bytes)
        await asyncio.sleep(0)
    assert peak <= 256 * 1024
    # 2000 lines of 16 KiB (31 MiB) went in; at most the bound stayed.
    assert out.skipped_total >= 2000 - 2 * (256 * 1024) // (16 * 1024)
    reading.set()
    await asyncio.sleep(0.05)
    await out.close()
    received = sum(len(f["lines"]) for f in sent)
    assert received + sum(f["skipped"] for f in sent) == 2000
