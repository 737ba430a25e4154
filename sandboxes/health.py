"""Whether the engine answers, told to every open lab page.

One watcher per process and engine pings that engine while at least one lab
socket of a sandbox on it is open, and sends each of them an `engine` frame
(docs/websocket.md) when the engine stops answering and when it answers
again. Sockets never ping. With a pool of engines, an engine that goes down
is told only to the sockets of its own sandboxes.

Invariants:
- At most one pinger task per process and engine: sockets join and leave
  the watcher's group; the first to join starts the task, the last to leave
  stops it.
- Only changes are sent. The first ping after the watcher (re)starts finding
  the engine up says nothing; finding it down says so. A socket that joins
  while the engine is known to be down gets one `down` frame of its own.
- A ping runs in a worker thread with a short timeout, one at a time: a hung
  engine never blocks the event loop, and slow pings never pile up.
- The group is this process's own (a random name), so with a channel layer
  shared by several processes each one tells its own sockets, once.
- The watcher belongs to the event loop that started it; a socket on another
  loop (a test's fresh loop) starts a new one rather than joining a task that
  can no longer run.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async

from engine import client, pool

log = logging.getLogger(__name__)

# Seconds between pings, and how long one ping may take before the engine
# counts as not answering.
INTERVAL = 2.0
PING_TIMEOUT = 2.0
# The channel-layer message type; LabConsumer.lab_engine forwards its frame.
EVENT_TYPE = "lab.engine"

DOWN_MESSAGE = (
    "The lab's Docker engine is not answering right now. "
    "Your work is safe; this page will reconnect by itself."
)
UP_MESSAGE = "The lab's Docker engine is answering again."


def engine_frame(up: bool) -> dict:
    """The `engine` frame a lab socket sends its page."""
    if up:
        return {"type": "engine", "state": "up", "message": UP_MESSAGE}
    return {"type": "engine", "state": "down", "message": DOWN_MESSAGE}


def ping_engine(name: str = "") -> bool:
    """True when engine `name` of the pool (default: the default engine)
    answers a ping within PING_TIMEOUT."""
    with pool.using(name):
        try:
            client.ping(timeout=PING_TIMEOUT)
        except client.EngineError:
            return False
    return True


class EngineWatcher:
    """Pings one engine while sockets watch it; tells them when it changes."""

    def __init__(self, ping: Callable[[], bool] = ping_engine, interval: float = INTERVAL):
        self.group = f"lab.engine.{secrets.token_hex(6)}"
        self.ping = ping
        self.interval = interval
        self.up: bool | None = None  # unknown until the first ping
        self._members: set[str] = set()
        self._layer: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None

    @property
    def watching(self) -> int:
        """How many sockets watch (for tests and logs)."""
        return len(self._members)

    async def join(self, layer: Any, channel: str) -> None:
        """A lab socket starts hearing `engine` frames."""
        if layer is None:
            return
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._restart(loop)
        self._layer = layer
        await layer.group_add(self.group, channel)
        self._members.add(channel)
        if self.up is False:
            await layer.send(channel, {"type": EVENT_TYPE, "frame": engine_frame(False)})
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run(), name="engine-watcher")

    async def leave(self, layer: Any, channel: str | None) -> None:
        """A lab socket closed; the last one out stops the pinger."""
        if layer is None or channel not in self._members:
            return
        self._members.discard(channel)
        await layer.group_discard(self.group, channel)
        if not self._members:
            self._stop()

    def _restart(self, loop: asyncio.AbstractEventLoop) -> None:
        self._stop()
        self._members.clear()
        self._loop = loop

    def _stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._task = None
        # Nobody hears about the engine meanwhile: the next watch starts afresh.
        self.up = None

    async def _run(self) -> None:
        ping = sync_to_async(self.ping, thread_sensitive=False)
        while True:
            up = await ping()
            if up != self.up:
                try:
                    await self._changed(self.up, up)
                except Exception:  # a channel layer hiccup must not end the watcher
                    log.exception("telling lab sockets about the engine failed")
            await asyncio.sleep(self.interval)

    async def _changed(self, was: bool | None, up: bool) -> None:
        self.up = up
        if was is None and up:
            return
        if up:
            log.info("the engine answers again; telling %d lab sockets", len(self._members))
        else:
            log.warning("the engine stopped answering; telling %d lab sockets", len(self._members))
        await self._layer.group_send(self.group, {"type": EVENT_TYPE, "frame": engine_frame(up)})


# The process's watcher of the default engine.
watcher = EngineWatcher()
# Those of the pool's other engines (engine/pool.py), made on first use.
_others: dict[str, EngineWatcher] = {}


def watcher_for(name: str) -> EngineWatcher:
    """The watcher of engine `name`, whose sandboxes' sockets hear about it only."""
    if not name or name == pool.default().name:
        return watcher
    found = _others.get(name)
    if found is None:
        found = _others[name] = EngineWatcher(functools.partial(ping_engine, name))
    return found
