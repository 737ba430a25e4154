"""The live picture: what each watching learner's services do on the swarm, pushed as it changes.

One watcher per server process polls the manager while at least one lab
socket watches, every DOCKERLAB_SWARM_WATCH_MS (250 ms): one list of this
deployment's services, one list of the tasks of the watched sandboxes'
services, one list of nodes. Each poll costs the manager three calls
whatever the number of learners (a poll per learner would cost a call per
learner), and the engine's event stream has no task events to follow
instead (tasks are the manager's, containers each node's).

For every watched sandbox the watcher builds the picture (nodes, the
learner's services and their current and recent tasks) and sends a `swarm`
frame to that sandbox's watching sockets when it differs from the last one
sent: a task the manager reports reaches the page within one interval plus
the socket's batching window. Nothing of another sandbox is in a picture:
services are taken by the sandbox's label and this deployment's, tasks by
those services' ids.

Like sandboxes/health.py's watcher: at most one poller task per process,
started by the first socket to watch and stopped with the last; polls run
in a worker thread, one at a time; the group names are this process's own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings

from orchestration.services import learner
from orchestration.services import specs as spec_mod
from sandboxes import labels as label_keys

log = logging.getLogger(__name__)
EVENT_TYPE = "lab.swarm"
NODES_EVERY = 4  # polls between two reads of the node list


@dataclass(frozen=True)
class _Sid:
    """What the learner functions need of a sandbox to build views: its id."""

    sid: str


def _group_services(services: list[dict], wanted: set[str]) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {sid: [] for sid in wanted}
    for service in services:
        labels = (service.get("Spec") or {}).get("Labels") or {}
        sid = labels.get(label_keys.SANDBOX)
        if sid in grouped and spec_mod.is_sandbox_object(
            service, sid, settings.DOCKERLAB_DEPLOYMENT
        ):
            grouped[sid].append(service)
    return grouped


def picture(sid: str, services: list[dict], tasks: list[dict], node_entries: list[dict]) -> dict:
    """The `swarm` frame of one sandbox, from the manager's lists (already the sandbox's)."""
    sandbox = _Sid(sid)
    mine = {s["ID"]: s for s in services}
    drained = learner.drained(sandbox, services)
    hostnames = learner.hostnames_by_id(node_entries)
    now = time.time()
    shown = [t for t in tasks if t.get("ServiceID") in mine and learner.recent(t, now)]
    nodes = []
    for entry in node_entries:
        spec = entry.get("Spec") or {}
        hostname = (entry.get("Description") or {}).get("Hostname", "?")
        nodes.append({
            "name": hostname,
            "role": spec.get("Role", "?"),
            "state": (entry.get("Status") or {}).get("State", "?"),
            "availability": "drain" if hostname in drained else spec.get("Availability", "active"),
            "drained_by_you": hostname in drained,
        })
    nodes.sort(key=lambda n: (n["role"] != "manager", n["name"]))
    return {
        "type": "swarm",
        "nodes": nodes,
        "services": sorted(
            (learner.service_view(sandbox, s, tasks) for s in services), key=lambda v: v["name"]
        ),
        "tasks": sorted(
            (learner.task_view(sandbox, t, mine[t["ServiceID"]], hostnames) for t in shown),
            key=lambda v: (v["service"], v["slot"], v["created"]),
        ),
    }


def poll(sids: set[str], node_entries: list[dict] | None = None) -> tuple[dict[str, dict], list]:
    """One look at the manager: the picture of each sandbox in `sids`, and the node list."""
    api = learner.manager()
    flt = {"label": [f"{label_keys.DEPLOYMENT}={settings.DOCKERLAB_DEPLOYMENT}", label_keys.SANDBOX]}
    with learner.swarm_call():
        services = api.services(filters=flt) or []
        grouped = _group_services(services, sids)
        ids = [s["ID"] for group in grouped.values() for s in group]
        tasks = (api.tasks(filters={"service": ids}) or []) if ids else []
        if node_entries is None:
            node_entries = api.nodes() or []
    return {
        sid: picture(sid, group, [t for t in tasks if t.get("ServiceID") in {s["ID"] for s in group}],
                     node_entries)
        for sid, group in grouped.items()
    }, node_entries


class SwarmWatcher:
    """Polls the manager for the sandboxes whose sockets watch; sends changed pictures."""

    def __init__(self, interval: float | None = None):
        self.token = secrets.token_hex(6)
        self._interval = interval
        self._members: dict[str, str] = {}  # channel -> sid
        self._last: dict[str, str] = {}  # sid -> the last picture sent, as JSON
        self._layer: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._nodes: list | None = None
        self._polls = 0

    @property
    def interval(self) -> float:
        return self._interval or settings.DOCKERLAB_SWARM_WATCH_MS / 1000

    def group(self, sid: str) -> str:
        return f"lab.swarm.{self.token}.{sid}"

    @property
    def watching(self) -> int:
        return len(self._members)

    async def join(self, layer: Any, channel: str, sid: str) -> dict:
        """A socket starts hearing its sandbox's pictures; returns the current one."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._restart(loop)
        current, _ = await sync_to_async(poll, thread_sensitive=False)({sid})
        frame = current[sid]
        if layer is not None:
            self._layer = layer
            await layer.group_add(self.group(sid), channel)
            self._members[channel] = sid
            self._last.setdefault(sid, json.dumps(frame, sort_keys=True))
            if self._task is None or self._task.done():
                self._task = loop.create_task(self._run(), name="swarm-watcher")
        return frame

    async def leave(self, layer: Any, channel: str | None) -> None:
        sid = self._members.pop(channel, None) if channel else None
        if sid is None or layer is None:
            return
        await layer.group_discard(self.group(sid), channel)
        if sid not in self._members.values():
            self._last.pop(sid, None)
        if not self._members:
            self._stop()

    def _restart(self, loop: asyncio.AbstractEventLoop) -> None:
        self._stop()
        self._members.clear()
        self._last.clear()
        self._loop = loop

    def _stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._task = None

    async def _run(self) -> None:
        while self._members:
            started = time.monotonic()
            try:
                await self._tick()
            except Exception:  # a manager or channel hiccup must not end the watcher
                log.warning("the swarm watcher's poll failed", exc_info=True)
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))

    async def _tick(self) -> None:
        sids = set(self._members.values())
        reuse = self._nodes if self._polls % NODES_EVERY else None
        self._polls += 1
        try:
            pictures, self._nodes = await sync_to_async(poll, thread_sensitive=False)(sids, reuse)
        except Exception as exc:
            message = getattr(exc, "message", None) or "The swarm cannot be read right now."
            pictures = {sid: {"type": "swarm", "error": message} for sid in sids}
        for sid, frame in pictures.items():
            text = json.dumps(frame, sort_keys=True)
            if self._last.get(sid) == text or sid not in self._members.values():
                continue
            self._last[sid] = text
            frame = {**frame, "at": time.time()}
            await self._layer.group_send(self.group(sid), {"type": EVENT_TYPE, "frame": frame})


# The process's watcher.
watcher = SwarmWatcher()
