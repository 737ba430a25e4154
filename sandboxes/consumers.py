"""The lab websocket (/ws/lab/): a learner's sandbox actions and live output.

Thin on purpose: parse and check a message, hand the work to
sandboxes.services in a worker thread, turn the outcome into frames. Reading
engine streams, batching and bounding output live in sandboxes.streaming.
The protocol is documented in docs/websocket.md.

What a learner may have going at once is counted per learner across all of
their sockets (sandboxes.slots): sockets, streams, builds, actions in flight.
Engine work runs in sandboxes.workers' pools, where one learner's slow calls
queue behind each other, never in front of other learners'. Frames larger
than the server's websocket limit never reach this code (dockerlab.serve).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from engine import pool
from engine.client import EngineError, EngineUnavailable
from lessons import progress
from lessons.history import record_action
from lessons.progress import ProgressError
from orchestration import lab as swarm_lab
from orchestration import watch as swarm_watch
from sandboxes import checking, commands, health, services, slots, workers
from sandboxes.commands import LAB_ACTIONS
from sandboxes.follows import Subscription
from sandboxes.runner import Outcome
from sandboxes.services import (
    builds,
    capacity,
    compose,
    containers,
    layers,
    logs,
    networks,
    registry,
    timing,
)
from sandboxes.services.exec import exec_command
from sandboxes.streaming import (
    BuildRelay,
    ComposeRelay,
    LogRelay,
    LogSink,
    OutboundQueue,
    StreamPump,
    encode_frame,
    post,
)

log = logging.getLogger(__name__)

# Close codes (4000-4999 are ours): a socket opened without a signed-in user;
# one past the learner's number of sockets; a client that stopped reading.
CLOSE_AUTH_REQUIRED = 4401
CLOSE_NOT_READING = 4408
CLOSE_TOO_MANY_SOCKETS = 4429
# A text frame larger than this is refused before parsing (a Dockerfile may be
# 64 KiB). The server refuses frames over dockerlab.serve.MAX_MESSAGE_BYTES
# before they are even read; this check answers the ones in between.
MAX_FRAME_CHARS = 96 * 1024
MAX_NAME_CHARS = 256
MAX_DOCKERFILE_CHARS = 64 * 1024
MAX_COMMAND_CHARS = 2048
# Actions one socket may have in progress at once (the learner's sockets
# together: DOCKERLAB_ACTIONS_PER_USER).
MAX_PENDING = 8


class ProtocolError(Exception):
    """A message that cannot be acted on; becomes an "error" frame."""

    def __init__(self, code: str, message: str, ref: Any = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref


@dataclass(frozen=True)
class Arg:
    """One argument of an action: its JSON type and limits."""

    kind: type
    required: bool = False
    max_chars: int = MAX_NAME_CHARS
    choices: tuple = ()
    minimum: int | None = None
    maximum: int | None = None


_NAME = Arg(str, required=True)
ACTIONS: dict[str, dict[str, Arg]] = {
    "state": {},
    "build": {
        "tag": Arg(str),
        "dockerfile": Arg(str, max_chars=MAX_DOCKERFILE_CHARS),
        "no_cache": Arg(bool),
        "app": Arg(str, max_chars=builds.MAX_APP),
        "target": Arg(str, max_chars=64),
    },
    "run": {
        "image": _NAME,
        "name": Arg(str),
        "port": Arg(int, minimum=1, maximum=65535),
        "command": Arg(str, max_chars=MAX_COMMAND_CHARS),
        "env": Arg(dict),
        "publish": Arg(bool),
        "network": Arg(str, max_chars=63),
    },
    "logs": {
        "container": _NAME,
        "tail": Arg(int, minimum=0, maximum=10_000),
        "since": Arg(int, minimum=1, maximum=commands.MAX_SINCE),
    },
    "unfollow": {"stream": _NAME},
    "stop": {"container": _NAME},
    "remove": {"container": _NAME},
    "rmi": {"image": _NAME},
    "inspect": {"kind": Arg(str, required=True, choices=("container", "image")), "name": _NAME},
    "prune": {},
    "volume_rm": {"volume": _NAME},
    "tag": {"source": _NAME, "target": _NAME},
    "push": {"image": _NAME},
    "pull": {"image": _NAME},
    "compose": {
        "command": Arg(str, required=True, choices=("up", "ps", "down")),
        "build": Arg(bool),
        "volumes": Arg(bool),
        "file": Arg(str, max_chars=compose.MAX_FILE),
    },
    # The multistage lesson's layers and the start timing (sandboxes.services
    # .layers and .timing).
    "history": {"image": _NAME},
    "timing": {"runs": Arg(int, minimum=1, maximum=timing.MAX_RUNS)},
    # The classroom swarm (orchestration/lab.py).
    "service": {
        "command": Arg(str, required=True, choices=swarm_lab.SERVICE_COMMANDS),
        "name": Arg(str),
        "image": Arg(str),
        "replicas": Arg(int, minimum=0, maximum=1000),
        "publish": Arg(str, max_chars=64),
        "env": Arg(dict),
        "args": Arg(str, max_chars=MAX_COMMAND_CHARS),
        "update_parallelism": Arg(int, minimum=0, maximum=100),
        "update_delay": Arg(int, minimum=0, maximum=3600),
        "update_failure_action": Arg(str, choices=("pause", "continue", "rollback")),
        "force": Arg(bool),
    },
    "task_kill": {"task": _NAME},
    "stack": {
        "command": Arg(str, required=True, choices=swarm_lab.STACK_COMMANDS),
        "name": Arg(str),
        "file": Arg(str, max_chars=64),
        "text": Arg(str, max_chars=compose.MAX_FILE),
    },
    "node": {
        "command": Arg(str, required=True, choices=swarm_lab.NODE_COMMANDS),
        "node": Arg(str, max_chars=64),
        "availability": Arg(str, choices=("drain", "active", "pause")),
    },
    "swarm_watch": {},
    "swarm_unwatch": {},
    # -- networks, exec, history, restart, start, volume prune, and a lesson line --
    "network": {
        "command": Arg(str, required=True, choices=commands.NETWORK_COMMANDS),
        "name": Arg(str, max_chars=63),
        "container": Arg(str),
        "force": Arg(bool),
    },
    "exec": {"container": _NAME, "command": Arg(str, required=True, max_chars=MAX_COMMAND_CHARS)},
    "restart": {"container": _NAME},
    "start": {"container": _NAME},
    "volume_prune": {"all": Arg(bool)},
    # `app`: the learner's edited app.py, for the line's builds (as build's own `app`).
    "line": {
        "text": Arg(str, required=True, max_chars=commands.MAX_LINE),
        "app": Arg(str, max_chars=builds.MAX_APP),
    },
}
# How long `docker logs NAME` (no -f) given as a line is read before it stops.
LINE_LOGS_SECONDS = 1.5

# Checks, hints and solutions of a lesson's steps and challenges (sandboxes.checking
# checks the names against the loaded lessons). `watch` says which lesson the
# page shows (and, optionally, the step the learner is on).
MAX_LESSON_CHARS = 64
MAX_ITEM_NUMBER = 999
_ITEM = {
    "lesson": Arg(str, required=True, max_chars=MAX_LESSON_CHARS),
    "kind": Arg(str, required=True, choices=checking.KINDS),
    "number": Arg(int, required=True, minimum=1, maximum=MAX_ITEM_NUMBER),
}
ACTIONS.update(
    {
        "watch": {
            "lesson": Arg(str, required=True, max_chars=MAX_LESSON_CHARS),
            "step": Arg(int, minimum=1, maximum=MAX_ITEM_NUMBER),
        },
        "check": _ITEM,
        "hint": _ITEM,
        "solution": _ITEM,
    }
)
# A followed `run` with a command waiting for its exit code, per socket.
MAX_COMMAND_RUNS = 16


@dataclass
class Request:
    """A checked client message."""

    action: str
    ref: Any = None
    args: dict[str, Any] = field(default_factory=dict)
    # Its outcome is in the lab history already (a later error must not add another).
    recorded: bool = field(default=False, compare=False)


def _check_arg(action: str, name: str, spec: Arg, value: Any) -> Any:
    if spec.kind is dict:
        # The service checks the entries (names, values, how many).
        if not isinstance(value, dict):
            raise ProtocolError(
                "bad_request", f"'{name}' for {action} must be an object of NAME: value."
            )
        return value
    if spec.kind is bool:
        if not isinstance(value, bool):
            raise ProtocolError("bad_request", f"'{name}' for {action} must be true or false.")
        return value
    if spec.kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProtocolError("bad_request", f"'{name}' for {action} must be a whole number.")
        if (spec.minimum is not None and value < spec.minimum) or (
            spec.maximum is not None and value > spec.maximum
        ):
            raise ProtocolError(
                "bad_request",
                f"'{name}' for {action} must be between {spec.minimum} and {spec.maximum}.",
            )
        return value
    if not isinstance(value, str):
        raise ProtocolError("bad_request", f"'{name}' for {action} must be a string.")
    if spec.required and not value.strip():
        raise ProtocolError("bad_request", f"'{name}' for {action} must not be empty.")
    if len(value) > spec.max_chars:
        raise ProtocolError(
            "bad_request",
            f"'{name}' for {action} is too long (at most {spec.max_chars} characters).",
        )
    if spec.choices and value not in spec.choices:
        raise ProtocolError(
            "bad_request", f"'{name}' for {action} must be one of: {', '.join(spec.choices)}."
        )
    return value


def parse_message(text: str | None, binary: bytes | None = None) -> Request:
    """Check one incoming frame; raise ProtocolError saying what is wrong."""
    if text is None:
        raise ProtocolError(
            "bad_frame",
            'Binary frames are not understood: send JSON text like {"action": "state"}.',
        )
    if len(text) > MAX_FRAME_CHARS:
        raise ProtocolError(
            "too_large", f"The message is too large (at most {MAX_FRAME_CHARS // 1024} KiB)."
        )
    try:
        message = json.loads(text)
    except ValueError:
        raise ProtocolError("bad_json", "The message is not valid JSON.") from None
    if not isinstance(message, dict):
        raise ProtocolError(
            "bad_request", 'A message must be a JSON object like {"action": "state"}.'
        )
    ref = message.get("ref")
    if ref is not None and not (
        (isinstance(ref, str) and len(ref) <= 64)
        or (isinstance(ref, int) and not isinstance(ref, bool))
    ):
        raise ProtocolError("bad_request", "'ref' must be a short string or a number.")
    action = message.get("action")
    if not isinstance(action, str) or action not in ACTIONS:
        known = ", ".join(ACTIONS)
        what = "is missing" if action is None else f"{str(action)[:40]!r} is not known"
        raise ProtocolError("unknown_action", f"The action {what}. Known actions: {known}.", ref)
    spec = ACTIONS[action]
    args = {}
    for name, value in message.items():
        if name in ("action", "ref"):
            continue
        if name not in spec:
            allowed = ", ".join(spec) or "none"
            raise ProtocolError(
                "bad_request", f"{action} takes no '{name[:40]}' (its arguments: {allowed}).", ref
            )
        try:
            args[name] = _check_arg(action, name, spec[name], value)
        except ProtocolError as exc:
            exc.ref = ref
            raise
    for name, arg in spec.items():
        if arg.required and name not in args:
            raise ProtocolError("bad_request", f"{action} needs '{name}'.", ref)
    return Request(action, ref, args)


class _KeepingLogRelay(LogRelay):
    """A log relay that also keeps the last lines (a command run's output, for the history)."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.kept = checking.KeptLines()

    def __call__(self, chunk: Any) -> list:
        return self.kept.keep(super().__call__(chunk))

    def tail(self) -> list:
        return self.kept.keep(super().tail())


class _KeepingLogSink(LogSink):
    """A log sink that also keeps the last lines (a command run's output, for the history)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.kept = checking.KeptLines()

    def lines(self, lines: list[str]) -> None:
        self.kept.keep([("lines", lines)])
        super().lines(lines)


class _ForegroundLogSink(_KeepingLogSink):
    """The output of a foreground `docker run`: its end says whether --rm removes it.

    Its last lines are kept too: the run's exit and output go to the lab
    history and the checks, as a follow of the panel's own command runs does.
    """

    def __init__(self, *args: Any, rm: bool, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.rm = rm

    def end_fields(self, frame: dict) -> dict:
        return {"removed": True} if self.rm and frame.get("exit_code") is not None else {}


# Recordings in progress, across sockets: they outlive the socket that made
# them (a learner closing the tab right after an action keeps its record).
_recordings: set[asyncio.Task] = set()


def _close_quietly(stream: Any) -> None:
    try:
        stream.close()
    except Exception:  # already closed or broken: either way it is gone
        log.debug("closing an abandoned stream failed", exc_info=True)


async def _open_stream(user: Any, func, *args, **kwargs) -> Any:
    """Call a service that opens an engine stream, never leaking the stream.

    If the socket goes away while the engine is still answering, the call
    finishes in its thread anyway; the stream it returns is then closed.
    """
    future = asyncio.ensure_future(workers.streams(user, func, *args, **kwargs))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        future.add_done_callback(
            lambda f: f.cancelled() or f.exception() is not None or _close_quietly(f.result())
        )
        raise


class LabConsumer(AsyncWebsocketConsumer):
    """One browser tab's connection to its learner's sandbox."""

    async def connect(self) -> None:
        self.out: OutboundQueue | None = None
        self.pumps: dict[str, StreamPump] = {}
        self.follows: dict[str, Subscription] = {}
        self.tasks: set[asyncio.Task] = set()
        self.sandbox = None
        self.group: str | None = None
        self.closed = False
        self.socket_slot: slots.Slot | None = None
        self._counter = 0
        self.user = None
        self.watching: str | None = None
        self._command_runs: dict[str, dict] = {}
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self._refuse(
                "auth_required",
                "Sign in to use the lab: lessons are open to all, hands-on needs an account.",
                CLOSE_AUTH_REQUIRED,
            )
            return
        limit = settings.DOCKERLAB_WS_SOCKETS_PER_USER
        self.socket_slot = slots.take("sockets", user.pk, limit)
        if self.socket_slot is None:
            await self._refuse(
                "too_many_sockets",
                f"You have {limit} lab connections open already (tabs or windows): "
                "close one, then reload this page.",
                CLOSE_TOO_MANY_SOCKETS,
            )
            return
        self.user = user
        self.out = OutboundQueue(
            self._send_frame,
            max_lines=settings.DOCKERLAB_WS_QUEUE_LINES,
            max_bytes=settings.DOCKERLAB_WS_QUEUE_BYTES,
            batch_ms=settings.DOCKERLAB_WS_BATCH_MS,
            on_overflow=self._not_reading,
        )
        self.out.start()
        sid = None
        try:
            sid = (await self._sandbox()).sid
        except services.SandboxError as exc:
            self._error(exc.code, exc.message)
        self.out.frame({"type": "hello", "user": user.get_username(), "sandbox": sid})
        if sid is not None and self.channel_layer is not None:
            # Every open tab of this learner hears about changes made in another.
            self.group = f"lab.sandbox.{sid}"
            await self.channel_layer.group_add(self.group, self.channel_name)
        # Engine status: this socket hears "engine" frames (sandboxes/health.py)
        # about its own sandbox's engine.
        self.engine_watcher = health.watcher_for(self.sandbox.engine if self.sandbox else "")
        await self.engine_watcher.join(self.channel_layer, self.channel_name)

    async def disconnect(self, code: int) -> None:
        self.closed = True
        for task in list(getattr(self, "tasks", ())):
            task.cancel()
        for subscription in list(getattr(self, "follows", {}).values()):
            subscription.close()
            subscription.sink.end()  # frees its slots; the frame goes nowhere now
        pumps = list(getattr(self, "pumps", {}).values())
        if pumps:
            await asyncio.gather(
                *(workers.streams(self.user.pk, p.stop) for p in pumps), return_exceptions=True
            )
        if getattr(self, "out", None) is not None:
            await self.out.close(flush=False)
        if getattr(self, "group", None) and self.channel_layer is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
        if getattr(self, "socket_slot", None) is not None:
            self.socket_slot.release()
        watcher = getattr(self, "engine_watcher", None)
        if watcher is not None:
            await watcher.leave(self.channel_layer, getattr(self, "channel_name", None))
        if getattr(self, "user", None) is not None:
            checking.leave(self.user.pk, self)
        await swarm_watch.watcher.leave(self.channel_layer, getattr(self, "channel_name", None))

    async def lab_engine(self, event: dict) -> None:
        """The engine stopped or started answering (sandboxes/health.py)."""
        if self.out is not None:
            self.out.frame(event["frame"])

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.out is None or self.closed:  # refused at connect, or closing
            return
        try:
            request = parse_message(text_data, bytes_data)
        except ProtocolError as exc:
            self._error(exc.code, exc.message, exc.ref)
            return
        slot = None
        if len(self.tasks) < MAX_PENDING:
            slot = slots.take("actions", self.user.pk, settings.DOCKERLAB_ACTIONS_PER_USER)
        if slot is None:
            self._error(
                "busy",
                "Too many actions at once: wait for the previous ones to finish.",
                request.ref,
            )
            return
        task = asyncio.get_running_loop().create_task(self._perform(request))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        task.add_done_callback(lambda _: slot.release())

    # -- plumbing --------------------------------------------------------------

    async def _refuse(self, code: str, message: str, close_code: int) -> None:
        """Say why the socket cannot be used, then close it."""
        await self.send(text_data=json.dumps({"type": "error", "code": code, "message": message}))
        await self.close(code=close_code)

    def _not_reading(self) -> None:
        # More control frames wait than the outbox holds: the client has
        # stopped reading. Holding them longer only costs the server memory.
        log.info("closing a lab socket of %s: the client stopped reading", self.user)
        self.closed = True
        asyncio.get_running_loop().create_task(self.close(code=CLOSE_NOT_READING))

    async def _engine(self, func, *args, **kwargs) -> Any:
        """A blocking engine action for this learner, in the engine pool."""
        return await workers.engine(self.user.pk, func, *args, **kwargs)

    async def _send_frame(self, frame: dict) -> None:
        # encode_frame reuses a shared follow's lines, encoded once for all its sockets.
        await self.send(text_data=encode_frame(frame))

    def _error(self, code: str, message: str, ref: Any = None) -> None:
        frame = {"type": "error", "code": code, "message": message}
        if ref is not None:
            frame["ref"] = ref
        self.out.frame(frame)

    def _stream_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{self._counter}"

    async def _sandbox(self):
        if self.sandbox is None:
            self.sandbox = await database_sync_to_async(services.sandbox_for)(self.user)
        # This socket's work goes to the sandbox's engine (engine/pool.py). Set
        # first in the socket's own task at connect, so every action task
        # inherits it; set again in whichever task asks later.
        pool.enter(self.sandbox.engine)
        return self.sandbox

    async def _perform(self, request: Request) -> None:
        try:
            await getattr(self, f"do_{request.action}")(request, **request.args)
        except asyncio.CancelledError:
            raise
        except (services.SandboxError, ProtocolError, ProgressError) as exc:
            self._error(exc.code, exc.message, request.ref)
            if isinstance(exc, services.SandboxError):
                self._record_error(request, exc.code, exc.message)
        except EngineUnavailable as exc:
            self._error("engine_unavailable", exc.message, request.ref)
            self._record_error(request, "engine_unavailable", exc.message)
        except EngineError as exc:
            self._error("engine_error", exc.message, request.ref)
            self._record_error(request, "engine_error", exc.message)
        except Exception:
            log.exception("lab action %s failed", request.action)
            self._error(
                "internal", "Something went wrong on the server; it has been logged.", request.ref
            )

    def _result(self, request: Request, data: Any) -> None:
        self.out.frame(
            {"type": "result", "ref": request.ref, "action": request.action, "data": data}
        )
        self._recorded_at_result(request, data)

    async def _send_state(self, ref: Any = None, *, changed: bool = True) -> None:
        data = await self._engine(services.list_state, await self._sandbox())
        frame = {
            "type": "state",
            "images": data.get("images", []),
            "containers": data.get("containers", []),
            "volumes": data.get("volumes", []),
        }
        if changed and self.group and self.channel_layer is not None:
            await self.channel_layer.group_send(
                self.group, {"type": "lab.state", "origin": self.channel_name, "frame": frame}
            )
        if ref is not None:
            frame = {**frame, "ref": ref}
        self.out.frame(frame)

    async def lab_state(self, event: dict) -> None:
        """The sandbox changed through another of this learner's sockets."""
        if event.get("origin") != self.channel_name and self.out is not None:
            self.out.frame(event["frame"])

    def _refresh_state(self) -> None:
        # After a stream ends the sandbox changed (a new image); say so.
        if self.closed:
            return

        async def refresh():
            try:
                await self._send_state()
            except (services.SandboxError, EngineError) as exc:
                self._error(getattr(exc, "code", "engine_error"), exc.message)

        task = asyncio.get_running_loop().create_task(refresh())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _stream_slots(self, *, build: bool = False) -> list[slots.Slot]:
        """The learner's slots for one more stream (and build); ProtocolError if none."""
        stream = slots.take("streams", self.user.pk, settings.DOCKERLAB_STREAMS_PER_USER)
        if stream is None:
            raise ProtocolError(
                "busy",
                "Too many builds and log follows open (in all your tabs): unfollow one first.",
            )
        if not build:
            return [stream]
        limit = settings.DOCKERLAB_BUILDS_PER_USER
        running = slots.take("builds", self.user.pk, limit)
        if running is None:
            stream.release()
            raise ProtocolError(
                "busy",
                f"You have {limit} builds or compose ups running already: "
                "wait for one to finish.",
            )
        return [stream, running]

    async def _start_stream(self, opener, *args, as_build: bool = False, **kwargs) -> tuple:
        """Open a stream with a service, holding the learner's slots for it."""
        held = self._stream_slots(build=as_build)
        try:
            stream = await _open_stream(self.user.pk, opener, *args, **kwargs)
        except BaseException:
            for slot in held:
                slot.release()
            raise
        return stream, held

    def _pump(self, stream_id: str, stream: Any, relay: Any, on_end, held: list) -> None:
        def finish(error: BaseException | None) -> None:
            self.pumps.pop(stream_id, None)
            for slot in held:
                slot.release()
            on_end(error)

        pump = StreamPump(
            stream_id,
            stream,
            loop=asyncio.get_running_loop(),
            deliver=lambda emits: post(self.out, stream_id, emits),
            finish=finish,
            transform=relay,
            tail=relay.tail,
        )
        self.pumps[stream_id] = pump
        pump.start()

    def _follow_task(
        self, request: Request, stream: Any, held: list, relay: BuildRelay, **fields
    ) -> None:
        """Announce a build-like stream ("<prefix>.start") and pump it.

        Its last frame is the relay's "<prefix>.done"; every socket of the
        learner then gets the sandbox's new state.
        """
        kind, stream_id = relay.prefix, relay.stream
        self.out.frame(
            {"type": f"{kind}.start", "stream": stream_id, "ref": request.ref, **fields}
        )

        def ended(error: BaseException | None) -> None:
            if error is not None and not isinstance(error, (services.SandboxError, EngineError)):
                log.warning("%s stream %s broke: %r", kind, stream_id, error)
            done = relay.done_frame(error)
            self.out.frame(done)
            self._refresh_state()
            self._record(request, checking.outcome_of_done(done))

        self._pump(stream_id, stream, relay, ended, held)

    # -- actions ---------------------------------------------------------------

    async def do_state(self, request: Request) -> None:
        await self._send_state(request.ref, changed=False)

    async def do_build(
        self,
        request: Request,
        tag: str = "flask-app",
        dockerfile: str | None = None,
        no_cache: bool = False,
        app: str | None = None,
        target: str | None = None,
    ) -> None:
        sandbox = await self._sandbox()
        stream, held = await self._start_stream(
            services.build_image,
            sandbox,
            tag=tag,
            dockerfile=dockerfile,
            no_cache=no_cache,
            app=app,
            target=target,
            as_build=True,
        )
        self._follow_task(
            request,
            stream,
            held,
            BuildRelay(self._stream_id("b")),
            tag=getattr(stream, "tag", tag),
            steps=getattr(stream, "steps", None),
        )

    async def do_volume_rm(self, request: Request, volume: str) -> None:
        data = await self._engine(services.remove_volume, await self._sandbox(), volume)
        self._result(request, data)
        await self._send_state()

    async def do_tag(self, request: Request, source: str, target: str) -> None:
        data = await self._engine(registry.tag_image, await self._sandbox(), source, target)
        self._result(request, data)
        await self._send_state()

    async def do_push(self, request: Request, image: str) -> None:
        await self._registry_stream(request, registry.push, image, "push")

    async def do_pull(self, request: Request, image: str) -> None:
        await self._registry_stream(request, registry.pull, image, "pull")

    async def _registry_stream(self, request: Request, start, image: str, kind: str) -> None:
        stream, held = await self._start_stream(start, await self._sandbox(), image)
        relay = BuildRelay(self._stream_id(kind[:2]), prefix=kind)
        self._follow_task(request, stream, held, relay, image=stream.tag)

    async def do_compose(
        self,
        request: Request,
        command: str,
        build: bool = True,
        volumes: bool = False,
        file: str | None = None,
    ) -> None:
        sandbox = await self._sandbox()
        if command == "ps":
            self._result(request, {"services": await self._engine(compose.ps, sandbox)})
            return
        if command == "down":
            data = await self._engine(compose.down, sandbox, volumes=volumes)
            self._result(request, data)
            await self._send_state()
            return
        # A full lab is said before anything starts (a build or a run would
        # say so too, but halfway through).
        await self._engine(capacity.admit, sandbox)
        stream, held = await self._start_stream(
            compose.up, sandbox, build=build, file=file, as_build=True
        )
        self._follow_task(
            request,
            stream,
            held,
            ComposeRelay(self._stream_id("c")),
            project=stream.project.name,
            steps=stream.steps,
        )

    async def do_run(
        self,
        request: Request,
        image: str,
        name: str | None = None,
        port: int | None = None,
        command: str | None = None,
        env: dict | None = None,
        publish: bool | None = None,
        network: str | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {"name": name, "env": env}
        if network is not None:
            kwargs["network"] = network
        if command is not None:
            kwargs["command"] = command
        if publish is False or (command is not None and port is None):
            # `docker run IMAGE COMMAND` publishes nothing unless asked to.
            kwargs["port"] = None
        elif port is not None:
            kwargs["port"] = port
        view = await self._engine(services.run_container, await self._sandbox(), image, **kwargs)
        self._result(request, view)
        await self._send_state()

    async def do_logs(
        self, request: Request, container: str, tail: int = 100, since: int | None = None
    ) -> str:
        """Follow a container's output; returns the stream id (a lesson line stops it)."""
        # Following a command run's output is part of that run (docker run
        # IMAGE COMMAND), not a `docker logs` of the learner's.
        command_run = container in self._command_runs
        if since is not None:
            stream_id = await self._logs_since(request, container, tail, since, command_run)
        else:
            sink_type = _KeepingLogSink if command_run else LogSink
            stream_id = await self._follow_logs(request, container, tail, sink_type)
        if not command_run:
            self._record(request, Outcome(True))
        return stream_id

    async def _follow_logs(
        self, request: Request, container: str, tail: int, sink_type: type = LogSink,
        **sink_args: Any,
    ) -> str:
        """Subscribe to the container's shared follow (sandboxes.follows); the
        socket holds its own subscription to it, under its own stream id."""
        held = self._stream_slots()
        stream_id = self._stream_id("l")
        sink: LogSink

        def ended() -> None:
            self.follows.pop(stream_id, None)
            for slot in held:
                slot.release()
            if sink.exit_code is not None:
                self._follow_ended(container, sink)

        sink = sink_type(self.out, stream_id, container, ref=request.ref, on_end=ended,
                         **sink_args)
        try:
            target = await workers.streams(
                self.user.pk, logs.log_target, await self._sandbox(), container
            )
            subscription = await logs.follow(target, tail, sink)
        except BaseException:
            ended()
            raise
        if not sink.ended:
            self.follows[stream_id] = subscription
        return stream_id

    def _follow_ended(self, container: str, sink: LogSink) -> None:
        """A followed container stopped with an exit code (the frame has gone out)."""
        self._command_ended(container, sink.exit_code, sink)
        if isinstance(sink, _ForegroundLogSink) and sink.rm:
            self._after(self._remove_quietly(container))

    async def _logs_since(
        self, request: Request, container: str, tail: int, since: int, command_run: bool
    ) -> str:
        """`--since`: a follow of this socket's own, from that time (not shared)."""
        when = int(time.time()) - since  # --since: seconds ago
        stream, held = await self._start_stream(
            services.follow_logs, await self._sandbox(), container, tail=tail, since=when
        )
        stream_id = self._stream_id("l")
        self.out.frame(
            {"type": "logs.start", "stream": stream_id, "ref": request.ref, "container": container}
        )
        relay = _KeepingLogRelay(stream_id) if command_run else LogRelay(stream_id)

        def ended(error: BaseException | None) -> None:
            frame = {"type": "logs.end", "stream": stream_id, "container": container}
            if error is not None:
                log.info("log stream %s ended with %r", stream_id, error)
                frame["error"] = getattr(error, "message", None) or "The log stream broke."
            elif stream.exit_code is not None:
                frame["exit_code"] = stream.exit_code
            self.out.frame(frame)
            if frame.get("exit_code") is not None:
                self._command_ended(container, frame["exit_code"], relay)

        self._pump(stream_id, stream, relay, ended, held)
        return stream_id

    async def do_unfollow(self, request: Request, stream: str) -> None:
        subscription = self.follows.pop(stream, None)
        if subscription is not None:
            subscription.close()
            subscription.sink.end()
            self._result(request, {"stream": stream})
            return
        pump = self.pumps.get(stream)
        if pump is None:
            self._error(
                "not_found", f"No stream {stream[:40]!r} is open on this connection.", request.ref
            )
            return
        await workers.streams(self.user.pk, pump.stop)
        self._result(request, {"stream": stream})

    async def do_stop(self, request: Request, container: str) -> None:
        data = await self._engine(services.stop_container, await self._sandbox(), container)
        self._result(request, data)
        await self._send_state()

    async def do_remove(self, request: Request, container: str) -> None:
        data = await self._engine(services.remove_container, await self._sandbox(), container)
        self._result(request, data)
        await self._send_state()

    async def do_rmi(self, request: Request, image: str) -> None:
        data = await self._engine(services.remove_image, await self._sandbox(), image)
        self._result(request, data)
        await self._send_state()

    async def do_inspect(self, request: Request, kind: str, name: str) -> None:
        data = await self._engine(services.inspect, await self._sandbox(), kind, name)
        self._result(request, data)

    async def do_prune(self, request: Request) -> None:
        data = await self._engine(services.prune, await self._sandbox())
        self._result(request, data)
        await self._send_state()

    # -- the lab history and checks (docs/checks.md) ------------------------------

    def _record(self, request: Request, outcome: Outcome, *, check_after: bool = True) -> None:
        """Keep an action's outcome in the lab history, then check what it may have changed.

        The insert runs in the database thread, off the loop; frames never wait for it.
        """
        if request.recorded or request.action not in LAB_ACTIONS or request.action == "state":
            return
        request.recorded = True
        task = asyncio.get_running_loop().create_task(
            self._keep(request.action, dict(request.args), outcome, check_after)
        )
        _recordings.add(task)
        task.add_done_callback(_recordings.discard)

    async def _keep(self, action: str, args: dict, outcome: Outcome, check_after: bool) -> None:
        try:
            await database_sync_to_async(record_action)(
                self.user, action, args, outcome, sandbox=self.sandbox
            )
        except Exception:
            log.exception("keeping %s in the lab history failed", action)
        if check_after:
            checking.after(self.user.pk, checking.trigger_for(action, args))

    def _record_error(self, request: Request, code: str, message: str) -> None:
        # A refused action changed nothing: no checks after it.
        self._record(request, checking.outcome_of_error(code, message), check_after=False)

    def _recorded_at_result(self, request: Request, data: Any) -> None:
        if request.action == "run" and request.args.get("command") is not None:
            # Its outcome is the command's exit, seen when the follow of its
            # output ends; its container exists now.
            name = data.get("name") if isinstance(data, dict) else None
            if name:
                self._command_runs.pop(name, None)
                self._command_runs[name] = dict(request.args)
                while len(self._command_runs) > MAX_COMMAND_RUNS:
                    self._command_runs.pop(next(iter(self._command_runs)))
            request.recorded = True
            checking.after(self.user.pk, checking.trigger_for("run", request.args, ran=False))
            return
        if request.action == "compose" and request.args.get("command") == "up":
            return  # at its compose.done
        self._record(request, Outcome(True))

    def _command_ended(self, container: str, exit_code: int, relay: Any) -> None:
        args = self._command_runs.pop(container, None)
        if args is None:
            return
        kept = relay.kept.lines if isinstance(relay, (_KeepingLogRelay, _KeepingLogSink)) else ()
        self._record(Request("run", None, args), checking.outcome_of_exit(exit_code, kept))

    def check_frame(self, frame: dict) -> None:
        """A check result for the lesson this socket watches (sandboxes.checking)."""
        if self.out is not None and not self.closed:
            self.out.frame(frame)

    async def do_watch(self, request: Request, lesson: str, step: int | None = None) -> None:
        slug = checking.lesson_named(lesson).slug
        if step is not None:
            checking.item(slug, "step", step)
        self.watching = slug
        checking.watch(self.user, self, slug, step)
        summary = await database_sync_to_async(checking.lesson_progress)(self.user, slug)
        self._result(request, {"lesson": slug, "step": step, "progress": summary})

    async def do_check(self, request: Request, lesson: str, kind: str, number: int) -> None:
        slug, kind, number = checking.item(lesson, kind, number, checked=True)
        result = await self._engine(checking.evaluate, self.user, slug, kind, number)
        frame = {"type": "check.result", "auto": False, **result}
        self.out.frame({**frame, "ref": request.ref})
        # The learner's other tabs on this lesson show it too.
        checking.deliver(self.user.pk, slug, frame, skip=self)

    async def do_hint(self, request: Request, lesson: str, kind: str, number: int) -> None:
        slug, kind, number = checking.item(lesson, kind, number)
        data = await database_sync_to_async(progress.reveal_hint)(self.user, slug, kind, number)
        self._result(request, {"lesson": slug, "kind": kind, "number": number, **data})

    async def do_solution(self, request: Request, lesson: str, kind: str, number: int) -> None:
        slug, kind, number = checking.item(lesson, kind, number)
        data = await database_sync_to_async(progress.reveal_solution)(
            self.user, slug, kind, number
        )
        self._result(request, {"lesson": slug, "kind": kind, "number": number, **data})

    # -- the multistage lesson's layers, the start timing -----------------------

    async def do_history(self, request: Request, image: str) -> None:
        data = await self._engine(layers.image_history, await self._sandbox(), image)
        self._result(request, data)

    async def do_timing(self, request: Request, runs: int = timing.DEFAULT_RUNS) -> None:
        data = await self._engine(timing.time_starts, await self._sandbox(), runs)
        self._result(request, data)

    # -- the classroom swarm (orchestration/lab.py) -----------------------------

    async def lab_swarm(self, event: dict) -> None:
        """A new live picture of this learner's services (orchestration/watch.py)."""
        if self.out is not None:
            self.out.frame(event["frame"])

    async def do_swarm_watch(self, request: Request) -> None:
        sandbox = await self._sandbox()
        frame = await swarm_watch.watcher.join(self.channel_layer, self.channel_name, sandbox.sid)
        self.out.frame({**frame, "ref": request.ref})

    async def do_swarm_unwatch(self, request: Request) -> None:
        await swarm_watch.watcher.leave(self.channel_layer, self.channel_name)
        self._result(request, {"watching": False})

    async def do_service(self, request: Request, command: str, **args: Any) -> None:
        sandbox = await self._sandbox()
        if ("service", command) not in swarm_lab.STREAMED:
            data = await self._engine(swarm_lab.service_result, sandbox, command, args)
            self._result(request, data)
            return
        stream, held = await self._start_stream(
            swarm_lab.open_service_stream, sandbox, command, args
        )
        relay = swarm_lab.SwarmRelay(self._stream_id("sv"), prefix="service")
        self._swarm_follow(request, stream, held, relay, command=command, name=args.get("name"))

    async def do_stack(self, request: Request, command: str, **args: Any) -> None:
        sandbox = await self._sandbox()
        if command != "deploy":
            data = await self._engine(swarm_lab.stack_result, sandbox, command, args)
            self._result(request, data)
            return
        stream, held = await self._start_stream(swarm_lab.open_stack_stream, sandbox, args)
        relay = swarm_lab.SwarmRelay(self._stream_id("st"), prefix="stack")
        self._swarm_follow(request, stream, held, relay, command=command, name=args.get("name"))

    def _swarm_follow(self, request: Request, stream: Any, held: list, relay, **fields) -> None:
        self.out.frame(
            {"type": f"{relay.prefix}.start", "stream": relay.stream, "ref": request.ref, **fields}
        )

        def ended(error: BaseException | None) -> None:
            if error is not None and not isinstance(error, (services.SandboxError, EngineError)):
                log.warning("%s stream %s broke: %r", relay.prefix, relay.stream, error)
            self.out.frame(relay.done_frame(error))

        self._pump(relay.stream, stream, relay, ended, held)

    async def do_node(self, request: Request, command: str, **args: Any) -> None:
        data = await self._engine(swarm_lab.node_result, await self._sandbox(), command, args)
        self._result(request, data)

    async def do_task_kill(self, request: Request, task: str) -> None:
        data = await self._engine(swarm_lab.kill_task, await self._sandbox(), task)
        self._result(request, data)

    # -- networks, exec, history, restart, start, volume prune -----------------

    async def do_network(
        self,
        request: Request,
        command: str,
        name: str | None = None,
        container: str | None = None,
        force: bool = False,
    ) -> None:
        sandbox = await self._sandbox()
        if command == "ls":
            self._result(request, await self._engine(networks.list_networks, sandbox))
            return
        if not name:
            raise ProtocolError("bad_request", f"network {command} needs 'name'.")
        if command in ("connect", "disconnect"):
            if not container:
                raise ProtocolError("bad_request", f"network {command} needs 'container'.")
            if command == "connect":
                data = await self._engine(networks.connect, sandbox, name, container)
            else:
                data = await self._engine(networks.disconnect, sandbox, name, container, force)
        elif command == "create":
            data = await self._engine(networks.create_network, sandbox, name)
        elif command == "inspect":
            data = await self._engine(networks.inspect_network, sandbox, name)
        else:
            data = await self._engine(networks.remove_network, sandbox, name)
        self._result(request, data)

    async def do_exec(self, request: Request, container: str, command: str) -> None:
        stream, held = await self._start_stream(
            exec_command, await self._sandbox(), container, command
        )
        stream_id = self._stream_id("x")
        self.out.frame(
            {"type": "exec.start", "stream": stream_id, "ref": request.ref,
             "container": stream.container, "command": command}
        )

        def ended(error: BaseException | None) -> None:
            frame: dict[str, Any] = {"type": "exec.done", "stream": stream_id,
                                     "container": stream.container}
            if error is not None:
                frame.update(ok=False, error=getattr(error, "message", None)
                             or "The command's output broke off.")
            else:
                frame.update(ok=stream.exit_code == 0, exit_code=stream.exit_code)
                if stream.limited:
                    frame["limited"] = stream.limited
            self.out.frame(frame)

        self._pump(stream_id, stream, LogRelay(stream_id), ended, held)

    async def do_restart(self, request: Request, container: str) -> None:
        sandbox = await self._sandbox()
        self._result(request, await self._engine(containers.restart_container, sandbox, container))
        await self._send_state()

    async def do_start(self, request: Request, container: str) -> None:
        sandbox = await self._sandbox()
        self._result(request, await self._engine(containers.start_container, sandbox, container))
        await self._send_state()

    async def do_volume_prune(self, request: Request, all: bool = False) -> None:  # noqa: A002
        sandbox = await self._sandbox()
        self._result(request, await self._engine(containers.prune_volumes, sandbox, all))
        await self._send_state()

    # -- a lesson line, parsed here --------------------------------------------

    async def do_line(self, request: Request, text: str, app: str | None = None) -> None:
        """Do a command line as a lesson prints it: our parse, then its actions in order.

        The learner's text goes no further than sandboxes.commands: the
        services get only the arguments that parse produced, checked again
        like any client message. Answered by a "line" frame (the parse),
        then each action's own frames, all carrying the request's ref.
        """
        try:
            parsed = await asyncio.to_thread(commands.parse_line, text)
        except commands.LineRefused as exc:
            raise ProtocolError(exc.code, exc.reason) from None
        # How many last frames the page waits for: a foreground run's result
        # and its output's end; one result or one stream end otherwise.
        answers = sum(2 if a.action == "run" and a.wait else 1 for a in parsed.actions)
        self.out.frame(
            {"type": "line", "ref": request.ref, "text": parsed.text,
             "actions": [a.action for a in parsed.actions], "answers": answers,
             "notes": list(parsed.notes)}
        )
        for action in parsed.actions:
            fields = {**action.message(), "ref": request.ref}
            if action.action == "build" and app is not None:
                fields["app"] = app  # checked again below, as any build's `app`
            message = json.dumps(fields)
            sub = parse_message(message)
            if action.action == "run" and action.wait:
                await self._line_foreground_run(sub, action.rm)
            elif action.action == "logs" and not action.follow:
                await self._line_logs_once(sub)
            else:
                await getattr(self, f"do_{sub.action}")(sub, **sub.args)

    async def _line_foreground_run(self, request: Request, rm: bool) -> None:
        """`docker run` without -d: start it, show its output until it exits, then --rm."""
        args = dict(request.args)
        kwargs: dict[str, Any] = {"name": args.get("name"), "env": args.get("env")}
        for key in ("command", "network"):
            if args.get(key) is not None:
                kwargs[key] = args[key]
        if args.get("publish") is False or (
            args.get("command") is not None and args.get("port") is None
        ):
            kwargs["port"] = None
        elif args.get("port") is not None:
            kwargs["port"] = args["port"]
        sandbox = await self._sandbox()
        view = await self._engine(services.run_container, sandbox, args["image"], **kwargs)
        self._result(request, view)
        await self._send_state()
        # Its output from the start, then its exit code (and --rm) at the end.
        await self._follow_logs(
            request, view["name"], 10_000, _ForegroundLogSink, rm=rm
        )

    async def _remove_quietly(self, name: str) -> None:
        try:
            await self._engine(services.remove_container, await self._sandbox(), name)
            await self._send_state()
        except (services.SandboxError, EngineError) as exc:
            self._error(getattr(exc, "code", "engine_error"), exc.message)

    def _after(self, coroutine) -> None:
        """Run `coroutine` as a task of this socket (cancelled when it closes)."""
        if self.closed:
            coroutine.close()
            return
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _line_logs_once(self, request: Request) -> None:
        """`docker logs NAME` without -f: what it printed so far, then the stream ends."""
        stream_id = await self.do_logs(request, **request.args)

        async def stop_soon() -> None:
            await asyncio.sleep(LINE_LOGS_SECONDS)
            subscription = self.follows.pop(stream_id, None)
            if subscription is not None:
                subscription.close()
                subscription.sink.end()
            pump = self.pumps.get(stream_id)
            if pump is not None:
                await workers.streams(self.user.pk, pump.stop)

        self._after(stop_soon())
