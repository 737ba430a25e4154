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
the followed ones.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from dataclasses import dataclass

from django.conf import settings

from engine import client
from sandboxes import naming
from sandboxes.errors import NotInSandbox
from sandboxes.follows import FollowHub, Sink, State, Subscription
from sandboxes.models import Sandbox
from sandboxes.services.common import engine_call
from sandboxes.services.containers import find_container

log = logging.getLogger(__name__)

MAX_TAIL = 10_000
DEFAULT_TAIL = 100
# Seconds between comparisons of the followed containers with the running ones.
RECONCILE_EVERY = 30.0
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
    """The hub's source: the configured engine, over asyncio."""

    async def open(self, key: str, tail: int, on_entries) -> _EngineHandle:
        engine = client.async_engine()
        info = await engine.inspect_container(key)
        tty = bool((info.get("Config") or {}).get("Tty"))
        stream = await engine.follow_log(key, tail=tail, tty=tty, on_entries=on_entries)
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
    await asyncio.gather(_follow_events(hub), _reconcile_every(hub))


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


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, FollowHub] = (
    weakref.WeakKeyDictionary()
)


def hub() -> FollowHub:
    """The running loop's hub (the server has one loop, so one hub)."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        found = _hubs[loop] = FollowHub(EngineSource(), watcher=watch_exits)
    return found
