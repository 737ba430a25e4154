"""Following a container's output: ownership here, one shared follow per container.

`log_target` finds the container a learner names among their own sandbox's
containers (blocking, like every lookup; the consumer runs it in the streams
pool). Only what it returns can be followed: `follow` subscribes a sink to
that container's follow on the running loop's hub (sandboxes.follows),
opening the engine follow for the first watcher and sharing it with the
others. Nothing of a follow runs in a thread: the engine is read over
asyncio (engine.client.async_engine).

Exits are seen three ways, cheapest first: the engine ends a follow when its
container stops (20.10 and later do); the engine's event stream, followed
once per hub while it has follows and filtered to "die" events of this
deployment's containers, ends a follow the engine left open; and as events
can be lost (the stream breaks, the engine restarts), every RECONCILE_EVERY
seconds one list of this deployment's running containers is compared with
the followed ones. And every STALL_CHECK_EVERY seconds the follows that have
been quiet a while are compared with the last entry of their log: the
engine's follow can stop sending while its container prints on.

`follow_logs` is the blocking follow (a thread watches the container's
state), kept for callers that already run in a thread: the lesson runner.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings

from engine import client
from sandboxes import naming
from sandboxes.errors import NotInSandbox, SandboxError
from sandboxes.follows import RESUMED, FollowHub, Sink, State, Subscription
from sandboxes.models import Sandbox
from sandboxes.services.common import engine_call
from sandboxes.services.containers import find_container

log = logging.getLogger(__name__)

MAX_TAIL = 10_000
DEFAULT_TAIL = 100
# Seconds between comparisons of the followed containers with the running ones.
RECONCILE_EVERY = 30.0
# How often the follows quiet for a while are compared with the engine's log.
STALL_CHECK_EVERY = 5.0
# Longest wait before following the event stream again after it broke.
EVENTS_BACKOFF_MAX = 30.0
DEPLOYMENT_LABEL = "org.dockerlab.deployment"


@dataclass(frozen=True)
class LogTarget:
    """A container a learner may follow: found in their own sandbox."""

    container_id: str
    name: str  # as the learner names it


def log_target(sandbox: Sandbox, container: str) -> LogTarget:
    """The sandbox's container `container` names; NotInSandbox for any other."""
    found = find_container(sandbox, container)
    engine_name = next((n for n in found.get("Names") or []), "")
    name = naming.learner_container(sandbox.sid, engine_name) or found["Id"][:12]
    return LogTarget(found["Id"], name)


def clamp_tail(tail: object) -> int:
    if not isinstance(tail, int) or isinstance(tail, bool) or tail < 0:
        return DEFAULT_TAIL
    return min(tail, MAX_TAIL)


async def follow(target: LogTarget, tail: int, sink: Sink) -> Subscription:
    """Follow `target` into `sink` (see FollowHub.subscribe); the caller keeps
    the subscription and closes it when it no longer wants the lines."""
    try:
        return await hub().subscribe(target.container_id, clamp_tail(tail), sink)
    except client.NotFound:
        raise NotInSandbox(f"There is no container {target.name!r} in your sandbox.") from None


def read_logs(sandbox: Sandbox, container: str, tail: int = DEFAULT_TAIL) -> str:
    """The last `tail` lines of a sandbox container's output, read once."""
    found = find_container(sandbox, container)
    with engine_call(sandbox):
        data = client.api().logs(found["Id"], stdout=True, stderr=True, tail=clamp_tail(tail))
    return data.decode("utf-8", "replace")


# --- the engine behind the hub -------------------------------------------------


class _EngineHandle:
    def __init__(self, key: str, tty: bool, stream: client.LogFollow):
        self.key = key
        self.tty = tty
        self.stream = stream

    async def wait(self) -> None:
        await self.stream.wait()

    def close(self) -> None:
        self.stream.close()

    async def history(self, tail: int) -> list[bytes]:
        return await client.async_engine().log_entries(self.key, tail=tail, tty=self.tty)


class EngineSource:
    """The hub's source: its engine (the current one when it opens), over asyncio."""

    async def open(self, key: str, tail: int, on_entries, since: bytes | None = None
                   ) -> _EngineHandle:
        engine = client.async_engine()
        info = await engine.inspect_container(key)
        tty = bool((info.get("Config") or {}).get("Tty"))
        stream = await engine.follow_log(key, tail=tail, tty=tty, on_entries=on_entries,
                                         since=since)
        return _EngineHandle(key, tty, stream)

    async def state(self, key: str) -> State:
        try:
            info = await client.async_engine().inspect_container(key)
        except client.NotFound:
            return State(running=False)  # removed: no exit code to tell
        state = info.get("State") or {}
        if state.get("Running"):
            return State(running=True)
        code = state.get("ExitCode")
        return State(running=False, exit_code=code if isinstance(code, int) else None)


async def watch_exits(hub: FollowHub) -> None:
    """Tell `hub` about followed containers that stop, while it has follows."""
    await asyncio.gather(_follow_events(hub), _reconcile_every(hub), _check_stalls_every(hub))


def _deployment_filter() -> list[str]:
    return [f"{DEPLOYMENT_LABEL}={settings.DOCKERLAB_DEPLOYMENT}"]


async def _follow_events(hub: FollowHub) -> None:
    engine = client.async_engine()
    filters = {"type": ["container"], "event": ["die"], "label": _deployment_filter()}
    since: float | None = None
    backoff = 1.0

    def on_event(event: dict) -> None:
        nonlocal since
        at = (event.get("timeNano") or 0) / 1e9 or None
        since = at or since
        actor = event.get("Actor") or {}
        code = str((actor.get("Attributes") or {}).get("exitCode", ""))
        hub.died(str(actor.get("ID") or ""), int(code) if code.isdigit() else None, at)

    while True:
        try:
            stream = await engine.events(filters=filters, on_event=on_event, since=since)
        except client.EngineError as exc:
            log.info("the engine's event stream is not available (%s); again in %.0fs",
                     exc.message, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, EVENTS_BACKOFF_MAX)
            continue
        if since is not None:
            # It broke before: what stopped meanwhile may be past the replay.
            await _reconcile(hub)
        since = since or time.time()
        backoff = 1.0
        try:
            await stream.wait()
        except client.EngineError:
            pass
        finally:
            stream.close()


async def _check_stalls_every(hub: FollowHub) -> None:
    """Resume the follows the engine stopped sending to (Follow.check_stall)."""
    while True:
        await asyncio.sleep(STALL_CHECK_EVERY)
        await hub.check_stalls()


async def _reconcile_every(hub: FollowHub) -> None:
    while True:
        await asyncio.sleep(RECONCILE_EVERY)
        await _reconcile(hub)


async def _reconcile(hub: FollowHub) -> None:
    """End the follows of containers that no longer run (a lost event)."""
    if not hub.followed():
        return
    try:
        running = await client.async_engine().containers(
            filters={"label": _deployment_filter(), "status": ["running"]}
        )
    except client.EngineError as exc:
        log.info("could not compare the followed containers with the running ones: %s",
                 exc.message)
        return
    alive = {container.get("Id") for container in running}
    for key in hub.followed():
        if key in alive:
            continue
        try:
            state = await hub.source.state(key)
        except client.EngineError:
            continue
        if not state.running:
            hub.died(key, state.exit_code)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, FollowHub]] = (
    weakref.WeakKeyDictionary()
)


def hub() -> FollowHub:
    """The running loop's hub for the current engine (engine/pool.py).

    The server has one loop, so one hub per engine of the pool. A hub's
    follows and its exit watcher are tasks started by its first subscriber,
    whose context is bound to that engine: they read that engine only.
    """
    loop = asyncio.get_running_loop()
    by_engine = _hubs.setdefault(loop, {})
    name = client.engine_name()
    found = by_engine.get(name)
    if found is None:
        found = by_engine[name] = FollowHub(EngineSource(), watcher=watch_exits)
    return found


# --- a blocking follow, for callers in a thread of their own -------------------
#
# The lesson runner (sandboxes.runner) reads a finished container's output, or
# a running one's for a few seconds, from a worker thread; sockets use the
# shared follows above instead.

# How often the watcher looks whether a followed container still runs, and
# how long it then lets the engine finish sending before it cuts the stream.
WATCH_INTERVAL = 1.0
EXIT_GRACE = 2.0
# A follow that keeps ending is given up after this many restarts in a minute.
MAX_REOPENS_PER_MINUTE = 5
_RESUMED_LINE = (RESUMED + "\n").encode()


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
        # In a copy of the caller's context: it looks at the container on the
        # sandbox's engine (engine/pool.py).
        self._watcher = threading.Thread(
            target=contextvars.copy_context().run, args=(self._watch,),
            name=f"logs-watch-{name}", daemon=True,
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
                yield _RESUMED_LINE
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
