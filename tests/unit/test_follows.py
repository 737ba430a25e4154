"""The follow hub: one follow per container shared by its subscribers, with a fake engine."""

from __future__ import annotations

import asyncio
import json

import pytest

from sandboxes import follows
from sandboxes.follows import FollowHub, State
from sandboxes.streaming import (
    LineBatch,
    LogSink,
    OutboundQueue,
    TimedAssembler,
    encode_frame,
)


class FakeHandle:
    def __init__(self, source: FakeSource, key: str, on_entries):
        self.source = source
        self.key = key
        self.on_entries = on_entries
        self.closed = False
        self.stalled = False  # the engine's follow stopped sending
        self.error: Exception | None = None
        self._done = asyncio.Event()

    async def wait(self) -> None:
        await self._done.wait()
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        self.closed = True
        self._done.set()

    def end(self, error: Exception | None = None) -> None:
        """The engine ends the follow (or breaks it off, with `error`)."""
        self.error = error
        self._done.set()

    async def history(self, tail: int) -> list[bytes]:
        self.source.history_calls += 1
        await self.source.history_gate.wait()
        snapshot = list(self.source.logs[self.key][-tail:])
        if self.source.after_snapshot is not None:
            self.source.after_snapshot()
        return snapshot


class FakeSource:
    """Containers' logs in memory; what is written goes to their open follows at once."""

    def __init__(self) -> None:
        self.logs: dict[str, list[bytes]] = {}
        self.running: dict[str, bool] = {}
        self.exit_codes: dict[str, int] = {}
        self.opened: list[tuple[str, int]] = []
        self.since: list[bytes | None] = []
        self.handles: list[FakeHandle] = []
        self.history_calls = 0
        self.history_gate = asyncio.Event()
        self.history_gate.set()
        self.after_snapshot = None
        self.open_gate = asyncio.Event()
        self.open_gate.set()
        self.open_error: Exception | None = None
        self._clock = 0

    def start(self, key: str) -> None:
        self.logs.setdefault(key, [])
        self.running[key] = True

    def write(self, key: str, *texts: str) -> None:
        for text in texts:
            self._clock += 1
            entry = f"2026-01-01T00:00:00.{self._clock:09d}Z {text}\n".encode()
            self.logs[key].append(entry)
            for handle in self.live(key):
                if not handle.stalled:
                    handle.on_entries([entry])

    def stop(self, key: str, code: int, *, end_follows: bool = True) -> None:
        self.running[key] = False
        self.exit_codes[key] = code
        if end_follows:
            for handle in self.live(key):
                handle.end()

    def live(self, key: str) -> list[FakeHandle]:
        return [h for h in self.handles if h.key == key and not h._done.is_set()]

    async def open(self, key: str, tail: int, on_entries, since: bytes | None = None
                   ) -> FakeHandle:
        await self.open_gate.wait()
        if self.open_error is not None:
            raise self.open_error
        self.opened.append((key, tail))
        self.since.append(since)
        handle = FakeHandle(self, key, on_entries)
        self.handles.append(handle)
        if since is not None:  # the engine's `since`: that entry's time included
            on_entries([e for e in self.logs[key] if e[: e.find(b" ")] >= since])
        elif tail:
            on_entries(list(self.logs[key][-tail:]))
        if not self.running[key]:
            handle.end()
        return handle

    async def state(self, key: str) -> State:
        if self.running[key]:
            return State(running=True)
        return State(running=False, exit_code=self.exit_codes.get(key))


class Sink:
    def __init__(self) -> None:
        self.started = 0
        self.got: list[str] = []
        self.skips = 0
        self.ends: list[tuple[int | None, str | None]] = []

    def start(self) -> None:
        assert not self.got, "lines before start"
        self.started += 1

    def lines(self, lines: list[str]) -> None:
        assert self.started == 1 and not self.ends
        self.got.extend(lines)

    def skipped(self, count: int) -> None:
        self.skips += count

    def end(self, exit_code=None, error=None) -> None:
        self.ends.append((exit_code, error))


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.fixture
def source() -> FakeSource:
    source = FakeSource()
    source.start("web")
    return source


@pytest.fixture
def hub(source) -> FollowHub:
    return FollowHub(source, exit_grace=0.05)


def numbered(first: int, last: int) -> list[str]:
    return [f"line {i}" for i in range(first, last + 1)]


async def test_two_subscribers_share_one_follow_and_both_get_each_new_line(source, hub):
    source.write("web", *numbered(1, 5))
    a, b = Sink(), Sink()
    await hub.subscribe("web", 2, a)
    await hub.subscribe("web", 2, b)
    assert source.opened == [("web", 2)]
    assert hub.followed() == ["web"] and hub.subscribers("web") == 2
    source.write("web", "line 6")
    assert a.got == numbered(4, 6)
    assert b.got == numbered(4, 6)


async def test_each_subscriber_gets_its_own_tail_then_every_later_line_once(source, hub):
    source.write("web", *numbered(1, 10))
    a, b, c = Sink(), Sink(), Sink()
    await hub.subscribe("web", 3, a)
    source.write("web", *numbered(11, 14))
    await hub.subscribe("web", 6, b)
    await hub.subscribe("web", 0, c)
    source.write("web", "line 15")
    assert a.got == numbered(8, 15)
    assert b.got == numbered(9, 15)
    assert c.got == ["line 15"]
    assert source.opened == [("web", 3)]


async def test_lines_written_while_a_tail_is_read_are_spliced_without_gap_or_repeat(
    source, hub
):
    source.write("web", *numbered(1, 10))
    first = Sink()
    await hub.subscribe("web", 1, first)
    source.history_gate.clear()
    joiner = Sink()
    joining = asyncio.create_task(hub.subscribe("web", 5, joiner))
    await settle()
    # Written after joining, before the tail is read: read again and held.
    source.write("web", *numbered(11, 12))
    # Written after the tail was read, before the joiner is live: held only.
    source.after_snapshot = lambda: source.write("web", "line 13")
    source.history_gate.set()
    await joining
    source.write("web", "line 14")
    # The tail is the five lines before the joining, then all that came after.
    assert joiner.got == numbered(6, 14)
    assert first.got == numbered(10, 14)


async def test_joining_while_the_follow_opens_gets_its_own_tail_not_the_openers(source, hub):
    source.write("web", *numbered(1, 20))
    source.open_gate.clear()
    opener, joiner, quiet = Sink(), Sink(), Sink()
    tasks = [
        asyncio.create_task(hub.subscribe("web", 10, opener)),
        asyncio.create_task(hub.subscribe("web", 2, joiner)),
        asyncio.create_task(hub.subscribe("web", 0, quiet)),
    ]
    await settle()
    source.open_gate.set()
    await asyncio.gather(*tasks)
    source.write("web", "line 21")
    assert opener.got == numbered(11, 21)
    assert joiner.got == numbered(19, 21)
    assert quiet.got == ["line 21"]
    assert len(source.opened) == 1


async def test_a_subscriber_leaving_does_not_end_the_others_and_the_last_closes_it(
    source, hub
):
    a, b = Sink(), Sink()
    sub_a = await hub.subscribe("web", 0, a)
    sub_b = await hub.subscribe("web", 0, b)
    sub_a.close()
    sub_a.close()  # twice is harmless
    source.write("web", "after a left")
    assert a.got == [] and b.got == ["after a left"]
    assert not source.handles[0].closed and hub.subscribers("web") == 1
    sub_b.close()
    assert source.handles[0].closed
    assert hub.followed() == []
    assert a.ends == [] and b.ends == []  # leaving is not an end the hub reports


async def test_a_container_that_exits_ends_every_subscriber_with_its_exit_code(source, hub):
    sinks = [Sink() for _ in range(3)]
    for sink in sinks:
        await hub.subscribe("web", 0, sink)
    source.write("web", "last words")
    source.stop("web", 3)
    await settle()
    for sink in sinks:
        assert sink.got == ["last words"]
        assert sink.ends == [(3, None)]
    assert hub.followed() == []
    # Following it again starts a new follow, which ends at once.
    again = Sink()
    await hub.subscribe("web", 5, again)
    await settle()
    assert again.got == ["last words"] and again.ends == [(3, None)]
    assert len(source.opened) == 2


async def test_an_exit_the_engine_does_not_end_the_follow_for_ends_it_after_the_grace(
    source, hub
):
    sink = Sink()
    await hub.subscribe("web", 0, sink)
    source.stop("web", 137, end_follows=False)
    hub.died("web", 137)
    await settle()
    assert sink.ends == []  # the engine may still be sending its last lines
    source.write("web", "in flight")
    await asyncio.sleep(0.2)
    assert sink.got == ["in flight"]
    assert sink.ends == [(137, None)]
    assert source.handles[0].closed and hub.followed() == []


async def test_an_exit_from_before_the_follow_began_is_ignored(source, hub):
    sink = Sink()
    await hub.subscribe("web", 0, sink)
    hub.died("web", 1, at=0.0)  # an old event, replayed
    await asyncio.sleep(0.2)
    assert sink.ends == [] and hub.followed() == ["web"]


async def test_a_follow_the_engine_breaks_off_is_opened_again_and_says_so(source, hub):
    sink = Sink()
    await hub.subscribe("web", 0, sink)
    source.write("web", "before")
    source.handles[0].end(ConnectionError("cut"))
    await settle()
    source.write("web", "after")
    assert sink.got == ["before", follows.RESUMED, "after"]
    assert source.opened == [("web", 0), ("web", 0)]
    assert source.since == [None, source.logs["web"][0].split()[0]]
    assert sink.ends == []


async def test_lines_printed_while_a_follow_was_broken_off_come_after_it_resumes(source, hub):
    sink = Sink()
    await hub.subscribe("web", 0, sink)
    source.write("web", "one", "two")
    source.open_gate.clear()  # the engine takes a moment to answer again
    source.handles[0].end(ConnectionError("cut"))
    await settle()
    source.write("web", "three", "four")  # nobody follows at this moment
    source.open_gate.set()
    await settle()
    source.write("web", "five")
    # Resumed from "two": it is not repeated, and nothing in between is lost.
    assert sink.got == ["one", "two", follows.RESUMED, "three", "four", "five"]


async def test_a_follow_that_keeps_breaking_off_is_given_up_with_an_error(source, hub):
    sink = Sink()
    await hub.subscribe("web", 0, sink)
    for _ in range(follows.MAX_REOPENS_PER_MINUTE + 1):
        source.live("web")[0].end()
        await settle()
    assert len(sink.ends) == 1 and sink.ends[0][1]
    assert hub.followed() == []


async def test_an_engine_that_cannot_follow_raises_for_every_waiting_subscriber(source, hub):
    source.open_gate.clear()
    source.open_error = RuntimeError("engine down")
    a, b = Sink(), Sink()
    tasks = [asyncio.create_task(hub.subscribe("web", 0, s)) for s in (a, b)]
    await settle()
    source.open_gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert a.started == b.started == 0
    assert hub.followed() == []


async def test_a_subscribe_cancelled_while_opening_leaves_nothing_behind(source, hub):
    source.open_gate.clear()
    task = asyncio.create_task(hub.subscribe("web", 0, Sink()))
    await settle()
    assert hub.followed() == ["web"]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert hub.followed() == []
    source.open_gate.set()
    await settle()
    assert source.opened == []


async def test_lines_held_for_a_slow_tail_read_are_bounded_and_counted(
    source, hub, monkeypatch
):
    monkeypatch.setattr(follows, "HELD_MAX", 5)
    source.write("web", "line 0")
    await hub.subscribe("web", 1, Sink())
    source.history_gate.clear()
    joiner = Sink()
    joining = asyncio.create_task(hub.subscribe("web", 0, joiner))
    await settle()
    source.write("web", *numbered(1, 8))
    source.history_gate.set()
    await joining
    source.write("web", "line 9")
    # Five held, three counted, and the next line after them.
    assert joiner.got[:5] == numbered(1, 5) and joiner.skips == 3
    assert joiner.got[5:] == ["line 9"]


async def test_a_slow_socket_does_not_hold_back_a_fast_one(source, hub):
    fast_frames: list[dict] = []
    stalled = asyncio.Event()

    async def fast_send(frame: dict) -> None:
        fast_frames.append(frame)

    async def slow_send(frame: dict) -> None:
        await stalled.wait()  # a client that stopped reading

    fast = OutboundQueue(fast_send, max_lines=100, batch_ms=0)
    slow = OutboundQueue(slow_send, max_lines=100, batch_ms=0)
    fast.start()
    slow.start()
    await hub.subscribe("web", 0, LogSink(fast, "l1", "web"))
    await hub.subscribe("web", 0, LogSink(slow, "l7", "web"))
    for i in range(50):
        source.write("web", *numbered(i * 100, i * 100 + 99))
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)
    got = [line for f in fast_frames if f["type"] == "output" for line in f["lines"]]
    assert got == numbered(0, 4999)
    assert slow.queued_lines <= 100 and slow.skipped_total >= 4800
    stalled.set()
    await fast.close()
    await slow.close(flush=False)


async def test_a_watcher_runs_only_while_there_are_follows(source):
    running = []

    async def watcher(hub):
        running.append(True)
        try:
            await asyncio.sleep(3600)
        finally:
            running.append(False)

    hub = FollowHub(source, watcher=watcher)
    subscription = await hub.subscribe("web", 0, Sink())
    await settle()
    assert running == [True]
    subscription.close()
    await settle()
    assert running == [True, False]


def test_the_same_entries_give_the_same_lines_and_stamps_wherever_they_are_cut():
    entries = [
        b"2026-01-01T00:00:01.000000000Z whole\n",
        b"2026-01-01T00:00:02.000000000Z begins ",
        b"2026-01-01T00:00:03.000000000Z and ends\n",
        b"2026-01-01T00:00:04.000000000Z \x1b[31mred\x1b[0m and caf\xc3",
        b"2026-01-01T00:00:05.000000000Z \xa9\n",
    ]
    whole = TimedAssembler().feed(entries)
    assert whole == (
        ["whole", "begins and ends", "red and café"],
        ["2026-01-01T00:00:01.000000000Z", "2026-01-01T00:00:02.000000000Z",
         "2026-01-01T00:00:04.000000000Z"],
    )
    one_by_one = TimedAssembler()
    lines, stamps = [], []
    for entry in entries:
        got = one_by_one.feed([entry])
        lines += got[0]
        stamps += got[1]
    assert (lines, stamps) == whole


def test_an_unfinished_last_line_comes_out_at_the_end_with_its_stamp():
    assembler = TimedAssembler()
    assert assembler.feed([b"2026-01-01T00:00:01.000000000Z Enter name: "]) == ([], [])
    assert assembler.flush() == (["Enter name: "], ["2026-01-01T00:00:01.000000000Z"])


async def test_a_skip_count_reaches_the_client_before_the_next_lines():
    frames: list[dict] = []

    async def send(frame: dict) -> None:
        frames.append(frame)

    out = OutboundQueue(send, max_lines=100, batch_ms=0)
    out.lines("l1", ["a"])
    out.skip("l1", 4)
    out.lines("l1", ["dropped (and counted) until the count is told"])
    assert out.drain() == [{"type": "output", "stream": "l1", "lines": ["a"], "skipped": 5}]
    out.lines("l1", ["b"])
    assert out.drain()[0]["lines"] == ["b"]


async def test_sockets_on_one_follow_get_frames_encoded_once_and_each_their_own_stream(
    source, hub
):
    one = OutboundQueue(lambda frame: None, max_lines=100, batch_ms=0)
    two = OutboundQueue(lambda frame: None, max_lines=100, batch_ms=0)
    await hub.subscribe("web", 0, LogSink(one, "l1", "web"))
    await hub.subscribe("web", 0, LogSink(two, "l2", "web"))
    one.drain(), two.drain()  # the logs.start frames
    source.write("web", 'say "hi" é \\ end')
    first = one._items[0][2]
    assert isinstance(first, LineBatch) and first is two._items[0][2]  # the same batch
    two.drain()
    source.write("web", "later")  # joins l1's queued line: copied, the batch unchanged
    assert first == ['say "hi" é \\ end']
    assert one.drain() == [
        {"type": "output", "stream": "l1", "lines": ['say "hi" é \\ end', "later"],
         "skipped": 0}
    ]
    shared = {"type": "output", "stream": "l2", "lines": first, "skipped": 3}
    assert encode_frame(shared) == json.dumps(shared, default=str)
    assert json.loads(encode_frame(shared))["lines"] == ['say "hi" é \\ end']


async def test_a_batch_cut_by_a_full_outbox_is_encoded_from_what_was_kept():
    out = OutboundQueue(lambda frame: None, max_lines=2, batch_ms=0)
    out.lines("l1", LineBatch(["a", "b", "c"]))
    [frame] = out.drain()
    assert frame["lines"] == ["a", "b"] and frame["skipped"] == 1
    assert json.loads(encode_frame(frame))["lines"] == ["a", "b"]


async def test_entries_the_engine_hands_on_again_are_dropped_not_repeated(source, hub):
    # The engine's json-file follow can read a rotated file again: older
    # entries arrive after newer ones.
    sink = Sink()
    await hub.subscribe("web", 0, sink)
    source.write("web", *numbered(1, 6))
    handle = source.live("web")[0]
    handle.on_entries(source.logs["web"][2:])  # lines 3-6 once more
    source.write("web", "line 7")
    handle.on_entries([source.logs["web"][5], source.logs["web"][6]])  # 6 and 7 again
    assert sink.got == numbered(1, 7)
    follow = hub._follows["web"]
    assert follow.repeats == 6


async def test_entries_without_a_stamp_are_never_taken_for_repeats(source, hub):
    sink = Sink()
    await hub.subscribe("web", 0, sink)
    source.write("web", "line 1")
    source.live("web")[0].on_entries([b"unstamped\n", b"unstamped\n"])
    assert sink.got == ["line 1", "unstamped", "unstamped"]


async def test_a_follow_the_engine_stopped_sending_to_is_resumed_without_losing_lines(
    source, hub, monkeypatch
):
    monkeypatch.setattr(follows, "QUIET_S", 0.0)
    sink = Sink()
    await hub.subscribe("web", 0, sink)
    source.write("web", "one")
    assert await hub.check_stalls() == 0  # quiet, and the log has nothing newer
    source.handles[0].stalled = True
    source.write("web", "two", "three")  # the engine's log has them; the follow is silent
    assert await hub.check_stalls() == 1
    await settle()
    source.write("web", "four")
    assert sink.got == ["one", follows.RESUMED, "two", "three", "four"]
    assert await hub.check_stalls() == 0


async def test_a_follow_that_hands_lines_on_is_not_looked_at(source, hub):
    sink = Sink()
    await hub.subscribe("web", 0, sink)
    source.write("web", "one")
    source.handles[0].stalled = True
    source.write("web", "two")
    # Lines came less than QUIET_S ago: no read of the engine's log.
    calls = source.history_calls
    assert await hub.check_stalls() == 0
    assert source.history_calls == calls


async def test_a_message_of_the_engine_without_a_stamp_is_shown_whole_and_changes_no_order(
    source, hub
):
    # The engine writes its own errors into a follow, unstamped.
    sink = Sink()
    await hub.subscribe("web", 0, sink)
    source.write("web", "one")
    source.live("web")[0].on_entries([b"Error grabbing logs: read /var/lib/docker/x.log\n"])
    source.live("web")[0].on_entries([b"Starting up now\n"])  # unstamped output (a TTY's)
    source.write("web", "two")
    # The engine's message names a path on its machine: the learner gets ours.
    assert sink.got == [
        "one",
        "[dockerlab: the engine could not read part of this container's log]",
        "Starting up now",
        "two",
    ]
