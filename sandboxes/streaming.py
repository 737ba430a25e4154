"""Streaming machinery for the lab websocket, free of Django and of the engine.

Pieces usable (and tested) on their own:

- LineAssembler turns raw chunks (bytes or text, cut anywhere) into whole
  text lines; TimedAssembler does it for timestamped log entries, keeping
  each line's stamp.
- OutboundQueue is a socket's bounded, ordered outbox: control frames and
  output lines go in, batched "output" frames come out. When the client falls
  behind it drops lines and says how many, instead of growing.
- LineBatch is one read's lines as a follow hands them to every socket
  watching it; its JSON is made once, and encode_frame puts it into each
  socket's "output" frame instead of encoding the lines again per socket.
- StreamPump reads one blocking iterator (a build, push, pull, compose up or exec)
  in its own thread and hands what it reads to the event loop. Stopping it
  closes the stream, which is what unblocks a read that waits on the engine.
  Log follows need no thread: they are shared and read on the loop
  (sandboxes.follows), and LogSink puts one into a socket's outbox.

The frame formats are described in docs/websocket.md.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import contextvars
import json
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

log = logging.getLogger(__name__)

# A line longer than this (in characters) is cut into pieces of this size, so a
# program that never prints a newline cannot make us buffer without end.
MAX_LINE = 16 * 1024
# Sends allowed within one batching window before output is coalesced.
BURST = 16
# What a waiting line costs beyond its characters (the str object, its slot).
LINE_OVERHEAD = 64
# A socket's outbox holds at most this much output by default.
MAX_QUEUE_BYTES = 1024 * 1024
# Prefix of every reader thread's name; tests count threads by it.
THREAD_PREFIX = "dockerlab-stream"
# Terminal escape sequences (colours, cursor moves, window titles) and other
# control characters mean nothing in a text pane; they would show as junk.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor movement
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: window titles, links
    r"|\x1b[@-Z\\-_]"  # other two-character escapes
    r"|[\x00-\x08\x0b-\x1f\x7f]"
)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def plain_text(line: str) -> str:
    """The line without terminal escape sequences and control characters."""
    # Nearly every line is plain: one scan in C decides, the rewrite is rare.
    if _CONTROL.search(line) is None:
        return line
    return _ESCAPES.sub("", line)


class LineAssembler:
    """Reassemble text lines from chunks that may split lines and characters.

    Line ends are "\\n" and "\\r\\n". A bare "\\r" is a terminal redraw (progress
    bars): the text after it replaces the line so far, so only what a terminal
    would finally show is emitted. Invalid UTF-8 becomes U+FFFD; terminal
    escape sequences (colours) and control characters other than tab are
    removed.
    """

    def __init__(self, max_line: int = MAX_LINE):
        self.max_line = max_line
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._line: list[str] = []
        self._length = 0
        # A "\r" at the end of a chunk: a "\n" may follow in the next one.
        self._cr = False

    def feed(self, chunk: bytes | str) -> list[str]:
        """Take the next chunk; return the lines it completed."""
        text = self._decoder.decode(chunk) if isinstance(chunk, bytes) else chunk
        return self._consume(text)

    @property
    def pending(self) -> bool:
        """Whether part of a line (or of a character) waits for the next chunk."""
        return bool(self._length or self._cr or self._decoder.getstate()[0])

    def flush(self) -> list[str]:
        """End of stream: return the unfinished last line, if any."""
        lines = self._consume(self._decoder.decode(b"", final=True))
        self._cr = False
        if self._length:
            lines.append(self._take())
        return lines

    def _consume(self, text: str) -> list[str]:
        lines: list[str] = []
        start = 0
        if self._cr and text:
            self._cr = False
            if text[0] == "\n":
                lines.append(self._take())
                start = 1
            else:
                self._reset()
        if "\r" not in text:
            # The common case (logs, build output): split in C, not per character.
            pieces = text[start:].split("\n")
            for piece in pieces[:-1]:
                if not self._length and len(piece) < self.max_line:
                    lines.append(plain_text(piece))
                else:
                    self._append(piece, lines)
                    lines.append(self._take())
            self._append(pieces[-1], lines)
            return lines
        end = len(text)
        i = start
        while i < end:
            ch = text[i]
            if ch == "\n":
                self._append(text[start:i], lines)
                lines.append(self._take())
                start = i + 1
            elif ch == "\r":
                self._append(text[start:i], lines)
                start = i + 1
                if i + 1 == end:
                    self._cr = True
                elif text[i + 1] == "\n":
                    lines.append(self._take())
                    start = i + 2
                    i += 1
                else:
                    self._reset()
            i += 1
        self._append(text[start:end], lines)
        return lines

    def _append(self, piece: str, lines: list[str]) -> None:
        while piece:
            room = self.max_line - self._length
            self._line.append(piece[:room])
            self._length += min(room, len(piece))
            piece = piece[room:]
            if self._length >= self.max_line:
                lines.append(self._take())

    def _take(self) -> str:
        line = plain_text("".join(self._line))
        self._reset()
        return line

    def _reset(self) -> None:
        self._line = []
        self._length = 0


class LineBatch(list):
    """Lines handed to several outboxes at once; `json` encodes them once.

    Treated as immutable once handed on: an outbox that adds lines to a
    batch it holds copies it first (OutboundQueue.lines).
    """

    __slots__ = ("_json",)

    @property
    def json(self) -> str:
        try:
            return self._json
        except AttributeError:
            self._json = json.dumps(self)
            return self._json


_OUTPUT_KEYS = ("type", "stream", "lines", "skipped")


def encode_frame(frame: dict) -> str:
    """The frame as JSON text: what json.dumps(frame, default=str) gives.

    An "output" frame whose lines are a LineBatch reuses the batch's JSON,
    so a line followed by many sockets is encoded once, not once per socket.
    """
    lines = frame.get("lines")
    if isinstance(lines, LineBatch) and tuple(frame) == _OUTPUT_KEYS:
        return (
            f'{{"type": {json.dumps(frame["type"])}, "stream": {json.dumps(frame["stream"])},'
            f' "lines": {lines.json}, "skipped": {int(frame["skipped"])}}}'
        )
    return json.dumps(frame, default=str)


# The engine's stamp on a log entry: RFC 3339 in UTC with nine fraction
# digits ("2026-11-30T10:00:00.123456789Z"), then a space.
STAMP_LENGTH = 30


def entry_stamp(entry: bytes) -> bytes:
    """The stamp an engine log entry starts with; b"" for an entry without one.

    The engine writes some messages of its own into a follow without a stamp
    (b"Error grabbing logs: ..."): their first word is not a time.
    """
    if (
        len(entry) > STAMP_LENGTH
        and entry[STAMP_LENGTH] == 0x20
        and entry[STAMP_LENGTH - 1] == 0x5A  # Z
        and 0x30 <= entry[0] <= 0x39
    ):
        return entry[:STAMP_LENGTH]
    return b""


class TimedAssembler:
    """Lines from timestamped log entries, each with the stamp of its first entry.

    An entry is b"<stamp> <text>" as the engine stores a log message: a line
    with its newline, or a piece of a longer one. The same entries always give
    the same (stamp, line) pairs, which is what lets a follow's lines be
    matched with the same lines read again (sandboxes.follows).
    """

    def __init__(self) -> None:
        self._lines = LineAssembler()
        self._stamp = ""  # the stamp of the entry the unfinished line began in

    def feed(self, entries: list[bytes]) -> tuple[list[str], list[str]]:
        """The lines these entries complete, and their stamps (same length)."""
        lines: list[str] = []
        stamps: list[str] = []
        assembler = self._lines
        for entry in entries:
            raw_stamp = entry_stamp(entry)
            stamp = raw_stamp.decode("ascii")
            text = entry[STAMP_LENGTH + 1 :] if raw_stamp else entry
            if (
                len(text) <= assembler.max_line
                and text.endswith(b"\n")
                and text.find(b"\n") == len(text) - 1
                and b"\r" not in text
                and not assembler.pending
            ):
                # Nearly every entry is one whole line: no assembly needed.
                lines.append(plain_text(text[:-1].decode("utf-8", "replace")))
                stamps.append(stamp)
                continue
            if not assembler.pending:
                self._stamp = stamp
            got = assembler.feed(text)
            if got:
                stamps.append(self._stamp)
                stamps.extend([stamp] * (len(got) - 1))
                lines.extend(got)
                self._stamp = stamp  # what is left over began in this entry
        return lines, stamps

    def flush(self) -> tuple[list[str], list[str]]:
        """End of the entries: the unfinished last line, if any."""
        lines = self._lines.flush()
        return lines, [self._stamp] * len(lines)


class OutboundQueue:
    """A socket's ordered outbox that batches output lines and stays bounded.

    `frame()` queues a control frame (never dropped; they are few), `lines()`
    queues output lines of a stream. A sender task turns the queue into frames:
    consecutive lines of one stream become one {"type": "output"} frame.

    Batching: up to BURST sends in any `batch_ms` window go out at once (a
    quiet socket, or a short burst such as a cached build, is never held
    back); past that, sends are spaced so that
    lines coalesce into fewer, larger frames.

    Bound: at most `max_lines` lines, and at most `max_bytes` of them
    (characters plus LINE_OVERHEAD each), wait at any time. Lines that arrive
    while it is full are dropped and counted per stream; the count goes out
    as "skipped" on the next output frame of that stream (a frame with no
    lines when needed), placed before any later control frame of that stream.
    Once a stream has lost lines, its later lines are dropped too until the
    count has been sent, so the lines of a stream never arrive out of order.

    The bound only holds if `send` waits while the client is not reading
    (dockerlab.serve makes the server's send do so). Control frames are never
    dropped; if more than `max_bytes` of them wait, the client is not reading
    at all: `on_overflow()` is called once and the queue stops taking more.
    """

    def __init__(
        self,
        send: Callable[[dict], Awaitable[None]],
        *,
        max_lines: int,
        batch_ms: int,
        max_bytes: int = MAX_QUEUE_BYTES,
        on_overflow: Callable[[], None] | None = None,
    ):
        self._send = send
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self.batch = batch_ms / 1000
        self._on_overflow = on_overflow
        self._items: deque[list] = deque()  # ["frame", dict] | ["lines", stream, list]
        self._queued = 0
        self._line_bytes = 0
        self._frame_bytes = 0
        self._dropped: dict[str, int] = {}
        self.skipped_total = 0
        self.overflowed = False
        self._wake = asyncio.Event()
        self._recent: deque[float] = deque()  # loop times of the latest sends
        self._closed = False
        self._task: asyncio.Task | None = None
        self.frames_sent = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    @property
    def queued_lines(self) -> int:
        return self._queued

    @property
    def queued_bytes(self) -> int:
        """What the waiting lines and control frames cost, in bytes (estimated)."""
        return self._line_bytes + self._frame_bytes

    def frame(self, frame: dict) -> None:
        if self._closed or self.overflowed:
            return
        self._frame_bytes += len(json.dumps(frame, default=str))
        if self._frame_bytes > self.max_bytes:
            self.overflowed = True
            self._items.clear()
            self._queued = self._line_bytes = self._frame_bytes = 0
            if self._on_overflow is not None:
                self._on_overflow()
            return
        self._items.append(["frame", frame])
        self._wake.set()

    def _fitting(self, stream: str, lines: list[str]) -> int:
        """How many of `lines` fit now (0 while the stream has a count to tell)."""
        if stream in self._dropped:
            return 0
        room = max(0, self.max_lines - self._queued)
        budget = self.max_bytes - self._line_bytes
        count = 0
        for line in lines[:room]:
            budget -= len(line) + LINE_OVERHEAD
            if budget < 0:
                break
            count += 1
        return count

    def lines(self, stream: str, lines: Iterable[str]) -> None:
        if self._closed or self.overflowed:
            return
        if not isinstance(lines, LineBatch):
            lines = list(lines)
        if not lines:
            return
        fit = self._fitting(stream, lines)
        if fit < len(lines):
            lost = len(lines) - fit
            self._dropped[stream] = self._dropped.get(stream, 0) + lost
            self.skipped_total += lost
            lines = lines[:fit]  # a plain list now: its JSON is not the batch's
        if lines:
            tail = self._items[-1] if self._items else None
            if tail is not None and tail[0] == "lines" and tail[1] == stream:
                if type(tail[2]) is not list:  # a shared batch: never changed in place
                    tail[2] = list(tail[2])
                tail[2].extend(lines)
            else:
                # A whole batch is kept as it is (shared with other outboxes).
                self._items.append(["lines", stream, lines])
            self._queued += len(lines)
            self._line_bytes += sum(len(line) for line in lines) + LINE_OVERHEAD * len(lines)
        self._wake.set()

    def skip(self, stream: str, count: int) -> None:
        """Count `count` lines of `stream` as lost before they reached the queue."""
        if self._closed or self.overflowed or count <= 0:
            return
        self._dropped[stream] = self._dropped.get(stream, 0) + count
        self.skipped_total += count
        self._wake.set()

    def drain(self) -> list[dict]:
        """Take everything queued, as the frames to send (in order)."""
        frames: list[dict] = []
        last_output: dict[str, dict] = {}
        for item in self._items:
            if item[0] == "frame":
                frames.append(item[1])
            else:
                output = {"type": "output", "stream": item[1], "lines": item[2], "skipped": 0}
                frames.append(output)
                last_output[item[1]] = output
        self._items.clear()
        self._queued = self._line_bytes = self._frame_bytes = 0
        dropped, self._dropped = self._dropped, {}
        for stream, count in dropped.items():
            if stream in last_output:
                last_output[stream]["skipped"] = count
                continue
            gap = {"type": "output", "stream": stream, "lines": [], "skipped": count}
            at = next(
                (i for i, f in enumerate(frames) if f.get("stream") == stream),
                len(frames),
            )
            frames.insert(at, gap)
        return frames

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._closed:
                return
            now = loop.time()
            while self._recent and self._recent[0] <= now - self.batch:
                self._recent.popleft()
            if len(self._recent) >= BURST:
                await asyncio.sleep(self._recent[0] + self.batch - now)
                self._recent.popleft()
            await self._send_all(self.drain())
            self._recent.append(loop.time())

    async def _send_all(self, frames: list[dict]) -> None:
        for frame in frames:
            try:
                await self._send(frame)
            except Exception:  # the socket went away under us, or refused the frame
                log.warning("a frame could not be sent; this socket's outbox stops",
                            exc_info=True)
                self._closed = True
                return
            self.frames_sent += 1

    async def close(self, *, flush: bool = True) -> None:
        """Stop the sender; with `flush`, send what is still queued first."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if flush:
            self._closed = False
            await self._send_all(self.drain())
            self._closed = True
        self._items.clear()
        self._queued = self._line_bytes = self._frame_bytes = 0


class StreamPump:
    """Read a blocking iterator in a thread of its own, delivering on the loop.

    For each item, `transform(item)` runs in the reader thread (so decoding
    and line assembly stay off the event loop) and its non-empty result goes to
    `deliver(result)` on the loop. When the iterator ends, fails or is stopped,
    `finish(error)` runs on the loop once: `error` is None for a normal end or
    a stop, else the exception raised by the stream.

    Results wait in a buffer that the loop takes whole: at most one hand-off
    callback is pending at a time, so a quiet stream's line is delivered at
    once while a flood is moved in large batches instead of one callback per
    line. At most `window` results wait; past that the reader pauses, which
    pushes back on the engine instead of growing without bound.
    """

    def __init__(
        self,
        name: str,
        stream: Any,
        *,
        loop: asyncio.AbstractEventLoop,
        deliver: Callable[[Any], None],
        finish: Callable[[BaseException | None], None],
        transform: Callable[[Any], Any] = lambda item: item,
        tail: Callable[[], Any] | None = None,
        window: int = 4096,
    ):
        self.name = name
        self.stream = stream
        self._loop = loop
        self._deliver = deliver
        self._finish = finish
        self._transform = transform
        self._tail = tail
        self._window = window
        self._buffer: list[Any] = []
        self._scheduled = False  # a _drain callback is pending on the loop
        self._room = threading.Condition()
        self._stopping = threading.Event()
        # In a copy of the caller's context, so what the stream calls while it
        # reads (a reopen) goes to the same engine (engine/pool.py).
        self._thread = threading.Thread(
            target=contextvars.copy_context().run, args=(self._read,),
            name=f"{THREAD_PREFIX}-{name}", daemon=True,
        )

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> bool:
        """Close the stream and wait for the reader; True when it has ended.

        Blocking: call it from a worker thread, not on the event loop.
        """
        self._stopping.set()
        self._close_stream()
        with self._room:  # wake a reader waiting for room
            self._room.notify_all()
        if self._thread.ident is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("stream reader %s did not end within %.1fs", self.name, timeout)
            return False
        return True

    def _close_stream(self) -> None:
        close = getattr(self.stream, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                close()

    def _hand(self, callback: Callable, arg: Any) -> bool:
        try:
            self._loop.call_soon_threadsafe(callback, arg)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            return False
        return True

    def _put(self, result: Any) -> bool:
        """Buffer a result for the loop (reader thread); False once stopping."""
        with self._room:
            while len(self._buffer) >= self._window and not self._stopping.is_set():
                self._room.wait(0.5)
            if self._stopping.is_set():
                return False
            self._buffer.append(result)
            if self._scheduled:
                return True
            self._scheduled = True
        return self._hand(self._drain, None)

    def _drain(self, _: Any) -> None:
        """Deliver everything buffered so far (on the loop)."""
        with self._room:
            results, self._buffer = self._buffer, []
            self._scheduled = False
            self._room.notify_all()
        if self._stopping.is_set():
            return
        for result in results:
            self._deliver(result)

    def _read(self) -> None:
        error: BaseException | None = None
        try:
            for item in self.stream:
                if self._stopping.is_set():
                    break
                result = self._transform(item)
                if not result:
                    continue
                if not self._put(result):
                    break
            if self._tail is not None and not self._stopping.is_set():
                result = self._tail()
                if result:
                    self._put(result)
        except Exception as exc:  # reported to the socket, not raised in a thread
            if not self._stopping.is_set():
                error = exc
        finally:
            self._close_stream()
            self._hand(self._finish_once, error)

    def _finish_once(self, error: BaseException | None) -> None:
        self._finish(error)


def wait_for_threads(prefix: str = THREAD_PREFIX, timeout: float = 5.0) -> list[str]:
    """Names of reader threads still alive after waiting up to `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [t.name for t in threading.enumerate() if t.name.startswith(prefix)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.05)


# What a relay hands to the loop: ("lines", [text, ...]) or ("frame", {...}).
Emit = tuple[str, Any]


class BuildRelay:
    """Turn a build stream's events into outbox items, in the reader thread.

    Build events (see services.BuildStream) carry text cut anywhere; this
    reassembles it into lines, turns steps into "build.step" frames and
    remembers how the build ended for the final "build.done".
    """

    # Frame names: "<prefix>.step", "<prefix>.done".
    prefix = "build"

    def __init__(self, stream: str, prefix: str | None = None):
        self.stream = stream
        if prefix is not None:
            self.prefix = prefix
        self.assembler = LineAssembler()
        self.error: str | None = None
        self.image: str | None = None
        self.image_id: str | None = None
        self.result: dict | None = None

    def __call__(self, event: Any) -> list[Emit]:
        if not isinstance(event, dict):
            return []
        kind = event.get("kind")
        out: list[Emit] = []
        if kind == "line":
            lines = self.assembler.feed(str(event.get("text", "")))
            if lines:
                out.append(("lines", lines))
        elif kind == "step":
            out.extend(self.tail())
            frame = {
                "type": f"{self.prefix}.step",
                "stream": self.stream,
                "step": event.get("step"),
                "steps": event.get("steps"),
                "text": str(event.get("text", "")),
            }
            out.append(("frame", frame))
        elif kind == "error":
            out.extend(self.tail())
            self.error = str(event.get("message") or "The build failed.")
        elif kind == "done":
            out.extend(self.tail())
            self.image = event.get("image")
            self.image_id = event.get("id")
            self.result = event
        return out

    def tail(self) -> list[Emit]:
        lines = self.assembler.flush()
        return [("lines", lines)] if lines else []

    def done_frame(self, error: BaseException | None) -> dict:
        """The "build.done" frame, given how the reader ended."""
        frame: dict = {"type": f"{self.prefix}.done", "stream": self.stream}
        if error is not None and self.error is None:
            self.error = getattr(error, "message", None) or f"The {self.prefix} stopped unexpectedly."
        if self.error is None and self.image is None:
            self.error = f"The {self.prefix} ended without an image."
        if self.error is not None:
            frame.update(ok=False, error=self.error)
        else:
            frame.update(ok=True, image=self.image, id=self.image_id)
        return frame


class LogRelay:
    """Turn a stream's raw byte chunks into lines, in the reader thread (an
    exec's output, or a socket's own follow of logs since a time)."""

    def __init__(self, stream: str):
        self.stream = stream
        self.assembler = LineAssembler()

    def __call__(self, chunk: Any) -> list[Emit]:
        if not isinstance(chunk, (bytes, str)):
            return []
        lines = self.assembler.feed(chunk)
        return [("lines", lines)] if lines else []

    def tail(self) -> list[Emit]:
        lines = self.assembler.flush()
        return [("lines", lines)] if lines else []


class LogSink:
    """One socket's end of a shared log follow (sandboxes.follows).

    The follow's lines go into the socket's outbox under the socket's own
    stream id, between a "logs.start" (when the follow is ready for this
    socket) and one "logs.end" (see docs/websocket.md). `on_end` runs once,
    with that last frame: when the follow ended, or when the socket let go.
    """

    def __init__(
        self,
        out: OutboundQueue,
        stream: str,
        container: str,
        *,
        ref: Any = None,
        on_end: Callable[[], None] | None = None,
    ):
        self.out = out
        self.stream = stream
        self.container = container
        self.ref = ref
        self.ended = False
        self.exit_code: int | None = None  # set by end(): the stopped container's
        self._on_end = on_end

    def start(self) -> None:
        self.out.frame(
            {"type": "logs.start", "stream": self.stream, "ref": self.ref, "container": self.container}
        )

    def lines(self, lines: list[str]) -> None:
        self.out.lines(self.stream, lines)

    def skipped(self, count: int) -> None:
        self.out.skip(self.stream, count)

    def end_fields(self, frame: dict) -> dict:
        """More fields for the "logs.end" frame (a subclass's say)."""
        return {}

    def end(self, exit_code: int | None = None, error: str | None = None) -> None:
        """The last frame: with the exit code of a container that stopped, or why it broke."""
        if self.ended:
            return
        self.ended = True
        self.exit_code = None if error is not None else exit_code
        frame: dict = {"type": "logs.end", "stream": self.stream, "container": self.container}
        if error is not None:
            frame["error"] = error
        elif exit_code is not None:
            frame["exit_code"] = exit_code
        frame.update(self.end_fields(frame))
        self.out.frame(frame)
        if self._on_end is not None:
            self._on_end()


def post(queue: OutboundQueue, stream: str, emits: list[Emit]) -> None:
    """Put a relay's items into a socket's outbox (on the loop)."""
    for kind, value in emits:
        if kind == "lines":
            queue.lines(stream, value)
        else:
            queue.frame(value)


class ComposeRelay(BuildRelay):
    """`compose up` events (shaped like a build's) as "compose.*" frames."""

    prefix = "compose"

    def done_frame(self, error: BaseException | None) -> dict:
        frame: dict = {"type": "compose.done", "stream": self.stream}
        if error is not None and self.error is None:
            self.error = getattr(error, "message", None) or "compose up stopped unexpectedly."
        if self.error is None and self.result is None:
            self.error = "compose up ended before every service was up."
        if self.error is not None:
            frame.update(ok=False, error=self.error)
        else:
            frame.update(ok=True, services=self.result.get("services", []))
        return frame
