"""The lab websocket's swarm actions, as plain functions the consumer calls in its pools.

sandboxes/consumers.py checks each message's shape (its ACTIONS table) and
hands it here; this module turns the arguments into service calls and
results. `service create/update` and `stack deploy` push images first, so
they are streams, announced as `service.start` / `stack.start`, with the
push's lines as `output` and a final `service.done` / `stack.done`
(docs/websocket.md). Their checks (names, quotas, the image being the
learner's) run before the stream is announced, so a refusal is an `error`
frame and nothing is pushed or made.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from orchestration.services import learner, stacks
from sandboxes.errors import BadRequest
from sandboxes.models import Sandbox
from sandboxes.streaming import BuildRelay

SERVICE_COMMANDS = ("create", "ls", "ps", "scale", "update", "rollback", "rm")
STACK_COMMANDS = ("deploy", "ls", "ps", "rm")
NODE_COMMANDS = ("ls", "update")
STREAMED = {("service", "create"), ("service", "update"), ("stack", "deploy")}


class EventStream:
    """A service generator as a stream the consumer's pump reads.

    The first event is taken at once (in the opening thread): the
    generator's checks run before its first event, so a refusal raises
    there, as an `error` frame, instead of ending a stream already announced.
    """

    def __init__(self, events: Iterator[dict], **facts: Any):
        self._events = events
        self._closed = False
        self.facts = facts
        self._first = []
        for event in events:
            self._first.append(event)
            break

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        # A push under way finishes in its thread; nothing more is read from it.
        self._closed = True

    def __iter__(self) -> Iterator[dict]:
        yield from self._first
        for event in self._events:
            if self._closed:
                return
            yield event


class SwarmRelay(BuildRelay):
    """`service.*` and `stack.*` frames: the push's lines, and a done frame with the result."""

    def done_frame(self, error: BaseException | None) -> dict:
        frame: dict = {"type": f"{self.prefix}.done", "stream": self.stream}
        if error is not None and self.error is None:
            self.error = getattr(error, "message", None) or f"The {self.prefix} action stopped."
        if self.error is None and self.result is None:
            self.error = f"The {self.prefix} action ended without a result."
        if self.error is not None:
            frame.update(ok=False, error=self.error)
            return frame
        frame["ok"] = True
        for key in ("service", "stack", "image"):
            if key in self.result:
                frame[key] = self.result[key]
        return frame


def _need(value: Any, what: str) -> Any:
    if value in (None, ""):
        raise BadRequest(f"Give {what}.")
    return value


def open_service_stream(sandbox: Sandbox, command: str, args: dict) -> EventStream:
    """`service create` or `service update` as a stream (checks first)."""
    name = _need(args.get("name"), "a service name (--name web)")
    if command == "create":
        wanted = learner.wanted_service(
            sandbox,
            name,
            _need(args.get("image"), "an image, like flask-app"),
            replicas=args.get("replicas", 1),
            publish=args.get("publish"),
            env=args.get("env"),
            command=args.get("args"),
            parallelism=args.get("update_parallelism"),
            delay=args.get("update_delay"),
            failure_action=args.get("update_failure_action"),
        )
        return EventStream(learner.create(sandbox, wanted), name=name)
    events = learner.update(
        sandbox,
        name,
        image=args.get("image"),
        replicas=args.get("replicas"),
        parallelism=args.get("update_parallelism"),
        delay=args.get("update_delay"),
        failure_action=args.get("update_failure_action"),
        force=bool(args.get("force")),
    )
    return EventStream(events, name=name)


def open_stack_stream(sandbox: Sandbox, args: dict) -> EventStream:
    name = _need(args.get("name"), "a stack name, like flask")
    events = stacks.deploy(sandbox, name, file=args.get("file"), text=args.get("text"))
    return EventStream(events, name=name)


def service_result(sandbox: Sandbox, command: str, args: dict) -> dict:
    """The result of `service ls/ps/scale/rollback/rm`."""
    if command == "ls":
        return {"services": learner.list_services(sandbox)}
    if command == "ps":
        return {"tasks": learner.list_tasks(sandbox, args.get("name"))}
    name = _need(args.get("name"), "a service name")
    if command == "scale":
        replicas = args.get("replicas")
        return {"service": learner.scale(sandbox, name, _need(replicas, "a number of replicas"))}
    if command == "rollback":
        return {"service": learner.rollback(sandbox, name)}
    if command == "rm":
        return learner.remove(sandbox, name)
    raise BadRequest(f"service {command} is not in the lab.")


def stack_result(sandbox: Sandbox, command: str, args: dict) -> dict:
    if command == "ls":
        return {"stacks": stacks.list_stacks(sandbox)}
    name = _need(args.get("name"), "a stack name")
    if command == "ps":
        return {"tasks": stacks.list_tasks(sandbox, name)}
    if command == "rm":
        return stacks.remove(sandbox, name)
    raise BadRequest(f"stack {command} is not in the lab.")


def node_result(sandbox: Sandbox, command: str, args: dict) -> dict:
    if command == "ls":
        return {"nodes": learner.node_views(sandbox)}
    node = _need(args.get("node"), "a node, like worker1")
    availability = _need(args.get("availability"), "--availability drain or active")
    return learner.set_availability(sandbox, node, availability)


def kill_task(sandbox: Sandbox, task: str) -> dict:
    return learner.kill_task(sandbox, task)
