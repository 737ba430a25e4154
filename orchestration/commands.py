"""`docker service/stack/node ...` and `docker kill TASK` lines as lab actions, and back.

Part of sandboxes/commands.py's line reader (which hands these subcommands
here): the same option parser, the same refusals, our own re-emission of
every value. The actions are the websocket's `service`, `stack`, `node` and
`task_kill` (docs/websocket.md).

What the lab does differently from a swarm of one's own says so in a note:
`-p 8080:5002` keeps 8080 as the learner's own name for the port (the site
publishes each task on a port its node picks, reached through the site),
and a drain is the learner's own (their services leave the node; other
learners' stay).
"""

from __future__ import annotations

import re
from typing import Any

from orchestration import naming as names
from sandboxes.commands import (
    INVALID,
    UNSUPPORTED,
    Action,
    Line,
    LineRefused,
    _env,
    _image,
    _operands,
    _parse_options,
    join_words,
)
from sandboxes.errors import InvalidName

ACTIONS = ("service", "stack", "node", "task_kill", "swarm_watch", "swarm_unwatch")
_DURATION = re.compile(r"^([0-9]{1,4})(s|m|h)\Z")
_SCALE = re.compile(r"^([a-z0-9_-]{1,40})=([0-9]{1,4})\Z")

SWARM_INIT = (
    "In the lab the classroom swarm is running already (a manager and two workers, each "
    "a Docker engine of its own): `docker swarm init`, `join` and `leave` run on your own "
    "machines. Try docker node ls."
)
PUBLISH_NOTE = (
    "The lab publishes each task on a port its node picks (host mode: the routing mesh "
    "needs IPVS in the kernel); {port} stays your name for it. Open the service through "
    "the site (Open)."
)
DRAIN_NOTE = (
    "In the lab a drain is your own: your services' tasks leave {node}, other learners' "
    "stay where they are."
)


def _checked(check, value: str) -> str:
    try:
        return check(value)
    except InvalidName as exc:
        raise LineRefused(exc.message, INVALID) from None


def _seconds(value: str, option: str) -> int:
    found = _DURATION.match(value)
    if not found:
        raise LineRefused(f"{option} {value[:20]} is not a duration like 5s or 1m.", INVALID)
    amount = int(found.group(1)) * {"s": 1, "m": 60, "h": 3600}[found.group(2)]
    if amount > 3600:
        raise LineRefused(f"{option} is at most one hour in the lab.", INVALID)
    return amount


def _count(value: str, option: str) -> int:
    if not value.isdigit() or len(value) > 4:
        raise LineRefused(f"{option} takes a whole number, like 3.", INVALID)
    return int(value)


_UPDATE_VALUED = {
    "--update-parallelism": "parallelism",
    "--update-delay": "delay",
    "--update-failure-action": "failure_action",
    "--replicas": "replicas",
}


def _update_args(opts) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if opts.last("replicas") is not None:
        args["replicas"] = _count(opts.last("replicas"), "--replicas")
    if opts.last("parallelism") is not None:
        args["update_parallelism"] = _count(opts.last("parallelism"), "--update-parallelism")
    if opts.last("delay") is not None:
        args["update_delay"] = _seconds(opts.last("delay"), "--update-delay")
    action = opts.last("failure_action")
    if action is not None:
        if action not in ("pause", "continue", "rollback"):
            raise LineRefused("--update-failure-action is pause, continue or rollback.", INVALID)
        args["update_failure_action"] = action
    return args


def _create(words: list[str], text: str) -> Line:
    opts = _parse_options(
        "docker service create",
        words,
        flags={"-d": "detach", "--detach": "detach"},
        valued={
            **_UPDATE_VALUED,
            "--name": "name",
            "-p": "publish",
            "--publish": "publish",
            "-e": "env",
            "--env": "env",
            "--endpoint-mode": "endpoint_mode",
            "--mode": "mode",
        },
        interspersed=False,
    )
    if not opts.operands:
        raise LineRefused("`docker service create` needs an image.", INVALID)
    image, *command = opts.operands
    name = opts.last("name")
    if name is None:
        raise LineRefused("Name the service: docker service create --name web ...", INVALID)
    args: dict[str, Any] = {
        "command": "create",
        "name": _checked(names.check_service, name),
        "image": _image(image),
        **_update_args(opts),
    }
    notes = []
    publishes = opts.all("publish")
    if len(publishes) > 1:
        raise LineRefused("The lab publishes one port per service: keep one -p.", UNSUPPORTED)
    if publishes:
        published, target = _checked(names.parse_publish, publishes[0])
        args["publish"] = f"{published}:{target}"
        notes.append(PUBLISH_NOTE.format(port=published))
    env = _env(opts.all("env"))
    if env:
        args["env"] = env
    if command:
        args["args"] = join_words(command)
    if opts.last("mode") not in (None, "replicated"):
        raise LineRefused("The lab runs replicated services (--mode replicated).", UNSUPPORTED)
    if opts.last("endpoint_mode") not in (None, "dnsrr", "vip"):
        raise LineRefused("--endpoint-mode is vip or dnsrr.", INVALID)
    if opts.last("endpoint_mode") == "vip":
        notes.append("The lab's services use --endpoint-mode dnsrr (virtual IPs need IPVS).")
    return Line(text, (Action("service", args),), tuple(notes))


def _update(words: list[str], text: str) -> Line:
    opts = _parse_options(
        "docker service update",
        words,
        flags={"-d": "detach", "--detach": "detach", "--force": "force"},
        valued={**_UPDATE_VALUED, "--image": "image"},
    )
    (name,) = _operands("docker service update", opts, 1, 1, "one service name")
    args: dict[str, Any] = {"command": "update", "name": _checked(names.check_service, name)}
    if opts.last("image") is not None:
        args["image"] = _image(opts.last("image"))
    args.update(_update_args(opts))
    if opts.has("force"):
        args["force"] = True
    return Line(text, (Action("service", args),))


def _per_service(command: str, words: list[str], text: str, low: int = 1) -> Line:
    opts = _parse_options(f"docker service {command}", words, flags={}, valued={})
    found = _operands(f"docker service {command}", opts, low, None, "one or more service names")
    return Line(text, tuple(
        Action("service", {"command": command, "name": _checked(names.check_service, n)})
        for n in found
    ))


def _ls(words: list[str], text: str) -> Line:
    opts = _parse_options("docker service ls", words, flags={"-q": "quiet"}, valued={})
    _operands("docker service ls", opts, 0, 0, "no names")
    return Line(text, (Action("service", {"command": "ls"}),))


def _ps(words: list[str], text: str) -> Line:
    opts = _parse_options(
        "docker service ps", words, flags={"--no-trunc": "no_trunc"},
        valued={"--format": "format", "-f": "filter", "--filter": "filter"},
    )
    (name,) = _operands("docker service ps", opts, 1, 1, "one service name")
    notes = ("The lab shows every column; --format and --filter are not applied.",) if (
        opts.has("format", "filter")) else ()
    action = Action("service", {"command": "ps", "name": _checked(names.check_service, name)})
    return Line(text, (action,), notes)


def _scale(words: list[str], text: str) -> Line:
    opts = _parse_options("docker service scale", words, flags={"-d": "detach"}, valued={})
    pairs = _operands("docker service scale", opts, 1, None, "SERVICE=REPLICAS, like web=5")
    actions = []
    for pair in pairs:
        found = _SCALE.match(pair)
        if not found:
            raise LineRefused(f"{pair[:40]!r} is not SERVICE=REPLICAS, like web=5.", INVALID)
        name = _checked(names.check_service, found.group(1))
        actions.append(Action("service", {
            "command": "scale", "name": name, "replicas": int(found.group(2)),
        }))
    return Line(text, tuple(actions))


def service_line(words: list[str], text: str) -> Line:
    if not words:
        raise LineRefused("Say which service command: create, ls, ps, scale, update, "
                          "rollback or rm.", INVALID)
    command, rest = words[0], words[1:]
    parsers = {
        "create": _create,
        "update": _update,
        "ls": _ls,
        "list": _ls,
        "ps": _ps,
        "scale": _scale,
        "rollback": lambda w, t: _per_service("rollback", w, t),
        "rm": lambda w, t: _per_service("rm", w, t),
        "remove": lambda w, t: _per_service("rm", w, t),
    }
    if command not in parsers:
        raise LineRefused(
            f"`docker service {command[:20]}` is not in the lab (it runs create, ls, ps, "
            "scale, update, rollback and rm).",
            UNSUPPORTED,
        )
    return parsers[command](rest, text)


def stack_line(words: list[str], text: str) -> Line:
    if not words:
        raise LineRefused("Say which stack command: deploy, ls, ps or rm.", INVALID)
    command, rest = words[0], words[1:]
    if command == "deploy":
        opts = _parse_options(
            "docker stack deploy", rest, flags={"--prune": "prune", "-d": "detach"},
            valued={"-c": "file", "--compose-file": "file"},
        )
        (name,) = _operands("docker stack deploy", opts, 1, 1, "one stack name")
        args: dict[str, Any] = {"command": "deploy", "name": _checked(names.check_stack, name)}
        file = opts.last("file")
        if file is None:
            raise LineRefused("Name the file: docker stack deploy -c stack.yaml flask", INVALID)
        args["file"] = _sample_file(file)
        return Line(text, (Action("stack", args),))
    if command in ("ls", "list"):
        opts = _parse_options("docker stack ls", rest, flags={}, valued={})
        _operands("docker stack ls", opts, 0, 0, "no names")
        return Line(text, (Action("stack", {"command": "ls"}),))
    if command in ("ps", "services", "rm", "remove", "down"):
        opts = _parse_options(f"docker stack {command}", rest, flags={}, valued={})
        found = _operands(f"docker stack {command}", opts, 1, None, "one or more stack names")
        verb = "rm" if command in ("rm", "remove", "down") else "ps"
        return Line(text, tuple(
            Action("stack", {"command": verb, "name": _checked(names.check_stack, n)})
            for n in found
        ))
    raise LineRefused(
        f"`docker stack {command[:20]}` is not in the lab (it runs deploy, ls, ps and rm).",
        UNSUPPORTED,
    )


def _sample_file(file: str) -> str:
    from orchestration.services.stacks import sample_files  # deferred: reads settings

    name = file[2:] if file.startswith("./") else file
    known = sample_files()
    if name not in known:
        raise LineRefused(
            f"-c {file[:40]}: the lab deploys the sample app's files ({', '.join(known)}).",
            INVALID,
        )
    return name


def node_line(words: list[str], text: str) -> Line:
    if not words:
        raise LineRefused("Say which node command: ls or update.", INVALID)
    command, rest = words[0], words[1:]
    if command in ("ls", "list"):
        opts = _parse_options("docker node ls", rest, flags={"-q": "quiet"}, valued={})
        _operands("docker node ls", opts, 0, 0, "no names")
        return Line(text, (Action("node", {"command": "ls"}),))
    if command == "update":
        opts = _parse_options(
            "docker node update", rest, flags={}, valued={"--availability": "availability"}
        )
        (node,) = _operands("docker node update", opts, 1, 1, "one node name")
        availability = opts.last("availability")
        if availability not in ("drain", "active"):
            raise LineRefused(
                "In the lab `docker node update` sets --availability drain or active.",
                UNSUPPORTED,
            )
        if not re.match(r"^[a-z0-9][a-z0-9-]{0,39}\Z", node):
            raise LineRefused(f"{node[:40]!r} is not a node name (docker node ls).", INVALID)
        args = {"command": "update", "node": node, "availability": availability}
        notes = (DRAIN_NOTE.format(node=node),) if availability == "drain" else ()
        return Line(text, (Action("node", args),), notes)
    raise LineRefused(
        f"`docker node {command[:20]}` is not in the lab (it runs ls and update).", UNSUPPORTED
    )


def kill_line(words: list[str], text: str) -> Line:
    opts = _parse_options("docker kill", words, flags={}, valued={"-s": "signal", "--signal": "signal"})
    found = _operands("docker kill", opts, 1, None, "one or more tasks, like web.1")
    actions = []
    for task in found:
        if not (names.TASK_SLOT_RE.match(task) or names.ID_RE.match(task)):
            raise LineRefused(
                f"{task[:40]!r}: in the lab `docker kill` kills a task of your services, "
                "named as `docker service ps` names it (web.1) or by its id.",
                INVALID,
            )
        actions.append(Action("task_kill", {"task": task}))
    note = (
        "In the lab `docker kill web.1` kills that task's container on whichever node runs "
        "it; on your own swarm you would run `docker kill` on that node."
    )
    return Line(text, tuple(actions), (note,))


def render(action: str, args: dict) -> str | None:
    """The docker command for one of these actions (None: not one of them)."""
    command = args.get("command")
    name = str(args.get("name", ""))
    if action == "service":
        if command == "create":
            parts = ["docker", "service", "create", "--name", name]
            if args.get("replicas") is not None:
                parts += ["--replicas", str(args["replicas"])]
            if args.get("publish"):
                parts += ["-p", str(args["publish"])]
            parts += _render_update(args)
            for key, value in (args.get("env") or {}).items():
                parts += ["-e", join_words([f"{key}={value}"])]
            parts.append(join_words([str(args.get("image", ""))]))
            if args.get("args"):
                parts.append(str(args["args"]))
            return " ".join(parts)
        if command == "update":
            parts = ["docker", "service", "update"]
            if args.get("image"):
                parts += ["--image", join_words([str(args["image"])])]
            if args.get("replicas") is not None:
                parts += ["--replicas", str(args["replicas"])]
            parts += _render_update(args)
            if args.get("force"):
                parts.append("--force")
            return " ".join([*parts, name])
        if command == "scale":
            return f"docker service scale {name}={args.get('replicas')}"
        if command in ("ls",):
            return "docker service ls"
        return f"docker service {command} {name}".rstrip()
    if action == "stack":
        if command == "deploy":
            return f"docker stack deploy -c {args.get('file') or 'compose.yaml'} {name}" + (
                "  # with your edited file" if args.get("text") else "")
        return f"docker stack {command} {name}".rstrip()
    if action == "node":
        if command == "update":
            return f"docker node update --availability {args.get('availability')} {args.get('node')}"
        return "docker node ls"
    if action == "task_kill":
        return f"docker kill {args.get('task', '')}"
    if action in ("swarm_watch", "swarm_unwatch"):
        return f"({action})"
    return None


def _render_update(args: dict) -> list[str]:
    parts = []
    if args.get("update_parallelism") is not None:
        parts += ["--update-parallelism", str(args["update_parallelism"])]
    if args.get("update_delay") is not None:
        parts += ["--update-delay", f"{args['update_delay']}s"]
    if args.get("update_failure_action"):
        parts += ["--update-failure-action", str(args["update_failure_action"])]
    return parts
