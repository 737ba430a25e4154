"""Checks on the learner's services and stacks on the classroom swarm.

They read the manager through orchestration.services.learner, which finds
only the sandbox's own services (by the sandbox's and the deployment's
labels) and their tasks. `service_answers` connects where the site's proxy
does: a running task's node, at the port that node's engine published for
it, both read from the manager and the node address checked against the
swarm's own (never a host or port from the parameters).
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from checks.base import ENGINE, HISTORY, define, failed, passed
from checks.context import Context
from checks.schema import Boolean, HttpPath, Image, Integer, Names, Param, Seconds, Text
from checks.vocabulary.helpers import quoted, same_image, short
from orchestration import naming as names
from orchestration.services import learner
from sandboxes.errors import InvalidName, NotInSandbox

MAX_BODY = 64 * 1024
_NODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}\Z")


@dataclass(frozen=True)
class ServiceName(Param):
    """A service name as the learner writes it (`web`, a stack's `flask_web`)."""

    def wanted(self) -> str:
        return "a service name (lower-case letters and digits, single - or _ between them)"

    def clean(self, value: Any) -> str:
        try:
            return names.check_service(value)
        except InvalidName:
            raise self.fail(value) from None


@dataclass(frozen=True)
class StackName(Param):
    def wanted(self) -> str:
        return "a stack name (lower-case letters and digits, single - between them)"

    def clean(self, value: Any) -> str:
        try:
            return names.check_stack(value)
        except InvalidName:
            raise self.fail(value) from None


@dataclass(frozen=True)
class NodeName(Param):
    def wanted(self) -> str:
        return "a node's host name, like worker1"

    def clean(self, value: Any) -> str:
        if not isinstance(value, str) or not _NODE.match(value):
            raise self.fail(value)
        return value


def _service(ctx: Context, name: str):
    """The learner's service and its tasks, or None if there is no such service."""
    try:
        service = learner.find_service(ctx.sandbox, name)
    except NotInSandbox:
        return None, []
    return service, learner.tasks_of(ctx.sandbox, [service])


def _running(tasks: list[dict]) -> list[dict]:
    return [
        t for t in tasks
        if (t.get("Status") or {}).get("State") == "running" and t.get("DesiredState") == "running"
    ]


def _missing(name: str):
    return failed(
        f"There is no service called {name} in your sandbox.",
        f"Create it: docker service create --name {name} ...",
    )


def _of_service(judge: Callable[..., Any]) -> Callable[[Context, dict[str, Any]], Any]:
    """A check of the service `p["service"]`: `judge(ctx, p, service, tasks)` once it is found.

    The learner's service and its tasks are read once; a service the learner
    does not have fails the same way for every check.
    """

    @functools.wraps(judge)
    def evaluate(ctx: Context, p: dict[str, Any]):
        service, tasks = _service(ctx, p["service"])
        if service is None:
            return _missing(p["service"])
        return judge(ctx, p, service, tasks)

    return evaluate


def _describe_running(p: dict[str, Any]) -> str:
    return f"the service {p['service']} runs {p['replicas']} replicas"


@define(
    "service_running",
    summary="A service of the learner's runs exactly N replicas (tasks running, as many asked for).",
    params={
        "service": ServiceName(required=True, doc="the service"),
        "replicas": Integer(minimum=1, maximum=20, default=1, doc="replicas running"),
    },
    describe=_describe_running,
)
@_of_service
def service_running(ctx: Context, p: dict[str, Any], service: dict, tasks: list[dict]):
    view = learner.service_view(ctx.sandbox, service, tasks)
    if view["replicas"] != p["replicas"]:
        return failed(
            f"{p['service']} asks for {view['replicas']} replicas, not {p['replicas']}.",
            f"Scale it: docker service scale {p['service']}={p['replicas']}",
        )
    if view["running"] != p["replicas"]:
        return failed(
            f"{p['service']} has {view['running']} of {p['replicas']} replicas running.",
            f"New tasks take a few seconds (the first pull longer): look at docker service ps "
            f"{p['service']}, then check again.",
        )
    return passed(f"{p['service']} runs {p['replicas']} replicas.")


@define(
    "service_spread",
    summary="A service's running tasks are spread over at least N nodes.",
    params={
        "service": ServiceName(required=True, doc="the service"),
        "nodes": Integer(minimum=1, maximum=10, default=2, doc="distinct nodes at least"),
    },
    describe=lambda p: f"the tasks of {p['service']} run on at least {p['nodes']} nodes",
)
@_of_service
def service_spread(ctx: Context, p: dict[str, Any], service: dict, tasks: list[dict]):
    hostnames = learner.hostnames_by_id(learner.node_entries(ctx.sandbox))
    on = sorted({hostnames.get(t.get("NodeID", ""), "?") for t in _running(tasks)})
    if len(on) < p["nodes"]:
        where = ", ".join(on) or "no node"
        return failed(
            f"The running tasks of {p['service']} are on {where}: fewer than {p['nodes']} nodes.",
            "Run more replicas (docker service scale), and make sure no node is drained for "
            "you (docker node ls).",
        )
    return passed(f"{p['service']} runs on {', '.join(on)}.")


@define(
    "service_image",
    summary="Every running task of a service runs the given image, its update (or rollback) done.",
    params={
        "service": ServiceName(required=True, doc="the service"),
        "image": Image(required=True, doc="the image, by the learner's name"),
        "rolled_back": Boolean(default=False, doc="it got there by `docker service rollback`"),
    },
    describe=lambda p: (
        f"{p['service']} runs {short(p['image'])}"
        + (" after a rollback" if p.get("rolled_back") else "")
    ),
)
@_of_service
def service_image(ctx: Context, p: dict[str, Any], service: dict, tasks: list[dict]):
    view = learner.service_view(ctx.sandbox, service, tasks)
    wanted = short(p["image"])
    if not same_image(view["image"], p["image"]):
        return failed(
            f"{p['service']} is set to run {short(view['image'])}, not {wanted}.",
            f"Update it: docker service update --image {wanted} {p['service']}",
        )
    state = view["update"]["state"]
    if p.get("rolled_back") and state not in ("rollback_completed",):
        return failed(
            f"{p['service']} runs {wanted}, but not after a rollback "
            f"({state.replace('_', ' ') or 'never updated'}).",
            f"Roll it back: docker service rollback {p['service']}",
        )
    if state in ("updating", "rollback_started", "paused", "rollback_paused"):
        return failed(
            f"The update of {p['service']} is {state.replace('_', ' ')}: "
            f"{view['update']['message'] or 'not done yet'}.",
            f"Watch it in docker service ps {p['service']}; a paused update says why.",
        )
    running = _running(tasks)
    others = [t for t in running if not same_image(learner.task_image(ctx.sandbox, t, service), p["image"])]
    if others or not running:
        return failed(
            f"{len(others)} of {len(running)} running tasks of {p['service']} still run "
            "another image." if running else f"{p['service']} has no running task.",
            "A rolling update replaces tasks a few at a time: check again in a moment.",
        )
    return passed(f"All {len(running)} tasks of {p['service']} run {wanted}.")


@define(
    "service_healed",
    summary="A task of the service was killed and the swarm started a replacement in its slot.",
    params={"service": ServiceName(required=True, doc="the service")},
    describe=lambda p: f"a killed task of {p['service']} was replaced",
)
@_of_service
def service_healed(ctx: Context, p: dict[str, Any], service: dict, tasks: list[dict]):
    killed = [
        t for t in tasks
        if (t.get("Status") or {}).get("State") == "failed"
        and ((t.get("Status") or {}).get("ContainerStatus") or {}).get("ExitCode") == 137
    ]
    if not killed:
        return failed(
            f"No task of {p['service']} has been killed yet.",
            f"Kill one: docker kill {p['service']}.1 (or Kill on a task in the live picture).",
        )
    running = _running(tasks)
    for dead in killed:
        after = [
            t for t in running
            if t.get("Slot") == dead.get("Slot") and t.get("CreatedAt", "") > dead.get("CreatedAt", "")
        ]
        if after:
            return passed(
                f"{p['service']}.{dead.get('Slot')} was killed and the swarm replaced it."
            )
    return failed(
        f"A task of {p['service']} was killed, and its replacement is not running yet.",
        "The swarm waits a moment before it starts a replacement: check again.",
    )


@define(
    "service_off_node",
    summary="None of a service's tasks runs on a node (after a drain), and it has running tasks.",
    params={
        "service": ServiceName(required=True, doc="the service"),
        "node": NodeName(required=True, doc="the node"),
    },
    describe=lambda p: f"no task of {p['service']} runs on {p['node']}",
)
@_of_service
def service_off_node(ctx: Context, p: dict[str, Any], service: dict, tasks: list[dict]):
    hostnames = learner.hostnames_by_id(learner.node_entries(ctx.sandbox))
    if p["node"] not in hostnames.values():
        return failed(f"The swarm has no node {p['node']}.", "docker node ls lists them.")
    running = _running(tasks)
    there = [t for t in running if hostnames.get(t.get("NodeID", "")) == p["node"]]
    if there:
        return failed(
            f"{len(there)} task(s) of {p['service']} still run on {p['node']}.",
            f"Drain it for your services: docker node update --availability drain {p['node']}",
        )
    if not running:
        return failed(f"{p['service']} has no running task at all.")
    return passed(f"No task of {p['service']} runs on {p['node']}; {len(running)} run elsewhere.")


@define(
    "service_removed",
    summary="A service the learner made in the lab is gone.",
    params={"service": ServiceName(required=True, doc="the service")},
    describe=lambda p: f"the service {p['service']} is removed",
    needs=frozenset({ENGINE, HISTORY}),
)
def service_removed(ctx: Context, p: dict[str, Any]):
    service, _ = _service(ctx, p["service"])
    if service is not None:
        return failed(
            f"The service {p['service']} is still there.",
            f"Remove it: docker service rm {p['service']}",
        )
    made = any(
        e.action == "service" and e.args.get("name") == p["service"] and e.ok
        for e in ctx.history
    )
    if not made:
        return failed(f"You have not made a service {p['service']} in the lab yet.")
    return passed(f"There is no service {p['service']} any more.")


@define(
    "stack_deployed",
    summary="A stack is deployed: each of the given services of it has a running task.",
    params={
        "stack": StackName(required=True, doc="the stack"),
        "services": Names(required=True, doc="its services, by their names in the file"),
    },
    describe=lambda p: f"the stack {p['stack']} runs {', '.join(p['services'])}",
)
def stack_deployed(ctx: Context, p: dict[str, Any]):
    wanted = list(p["services"])
    missing, waiting = [], []
    for name in wanted:
        service, tasks = _service(ctx, f"{p['stack']}_{name}")
        if service is None:
            missing.append(name)
        elif not _running(tasks):
            waiting.append(name)
    if len(missing) == len(wanted):
        return failed(
            f"There is no stack {p['stack']} in your sandbox.",
            f"Deploy it: docker stack deploy -c stack.yaml {p['stack']}",
        )
    if missing:
        return failed(f"The stack {p['stack']} has no service {missing[0]}.")
    if waiting:
        return failed(
            f"{p['stack']}_{waiting[0]} has no running task yet.",
            f"Its image may still be on its way to a node: docker stack ps {p['stack']}",
        )
    return passed(f"The stack {p['stack']} runs {', '.join(wanted)}.")


@define(
    "stack_removed",
    summary="The learner has no stack of this name (any more), after having deployed it.",
    params={"stack": StackName(required=True, doc="the stack")},
    describe=lambda p: f"the stack {p['stack']} is removed",
    needs=frozenset({ENGINE, HISTORY}),
)
def stack_removed(ctx: Context, p: dict[str, Any]):
    from orchestration.services import stacks

    if any(s["name"] == p["stack"] for s in stacks.list_stacks(ctx.sandbox)):
        return failed(
            f"The stack {p['stack']} is still there.",
            f"Remove it: docker stack rm {p['stack']}",
        )
    deployed = any(
        e.action == "stack" and e.args.get("name") == p["stack"] and e.ok for e in ctx.history
    )
    if not deployed:
        return failed(f"You have not deployed a stack {p['stack']} yet.")
    return passed(f"There is no stack {p['stack']} any more.")


def _get(host: str, port: int, path: str, end: float) -> tuple[int, bytes]:
    """One GET to a task, over by `end` whatever the app does (as checks/vocabulary/web.py)."""
    connection = http.client.HTTPConnection(host, port, timeout=max(0.2, end - time.monotonic()))

    def cut() -> None:
        if connection.sock is not None:
            with contextlib.suppress(OSError):
                connection.sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(max(0.0, end - time.monotonic()), cut)
    timer.daemon = True
    timer.start()
    try:
        connection.request("GET", path, headers={"Host": f"{host}:{port}", "Connection": "close"})
        response = connection.getresponse()
        return response.status, response.read(MAX_BODY)
    finally:
        timer.cancel()
        connection.close()


@define(
    "service_answers",
    summary="A service's app answers HTTP, reached like the site's proxy reaches it (a running "
    "task, on its node's published port).",
    params={
        "service": ServiceName(required=True, doc="the service"),
        "path": HttpPath(default="/", doc="the path to ask for"),
        "status": Integer(minimum=100, maximum=599, default=200, doc="the HTTP status wanted"),
        "text": Text(max_chars=200, doc="a text the answer must contain"),
        "timeout": Seconds(minimum=1, maximum=30, default=8, doc="how long it may take"),
    },
    describe=lambda p: f"{p['service']} answers {p['path']} with {p['status']}"
    + (f" and {quoted(p['text'])}" if "text" in p else ""),
    budget=lambda p: p["timeout"] + 4,
)
def service_answers(ctx: Context, p: dict[str, Any]):
    name = p["service"]
    try:
        service, reachable = learner.endpoints(ctx.sandbox, name)
    except NotInSandbox:
        return _missing(name)
    if not ((service.get("Spec") or {}).get("Labels") or {}).get("org.dockerlab.swarm.publish"):
        return failed(
            f"{name} publishes no port, so nothing outside the swarm reaches it.",
            "Publish one: docker service update ... or create it with -p 8080:5002.",
        )
    if not reachable:
        return failed(
            f"{name} has no running task yet.", f"Look at docker service ps {name}, then check again."
        )
    end = time.monotonic() + ctx.remaining(p["timeout"])
    host, port, task = reachable[0]
    while True:
        try:
            status, body = _get(host, port, p["path"], end)
            break
        except (OSError, http.client.HTTPException):
            if time.monotonic() + 0.3 >= end:
                return failed(
                    f"{task} does not answer HTTP on its published port: is the app listening "
                    "on 0.0.0.0 on the port you published?",
                    "If it is still starting, wait and check again.",
                )
            time.sleep(0.3)
    text = body.decode("utf-8", "replace")
    if status != p["status"]:
        return failed(f"{task} answered {status}, not {p['status']}: {quoted(text)}.")
    if "text" in p and p["text"] not in text:
        return failed(f"{task} answered {status}, without {quoted(p['text'])}: {quoted(text)}.")
    return passed(f"{name} answers (task {task}): {quoted(text)}.")
