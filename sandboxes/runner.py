"""Running parsed command lines against a sandbox, synchronously, with the services.

`perform` does one `commands.Action` the way the lab page and its websocket
do it (the same service calls with the same arguments as
sandboxes/consumers.py), but waits for the end: a build or `compose up` to
finish, a foreground run to exit (then removes it for `--rm`, as the page
does). The result is an `Outcome`, the shape the lab history records
(lessons.history.record_action). Service errors become failed outcomes with
the service's message; nothing here raises for a learner's mistake.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.client import EngineError
from sandboxes import services
from sandboxes.commands import Action, Line
from sandboxes.errors import NotInSandbox, SandboxError
from sandboxes.models import Sandbox
from sandboxes.services import compose, containers, layers, networks, registry
from sandboxes.services.exec import exec_command

# How long a foreground run of a command may take before the runner stops
# waiting for it, and how long one of an image's own command (usually a
# server, which does not end) is watched.
RUN_WAIT = 120.0
SERVER_WAIT = 3.0
# How long `docker logs` (without a container that ends) is read.
LOGS_WINDOW = 1.5
OUTPUT_LINES = 40
MAX_OUTPUT = 4000


@dataclass(frozen=True)
class Outcome:
    """How one action went: for the learner (`message`) and for checks (the rest).

    `exit_code` is a finished run's; `output` the last lines a run, build or
    log read printed (at most MAX_OUTPUT characters); `detail` small facts
    checks may use, like {"id": "sha256:..."} of an image built, pushed or
    pulled.
    """

    ok: bool
    message: str = ""
    exit_code: int | None = None
    output: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    code: str = ""  # the error code of a failure (sandboxes.errors), for the page's logic


def _tail(lines: Iterable[str]) -> str:
    kept = deque((line.rstrip("\n") for line in lines), maxlen=OUTPUT_LINES)
    return "\n".join(kept)[-MAX_OUTPUT:]


def _events(stream) -> Outcome:
    """Iterate a build-like stream (build, push, pull, compose up) to its end."""
    lines: deque[str] = deque(maxlen=OUTPUT_LINES)
    try:
        for event in stream:
            kind = event.get("kind")
            if kind in ("line", "step"):
                lines.append(str(event.get("text", "")))
            elif kind == "error":
                return Outcome(False, str(event.get("message")), output=_tail(lines), code="failed")
            elif kind == "done":
                detail = {"id": event["id"]} if event.get("id") else {}
                what = event.get("image") or "done"
                return Outcome(True, f"{what}", output=_tail(lines), detail=detail)
    finally:
        with contextlib.suppress(Exception):
            stream.close()
    return Outcome(False, "It ended without a result.", output=_tail(lines), code="failed")


def _read_logs(
    sandbox: Sandbox, container: str, tail: int, window: float | None, since: int | None = None
) -> str:
    """What `docker logs` shows: read until the stream ends, or for `window` seconds.

    `since` is seconds ago (`--since 10m` is 600).
    """
    when = None if since is None else int(time.time()) - since
    stream = services.follow_logs(sandbox, container, tail=tail, since=when)
    timer = None
    if window is not None:
        timer = threading.Timer(window, stream.close)
        timer.daemon = True
        timer.start()
    try:
        data = b"".join(stream)
    finally:
        stream.close()
        if timer is not None:
            timer.cancel()
    return data.decode("utf-8", "replace")


def _wait_exit(sandbox: Sandbox, name: str, seconds: float) -> int | None:
    """The exit code once container `name` has stopped; None if still running after `seconds`."""
    end = time.monotonic() + seconds
    while True:
        found = services.find_container(sandbox, name)
        if found.get("State") not in ("running", "created", "restarting"):
            state = services.inspect(sandbox, "container", name).get("State") or {}
            return state.get("ExitCode")
        if time.monotonic() > end:
            return None
        time.sleep(0.2)


def _run(sandbox: Sandbox, action: Action) -> Outcome:
    args = action.args
    kwargs: dict[str, Any] = {"name": args.get("name"), "env": args.get("env")}
    if args.get("network") is not None:
        kwargs["network"] = args["network"]
    # The same mapping as LabConsumer.do_run.
    if args.get("command") is not None:
        kwargs["command"] = args["command"]
    if args.get("publish") is False or (
        args.get("command") is not None and args.get("port") is None
    ):
        kwargs["port"] = None
    elif args.get("port") is not None:
        kwargs["port"] = args["port"]
    view = services.run_container(sandbox, args["image"], **kwargs)
    name = view["name"]
    if not action.wait:
        return Outcome(True, f"Started {name}.", detail={"container": name})
    code = _wait_exit(sandbox, name, RUN_WAIT if args.get("command") else SERVER_WAIT)
    output = _read_logs(sandbox, name, 10_000, None if code is not None else LOGS_WINDOW)
    if code is None:
        return Outcome(
            True,
            f"{name} is still running.",
            output=_tail(output.splitlines()),
            detail={"container": name},
        )
    if action.rm:
        services.remove_container(sandbox, name)
    return Outcome(
        code == 0,
        f"Exited with code {code}.",
        exit_code=code,
        output=_tail(output.splitlines()),
        detail={"container": name},
        code="" if code == 0 else "exit_code",
    )


def _inspect(sandbox: Sandbox, args: dict) -> Outcome:
    try:
        data = services.inspect(sandbox, args["kind"], args["name"])
    except NotInSandbox:
        if args["kind"] != "container":
            raise
        # `docker inspect NAME` finds an image as well as a container.
        data = services.inspect(sandbox, "image", args["name"])
    return Outcome(True, f"Inspected {args['name']}.", detail={"id": data.get("Id", "")})


def _compose(sandbox: Sandbox, args: dict) -> Outcome:
    command = args["command"]
    if command == "ps":
        rows = compose.ps(sandbox)
        return Outcome(
            True, ", ".join(f"{r['service']}: {r['state']}" for r in rows) or "No containers."
        )
    if command == "down":
        data = compose.down(sandbox, volumes=bool(args.get("volumes")))
        return Outcome(True, f"Removed {', '.join(data['removed']) or 'nothing'}.")
    return _events(compose.up(sandbox, build=args.get("build", True), file=args.get("file")))


def _network(sandbox: Sandbox, args: dict) -> Outcome:
    command, name = args["command"], args.get("name", "")
    if command == "create":
        view = networks.create_network(sandbox, name)
        return Outcome(True, f"Created the network {view['name']}.", detail={"network": name})
    if command == "ls":
        rows = networks.list_networks(sandbox)["networks"]
        return Outcome(True, ", ".join(row["name"] for row in rows))
    if command == "inspect":
        data = networks.inspect_network(sandbox, name)
        return Outcome(True, f"Inspected the network {name}.", detail={"id": data.get("Id", "")})
    if command == "rm":
        networks.remove_network(sandbox, name)
        return Outcome(True, f"Removed the network {name}.")
    container = args["container"]
    if command == "connect":
        networks.connect(sandbox, name, container)
        return Outcome(True, f"Connected {container} to {name}.")
    networks.disconnect(sandbox, name, container, force=bool(args.get("force")))
    return Outcome(True, f"Disconnected {container} from {name}.")


def _exec(sandbox: Sandbox, args: dict) -> Outcome:
    stream = exec_command(sandbox, args["container"], args["command"])
    text = b"".join(stream).decode("utf-8", "replace")
    code = stream.exit_code
    message = f"Exited with code {code}." if code is not None else "It did not end in time."
    return Outcome(
        code == 0,
        message,
        exit_code=code,
        output=_tail(text.splitlines()),
        detail={"container": args["container"]},
        code="" if code == 0 else "exit_code",
    )


def perform(sandbox: Sandbox, action: Action) -> Outcome:
    """Do one action in `sandbox` and wait for its end."""
    args = action.args
    try:
        match action.action:
            case "state":
                state = services.list_state(sandbox)
                return Outcome(
                    True, f"{len(state['images'])} images, {len(state['containers'])} containers."
                )
            case "build":
                return _events(
                    services.build_image(
                        sandbox,
                        tag=args.get("tag", "flask-app"),
                        dockerfile=args.get("dockerfile"),
                        no_cache=bool(args.get("no_cache")),
                        target=args.get("target"),
                    )
                )
            case "run":
                return _run(sandbox, action)
            case "logs":
                window = LOGS_WINDOW
                text = _read_logs(
                    sandbox, args["container"], args.get("tail", 100), window, args.get("since")
                )
                return Outcome(
                    True, f"Read the logs of {args['container']}.", output=_tail(text.splitlines())
                )
            case "stop":
                services.stop_container(sandbox, args["container"])
                return Outcome(True, f"Stopped {args['container']}.")
            case "remove":
                services.remove_container(sandbox, args["container"])
                return Outcome(True, f"Removed {args['container']}.")
            case "rmi":
                data = services.remove_image(sandbox, args["image"])
                return Outcome(True, f"Untagged {', '.join(data['untagged']) or args['image']}.")
            case "inspect":
                return _inspect(sandbox, args)
            case "prune":
                data = services.prune(sandbox)
                return Outcome(
                    True, f"Removed {data['containers']} containers and {data['images']} images."
                )
            case "volume_rm":
                services.remove_volume(sandbox, args["volume"])
                return Outcome(True, f"Removed the volume {args['volume']}.")
            case "tag":
                data = registry.tag_image(sandbox, args["source"], args["target"])
                return Outcome(True, f"Tagged {data['source']} as {data['target']}.")
            case "push":
                return _events(registry.push(sandbox, args["image"]))
            case "pull":
                return _events(registry.pull(sandbox, args["image"]))
            case "compose":
                return _compose(sandbox, args)
            case "service" | "stack" | "node" | "task_kill":
                from orchestration import runner as swarm_runner  # deferred: imports this

                return swarm_runner.perform(sandbox, action)
            case "network":
                return _network(sandbox, args)
            case "exec":
                return _exec(sandbox, args)
            case "history":
                data = layers.image_history(sandbox, args["image"])
                rows = [f"{r['id']:<12}  {r['size']:>10}  {r['instruction'][:60]}" for r in data["rows"]]
                return Outcome(True, f"{len(rows)} layers.", output=_tail(rows))
            case "restart":
                containers.restart_container(sandbox, args["container"])
                return Outcome(True, f"Restarted {args['container']}.")
            case "start":
                containers.start_container(sandbox, args["container"])
                return Outcome(True, f"Started {args['container']}.")
            case "volume_prune":
                data = containers.prune_volumes(sandbox, bool(args.get("all")))
                return Outcome(True, f"Removed {len(data['volumes'])} volumes.", detail=data)
    except SandboxError as exc:
        return Outcome(False, exc.message, code=exc.code)
    except EngineError as exc:
        return Outcome(False, exc.message, code="engine_error")
    return Outcome(False, f"The lab has no action {action.action!r}.", code="bad_request")


def run_line(sandbox: Sandbox, line: Line) -> list[tuple[Action, Outcome]]:
    """Do every action of a parsed line in order (`docker rm -f web db` is two)."""
    return [(action, perform(sandbox, action)) for action in line.actions]
