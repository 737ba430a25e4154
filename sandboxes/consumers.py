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
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from engine.client import EngineError, EngineUnavailable
from sandboxes import services, slots, workers
from sandboxes.follows import Subscription
from sandboxes.services import capacity, compose, logs, registry
from sandboxes.streaming import (
    BuildRelay,
    ComposeRelay,
    LogSink,
    OutboundQueue,
    StreamPump,
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
    },
    "run": {
        "image": _NAME,
        "name": Arg(str),
        "port": Arg(int, minimum=1, maximum=65535),
        "command": Arg(str, max_chars=MAX_COMMAND_CHARS),
        "env": Arg(dict),
        "publish": Arg(bool),
    },
    "logs": {"container": _NAME, "tail": Arg(int, minimum=0, maximum=10_000)},
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
}


@dataclass
class Request:
    """A checked client message."""

    action: str
    ref: Any = None
    args: dict[str, Any] = field(default_factory=dict)


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
        await self.send(text_data=json.dumps(frame, default=str))

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
        return self.sandbox

    async def _perform(self, request: Request) -> None:
        try:
            await getattr(self, f"do_{request.action}")(request, **request.args)
        except asyncio.CancelledError:
            raise
        except (services.SandboxError, ProtocolError) as exc:
            self._error(exc.code, exc.message, request.ref)
        except EngineUnavailable as exc:
            self._error("engine_unavailable", exc.message, request.ref)
        except EngineError as exc:
            self._error("engine_error", exc.message, request.ref)
        except Exception:
            log.exception("lab action %s failed", request.action)
            self._error(
                "internal", "Something went wrong on the server; it has been logged.", request.ref
            )

    def _result(self, request: Request, data: Any) -> None:
        self.out.frame(
            {"type": "result", "ref": request.ref, "action": request.action, "data": data}
        )

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
            self.out.frame(relay.done_frame(error))
            self._refresh_state()

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
    ) -> None:
        sandbox = await self._sandbox()
        stream, held = await self._start_stream(
            services.build_image,
            sandbox,
            tag=tag,
            dockerfile=dockerfile,
            no_cache=no_cache,
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
    ) -> None:
        kwargs: dict[str, Any] = {"name": name, "env": env}
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

    async def do_logs(self, request: Request, container: str, tail: int = 100) -> None:
        # The learner's follows share one engine follow per container
        # (sandboxes.follows); this socket holds its own subscription to it.
        held = self._stream_slots()
        stream_id = self._stream_id("l")

        def ended() -> None:
            self.follows.pop(stream_id, None)
            for slot in held:
                slot.release()

        sink = LogSink(self.out, stream_id, container, ref=request.ref, on_end=ended)
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
