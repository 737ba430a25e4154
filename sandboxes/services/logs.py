"""Following a container's output until it stops or the reader goes away."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

from engine import client
from sandboxes import naming
from sandboxes.errors import SandboxError
from sandboxes.models import Sandbox
from sandboxes.services.common import engine_call
from sandboxes.services.containers import find_container

log = logging.getLogger(__name__)

# How often the watcher looks whether a followed container still runs, and
# how long it then lets the engine finish sending before it cuts the stream.
WATCH_INTERVAL = 1.0
EXIT_GRACE = 2.0
# A follow that keeps ending is given up after this many restarts in a minute.
MAX_REOPENS_PER_MINUTE = 5
RESUMED = (
    b"[dockerlab: the engine's log follow broke off and was resumed;"
    b" lines in between may be missing]\n"
)


class LogStream:
    """Raw output chunks (bytes, stdout and stderr interleaved, not line-aligned).

    The engine's follow can stay open after its container has exited, so a
    watcher thread checks the container's state and closes the stream once it
    has stopped. `close()` is safe from any thread and ends iteration promptly.
    """

    def __init__(self, sandbox: Sandbox, container_id: str, name: str, stream):
        self.sandbox = sandbox
        self.container_id = container_id
        self.container = name
        self._stream = stream
        self._lock = threading.Lock()  # guards swapping _stream against close()
        self._closed = threading.Event()
        self._reopened: list[float] = []
        # The container's exit code, once a look at its state found it stopped.
        self.exit_code: int | None = None
        self._watcher = threading.Thread(
            target=self._watch, name=f"logs-watch-{name}", daemon=True
        )
        self._watcher.start()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        with self._lock:
            if self._closed.is_set():
                return
            self._closed.set()
            stream = self._stream
        try:
            stream.close()
        except Exception:  # already closed by the engine, or mid-teardown
            log.debug("closing a log stream failed", exc_info=True)

    def __iter__(self) -> Iterator[bytes]:
        try:
            while True:
                yield from self._chunks(self._stream)
                # The engine's follow can end while the container still runs
                # (seen when its log file rotates under a flood): follow again.
                if self.closed or not self._running() or not self._reopen():
                    return
                yield RESUMED
        finally:
            self.close()

    def _chunks(self, stream) -> Iterator[bytes]:
        try:
            for chunk in stream:
                if self.closed:
                    return
                yield chunk
        except Exception:
            if not self.closed:
                log.info(
                    "log stream for %s ended with an error",
                    self.container,
                    exc_info=True,
                )

    def _reopen(self) -> bool:
        now = time.monotonic()
        self._reopened = [t for t in self._reopened if now - t < 60] + [now]
        if len(self._reopened) > MAX_REOPENS_PER_MINUTE:
            return False
        try:
            with engine_call(self.sandbox):
                stream = client.follow_log_chunks(self.container_id, tail=0)
        except SandboxError:
            return False
        with self._lock:
            if not self._closed.is_set():
                self._stream = stream
                return True
        stream.close()  # closed meanwhile: nobody reads this one
        return False

    def _running(self) -> bool:
        try:
            with engine_call(self.sandbox):
                state = (
                    client.api().inspect_container(self.container_id).get("State") or {}
                )
        except SandboxError:
            return False
        if state.get("Running"):
            return True
        if isinstance(state.get("ExitCode"), int):
            self.exit_code = state["ExitCode"]
        return False

    def _watch(self) -> None:
        while not self._closed.wait(WATCH_INTERVAL):
            if not self._running():
                if not self._closed.wait(EXIT_GRACE):
                    self.close()
                return


def follow_logs(
    sandbox: Sandbox, container: str, tail: int = 100, since: int | None = None
) -> LogStream:
    """Start following a sandbox container's output (the last `tail` lines first).

    `since`, a UNIX time, leaves out what was logged before it (`--since`).
    """
    if not isinstance(tail, int) or isinstance(tail, bool) or tail < 0:
        tail = 100
    found = find_container(sandbox, container)
    name = next((n.lstrip("/") for n in found.get("Names") or []), found["Id"][:12])
    with engine_call(sandbox):
        stream = client.follow_log_chunks(found["Id"], tail=min(tail, 10_000), since=since)
    return LogStream(
        sandbox,
        found["Id"],
        naming.learner_container(sandbox.sid, name) or name,
        stream,
    )
