"""One engine log follow per container, shared by every socket watching it.

A FollowHub belongs to one event loop (the server's). For each container that
someone follows it holds one Follow: one follow of the engine's log, whose
entries are assembled into lines once and handed to every subscriber's sink.
Nothing here blocks or starts a thread; the engine is reached through a
Source (sandboxes.services.logs has the real one; tests bring a fake).

Invariants:
- At most one engine follow per key (a container id) per hub. The first
  subscriber opens it, with its own tail; it is closed when the last one
  leaves, and dropped from the hub the moment it ends, so a later subscriber
  starts a fresh one.
- A subscriber sees, in order and without gaps or repeats, the last `tail`
  lines as of its joining, then every later line. The first subscriber gets
  both from the follow itself. A later one reads the last lines once more
  (a one-off read, not a follow) while the follow's new lines are held for
  it, and the two are spliced where the last line the follow had handed on
  before the joining is found in what was read: the engine stamps every
  entry, and the same entry read twice is the same bytes. Joining a follow
  that has handed on no line yet (it is still opening), or after more lines
  than were read again, the splice is made where the read ended instead, so
  with `tail` 0 a line written during the read itself may be missed.
- Lines go out in the engine's order, each once: an entry stamped older
  than one the follow has taken is a repeat of the engine's (its json-file
  follow can read a rotated file again) and is dropped. A follow the engine
  stopped sending to while its log grows is resumed (check_stall).
- Handing lines on never waits: a sink takes them at once (a socket's outbox
  drops and counts what it cannot hold), so a slow socket slows no other.
  Every live sink is handed the same LineBatch, which no sink may change: its
  JSON is made once for all the sockets watching (streaming.encode_frame).
  Lines held for a subscriber waiting for its tail are bounded by HELD_MAX;
  past that they are counted and reported as skipped.
- A follow ends for all its subscribers at once: with the container's exit
  code when it stopped (the engine ends its follows then; an exit reported
  by `died()` ends a follow the engine left open after EXIT_GRACE), with an
  error when the engine failed, plainly when the container is gone. When the
  engine ends a follow while the container still runs, it is opened again
  with a line saying so, at most MAX_REOPENS_PER_MINUTE times, from the
  newest entry it had taken (so what was printed in between is not lost
  while the engine still has it).
- The hub trusts its keys: which container a learner may follow is decided
  before (sandboxes.services.logs resolves names within the learner's own
  sandbox), and a subscription is only ever held by the socket that made it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from sandboxes.streaming import LineBatch, TimedAssembler, entry_stamp

log = logging.getLogger(__name__)

# After an exit is reported, how long the engine may take to end the follow
# itself (sending what it still has) before the hub ends it.
EXIT_GRACE = 2.0
# A follow the engine keeps ending while its container runs is given up
# after this many reopenings in a minute.
MAX_REOPENS_PER_MINUTE = 5
# A follow that has handed on nothing for this long is compared with the
# engine's log (Follow.check_stall).
QUIET_S = 5.0
# New lines held for one subscriber while its tail is being read.
HELD_MAX = 10_000
# Entries read beyond a joiner's tail and the lines held for it, to find
# where the two meet.
SPLICE_SLACK = 256
RESUMED = (
    "[dockerlab: the engine's log follow broke off and was resumed;"
    " lines in between may be missing]"
)
BROKE = "The log stream broke."
# What the engine writes into a follow, unstamped, when it cannot read its
# log file (with the file's path on the engine's machine), and what the
# learner is shown instead.
ENGINE_READ_ERROR = b"Error grabbing logs:"
UNREADABLE = b"[dockerlab: the engine could not read part of this container's log]\n"


class Sink(Protocol):
    """Where a subscriber's lines go (a socket's outbox, via streaming.LogSink)."""

    def start(self) -> None: ...  # once, before any line

    def lines(self, lines: list[str]) -> None: ...  # must not block, nor change `lines`

    def skipped(self, count: int) -> None: ...

    def end(self, exit_code: int | None = None, error: str | None = None) -> None: ...


class Handle(Protocol):
    """One open engine follow."""

    async def wait(self) -> None: ...  # until it ends; raises what broke it

    def close(self) -> None: ...

    async def history(self, tail: int) -> list[bytes]: ...  # the last entries, once


@dataclass(frozen=True)
class State:
    running: bool
    exit_code: int | None = None  # None: unknown, or the container is gone


class Source(Protocol):
    """The engine, as far as the hub needs it."""

    async def open(
        self, key: str, tail: int, on_entries: Callable[[list[bytes]], None],
        since: bytes | None = None,
    ) -> Handle: ...  # with `since` (a stamp): every entry from then on, not the tail

    async def state(self, key: str) -> State: ...


@dataclass(frozen=True)
class Ended:
    exit_code: int | None = None
    error: str | None = None


def _last_index(entries: list[tuple[str, str]], entry: tuple[str, str]) -> int | None:
    for i in range(len(entries) - 1, -1, -1):
        if entries[i] == entry:
            return i
    return None


def _message(exc: BaseException) -> str:
    return getattr(exc, "message", None) or BROKE


class Subscription:
    """One sink's place on a follow; `close()` leaves it (idempotent)."""

    def __init__(self, follow: Follow, sink: Sink):
        self.follow = follow
        self.sink = sink
        self.live = False
        self.closed = False
        # The last line the follow handed on before this joined (stamp, line).
        self.mark = follow.last
        self._held: list[tuple[str, str]] = []  # (stamp, line) while not live
        self._lost = 0
        self._ended: Ended | None = None

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.follow.leave(self)

    def hold(self, lines: list[str], stamps: list[str]) -> None:
        room = HELD_MAX - len(self._held)
        if room < len(lines) or self._lost:
            # Once lines are lost, later ones are too: the count goes out
            # after what was kept, never with lines missing in between.
            room = 0 if self._lost else max(0, room)
            self._lost += len(lines) - room
            lines, stamps = lines[:room], stamps[:room]
        self._held.extend(zip(stamps, lines))

    @property
    def held(self) -> int:
        return len(self._held)

    def go_live(self, tail: int, history: list[tuple[str, str]] | None) -> None:
        """Send the tail and the held lines, then take lines as they come.

        `history` is None for the subscriber that opened the follow (the
        follow began with its tail); else the lines read again at joining.
        """
        held, self._held = self._held, []
        lines = [] if history is None else self._tail(tail, history, held)
        lines.extend(line for _, line in held)
        self.sink.start()
        if lines:
            self.sink.lines(lines)
        if self._lost:
            self.sink.skipped(self._lost)
        self.live = True
        if self._ended is not None:
            self.finish(self._ended)

    def _tail(
        self, tail: int, history: list[tuple[str, str]], held: list[tuple[str, str]]
    ) -> list[str]:
        """The last `tail` lines before the held ones (dropping held lines it has)."""
        meet = _last_index(history, self.mark) if self.mark is not None else None
        if meet is not None:
            # Held lines are exactly those after the mark.
            before = history[: meet + 1]
        else:
            # Meet where the read ended: held lines it has, or older ones
            # (an opener's tail), were written before.
            before = history
            last = history[-1][0] if history else ""
            seen = set(history)
            held[:] = [entry for entry in held if entry[0] >= last and entry not in seen]
        return [line for _, line in before[-tail:]] if tail else []

    def finish(self, ended: Ended) -> None:
        """The follow ended (a subscriber not yet live hears it once it is)."""
        if self.closed:
            return
        if not self.live:
            self._ended = ended
            return
        self.closed = True
        self.sink.end(ended.exit_code, ended.error)


class Follow:
    """One engine follow of one container and the subscribers sharing it."""

    def __init__(self, hub: FollowHub, key: str, tail: int):
        loop = asyncio.get_running_loop()
        self.hub = hub
        self.key = key
        self.subscribers: list[Subscription] = []
        self.ended = False
        self.began = time.time()
        self.last: tuple[str, str] | None = None  # the last line handed on
        self._assembler = TimedAssembler()
        self._newest_entry = b""  # the newest entry taken from the engine
        self.repeats = 0  # entries the engine handed on again, dropped
        self._taken_at = time.monotonic()  # when an entry last came
        self._handle: Handle | None = None
        self._opened: asyncio.Future[None] = loop.create_future()
        self._exit_code: int | None = None
        self._died = False
        self._grace: asyncio.TimerHandle | None = None
        self._reopened: list[float] = []
        self._task = loop.create_task(self._run(tail), name=f"follow-{key[:12]}")

    async def ready(self) -> None:
        """Wait until the engine follow is open (raises why it could not be)."""
        await asyncio.shield(self._opened)

    async def history(self, tail: int) -> list[tuple[str, str]]:
        """The last `tail` lines with their stamps, read once from the engine.

        An unfinished last line is left out: the follow delivers it whole.
        """
        assert self._handle is not None
        lines, stamps = TimedAssembler().feed(await self._handle.history(tail))
        return list(zip(stamps, lines))

    def died(self, exit_code: int | None, at: float | None = None) -> None:
        """The container stopped: end the follow if the engine does not, soon.

        An exit from before this follow began (`at`, a Unix time: an event
        replayed after the event stream broke) is not this run's.
        """
        if self._died or self.ended or (at is not None and at < self.began):
            return
        self._died, self._exit_code = True, exit_code
        loop = asyncio.get_running_loop()
        self._grace = loop.call_later(self.hub.exit_grace, self._cut)

    def _cut(self) -> None:
        if self.ended:
            return
        if self._handle is not None:
            self._handle.close()
        else:  # still opening: the open ends soon for a stopped container
            loop = asyncio.get_running_loop()
            self._grace = loop.call_later(self.hub.exit_grace, self._cut)

    def leave(self, subscription: Subscription) -> None:
        with contextlib.suppress(ValueError):
            self.subscribers.remove(subscription)
        if not self.subscribers and not self.ended:
            self.close()

    def close(self) -> None:
        """Nobody watches any more: stop following (no end is sent)."""
        self.ended = True
        self._task.cancel()
        self._stop()

    def _stop(self) -> None:
        if self._grace is not None:
            self._grace.cancel()
        if self._handle is not None:
            self._handle.close()
        self.hub._drop(self)

    async def check_stall(self) -> bool:
        """Resume the follow if the engine has entries it has not handed on.

        The engine's json-file follow can stop sending while its container
        keeps printing (seen with the log file rotating many times a second).
        A follow quiet for QUIET_S reads the log's last entry once; if that is
        newer than the newest taken, the engine's follow is ended here and
        opened again from that newest entry (as when the engine ends it).
        Returns whether it did.
        """
        handle = self._handle
        if self.ended or handle is None or not self._newest:
            return False
        if time.monotonic() - self._taken_at < QUIET_S:
            return False
        last = await handle.history(1)
        stamp = entry_stamp(last[-1]) if last else b""
        if stamp <= self._newest or self.ended or handle is not self._handle:
            self._taken_at = time.monotonic()  # quiet, or moving again: look later
            return False
        log.info("the engine's follow of %s stopped sending; resuming it", self.key[:12])
        self._taken_at = time.monotonic()
        handle.close()
        return True

    def _entries(self, entries: list[bytes]) -> None:
        self._taken_at = time.monotonic()
        entries = self._fresh(entries)
        lines, stamps = self._assembler.feed(entries)
        if lines:
            self._hand_on(lines, stamps)

    def _fresh(self, entries: list[bytes]) -> list[bytes]:
        """The entries not older than the newest one already taken.

        The engine's json-file follow can hand entries on again when the log
        file rotates under it (a container printing fast), so a follow would
        repeat lines it sent and they would reach the page out of order. The
        engine stamps every entry with a fixed-width UTC time, so an older
        stamp than one already taken, or the newest entry once more, is such
        a repeat. A message of the engine's own about a log file it could not
        read (unstamped) is replaced with one of ours.
        """
        kept = []
        newest = self._newest
        for entry in entries:
            stamp = entry_stamp(entry)
            if not stamp:
                # The engine's own words about its files name them: say it in ours.
                kept.append(UNREADABLE if entry.startswith(ENGINE_READ_ERROR) else entry)
            elif stamp < newest or entry == self._newest_entry:
                self.repeats += 1
            else:
                newest, self._newest_entry = stamp, entry
                kept.append(entry)
        return kept

    @property
    def _newest(self) -> bytes:
        """The stamp of the newest entry taken from the engine (b"" before any)."""
        return entry_stamp(self._newest_entry)

    def _hand_on(self, lines: list[str], stamps: list[str], *, mark: bool = True) -> None:
        if mark:
            self.last = (stamps[-1], lines[-1])
        lines = LineBatch(lines)
        for subscription in tuple(self.subscribers):
            if subscription.live:
                subscription.sink.lines(lines)
            else:
                subscription.hold(lines, stamps)

    async def _run(self, tail: int) -> None:
        source = self.hub.source
        try:
            self._handle = await source.open(self.key, tail, self._entries)
        except asyncio.CancelledError:
            self._fail_open(None)
            raise
        except Exception as exc:
            self._fail_open(exc)
            return
        self._opened.set_result(None)
        try:
            await self._follow(source)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a fault of ours: end the follow, say so
            log.exception("following %s failed", self.key[:12])
            self._finish(Ended(error=_message(exc)))

    def _fail_open(self, error: Exception | None) -> None:
        self.ended = True
        if error is None:
            self._opened.cancel()
        else:
            self._opened.set_exception(error)
            self._opened.exception()  # each waiter raises it; none is "unretrieved"
        self._stop()

    async def _follow(self, source: Source) -> None:
        while True:
            error: BaseException | None = None
            try:
                await self._handle.wait()
            except Exception as exc:
                error = exc
            lines, stamps = self._assembler.flush()
            if lines:
                self._hand_on(lines, stamps)
            if self._died:
                self._finish(Ended(exit_code=self._exit_code))
                return
            if error is not None:
                log.info("the engine's follow of %s broke: %r", self.key[:12], error)
            try:
                state = await source.state(self.key)
            except Exception as exc:
                self._finish(Ended(error=_message(exc)))
                return
            if not state.running:
                self._finish(Ended(exit_code=state.exit_code))
                return
            if not self._may_reopen():
                self._finish(Ended(error="The engine kept breaking the log stream off."))
                return
            self._hand_on([RESUMED], [self.last[0] if self.last else ""], mark=False)
            try:
                # From the newest entry taken: what was printed in between
                # comes now, and the entries taken already are dropped again.
                self._handle = await source.open(
                    self.key, 0, self._entries, since=self._newest or None
                )
            except Exception as exc:
                self._finish(Ended(error=_message(exc)))
                return

    def _may_reopen(self) -> bool:
        now = time.monotonic()
        self._reopened = [t for t in self._reopened if now - t < 60] + [now]
        return len(self._reopened) <= MAX_REOPENS_PER_MINUTE

    def _finish(self, ended: Ended) -> None:
        self.ended = True
        self._stop()
        subscribers, self.subscribers = self.subscribers, []
        for subscription in subscribers:
            subscription.finish(ended)


class FollowHub:
    """The follows of one event loop, by key (a container id).

    `watcher(hub)`, when given, runs while the hub has follows (it reports
    exits with `died()`); it is started with the first follow and cancelled
    with the last.
    """

    def __init__(
        self,
        source: Source,
        *,
        watcher: Callable[[FollowHub], Awaitable[None]] | None = None,
        exit_grace: float = EXIT_GRACE,
    ):
        self.source = source
        self.exit_grace = exit_grace
        self._follows: dict[str, Follow] = {}
        self._watcher = watcher
        self._watching: asyncio.Task | None = None

    def followed(self) -> list[str]:
        """The keys followed now."""
        return list(self._follows)

    def subscribers(self, key: str | None = None) -> int:
        """How many subscribers one follow (or all of them) has."""
        if key is not None:
            follow = self._follows.get(key)
            return len(follow.subscribers) if follow is not None else 0
        return sum(len(follow.subscribers) for follow in self._follows.values())

    async def subscribe(self, key: str, tail: int, sink: Sink) -> Subscription:
        """Follow `key` into `sink`: its last `tail` lines, then new ones.

        Returns once the sink has been started (its first lines may have been
        handed to it); raises why the engine could not follow, in which case
        the sink was never started. Cancelling it leaves nothing behind.
        """
        follow = self._follows.get(key)
        opener = follow is None
        if opener:
            follow = self._follows[key] = Follow(self, key, tail)
            self._watch()
        subscription = Subscription(follow, sink)
        follow.subscribers.append(subscription)
        try:
            await follow.ready()
            history = None
            if not opener:
                wanted = tail + subscription.held + SPLICE_SLACK
                history = await follow.history(min(wanted, 2 * HELD_MAX))
        except BaseException:
            subscription.close()
            raise
        subscription.go_live(tail, history)
        return subscription

    async def check_stalls(self) -> int:
        """Resume the follows the engine stopped sending to; how many it resumed."""
        resumed = 0
        for follow in list(self._follows.values()):
            try:
                resumed += await follow.check_stall()
            except Exception as exc:  # the engine did not answer: look again later
                log.info("could not look at the log of %s: %r", follow.key[:12], exc)
        return resumed

    def died(self, key: str, exit_code: int | None, at: float | None = None) -> None:
        """The engine says this container stopped (with this exit code, at this time)."""
        follow = self._follows.get(key)
        if follow is not None:
            follow.died(exit_code, at)

    def _drop(self, follow: Follow) -> None:
        if self._follows.get(follow.key) is follow:
            del self._follows[follow.key]
        if not self._follows and self._watching is not None:
            self._watching.cancel()
            self._watching = None

    def _watch(self) -> None:
        if self._watcher is not None and self._watching is None:
            self._watching = asyncio.get_running_loop().create_task(
                self._watcher(self), name="follow-watcher"
            )

    def close(self) -> None:
        """End every follow (no ends are sent) and the watcher."""
        for follow in list(self._follows.values()):
            follow.close()
