"""The lab's docker command lines: parsed into websocket actions, and back.

A lesson shows lines like `$ docker run -d --name web -p 127.0.0.1:5002:5002
flask-app`. `parse_line` turns one such line into the actions of the lab
websocket protocol (docs/websocket.md, `ACTIONS` in sandboxes/consumers.py),
with the arguments exactly as the page sends them; `render` turns an action
back into the docker command a learner would type. Lines the lab cannot do
(a pipe, `curl`, `docker swarm init`, `--network host`, an option the lab
does not offer) raise `LineRefused` with a reason written for the learner.

This parse is the one that counts: lesson pages mark each console line as
doable or not from it (lessons.rendering), and the websocket's `line`
action performs what it returns for a line's text.

Invariants:
- nothing here touches the engine or the database; values are checked with
  the same rules the services apply (sandboxes.naming), so a line that
  parses names nothing the services would refuse as malformed;
- what goes into the arguments is our own re-emission of the parse (a run's
  command is re-quoted from its words), never the learner's raw text;
- shell syntax (pipes, `;`, `&&`, redirections, `$VAR`, `$(...)`, globs)
  is refused rather than guessed at: the lab runs no shell.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sandboxes import naming
from sandboxes.errors import InvalidName

MAX_LINE = 4096
MAX_ENV = 32
DEFAULT_TAG = "flask-app"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
_SAMPLE_FILE = re.compile(r"^Dockerfile[A-Za-z0-9._-]*\Z")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_PROMPT = re.compile(r"^\s*\$\s+")
_FENCE = re.compile(r"^\s*(```|~~~)")

# What the lab websocket can do, by action name (sandboxes/consumers.py ACTIONS).
LAB_ACTIONS = (
    "state",
    "build",
    "run",
    "logs",
    "stop",
    "remove",
    "rmi",
    "inspect",
    "prune",
    "volume_rm",
    "tag",
    "push",
    "pull",
    "compose",
    "network",
    "exec",
    "history",
    "restart",
    "start",
    "volume_prune",
    # The multistage lesson's start timing (no line parses to it).
    "timing",
    # The classroom swarm (orchestration/commands.py).
    "service",
    "stack",
    "node",
    "task_kill",
    "swarm_watch",
    "swarm_unwatch",
)
# What `docker network` can do in the lab (the `network` action's `command`).
NETWORK_COMMANDS = ("create", "ls", "inspect", "connect", "disconnect", "rm")
MAX_SINCE = 7 * 24 * 3600

HOST_ONLY = "host_only"  # a line for the learner's own machine (curl, a pipe, docker network)
UNSUPPORTED = "unsupported"  # a docker line with an option or form the lab does not offer
INVALID = "invalid"  # a lab line with an unusable value (a bad name, a bad port)


class LineRefused(Exception):
    """A line the lab cannot run; `reason` says why, `code` says what kind."""

    def __init__(self, reason: str, code: str = HOST_ONLY):
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass(frozen=True)
class Action:
    """One websocket action a line stands for.

    `wait`: a run in the foreground (no -d): wait for it to exit and show its
    output. `rm`: remove the container once it exited (--rm); the page does
    that with a `remove` action of its own. `follow`: `docker logs -f`.
    """

    action: str
    args: dict[str, Any] = field(default_factory=dict)
    wait: bool = False
    rm: bool = False
    follow: bool = False

    def message(self) -> dict[str, Any]:
        """The websocket message for this action (without a ref)."""
        return {"action": self.action, **self.args}


@dataclass(frozen=True)
class Line:
    """A parsed line: what it says, the actions it stands for, notes for the learner."""

    text: str
    actions: tuple[Action, ...]
    notes: tuple[str, ...] = ()


# --- words ---------------------------------------------------------------------


def _check_shell(line: str) -> None:
    """Refuse shell syntax outside quotes: the lab runs no shell."""
    quote = None
    escaped = False
    start_of_word = True
    for char in line:
        if escaped:
            escaped = False
            start_of_word = False
            continue
        if quote == "'":
            if char == "'":
                quote = None
            continue
        if char == "\\":
            escaped = True
            continue
        if quote == '"':
            if char == '"':
                quote = None
            elif char in "$`":
                raise _shell(line, char)
            continue
        if char in "'\"":
            quote = char
        elif char in "|;&<>()`$*?" or (char in "#~" and start_of_word):
            raise _shell(line, char)
        start_of_word = char.isspace()
        if char.isspace():
            continue
    if quote is not None:
        raise LineRefused("The line has a quote that is never closed.", INVALID)


def _shell(line: str, char: str) -> LineRefused:
    what = {
        "|": "a pipe (|)",
        ";": "a ';' between commands",
        "&": "'&' or '&&'",
        "<": "a redirection",
        ">": "a redirection",
        "(": "a subshell",
        ")": "a subshell",
        "`": "a command substitution",
        "$": "a $ the shell expands",
        "*": "a * the shell expands",
        "?": "a ? the shell expands",
        "#": "a comment",
        "~": "a ~ the shell expands",
    }[char]
    return LineRefused(
        f"This line uses the shell ({what}): it runs on your own machine, not in the lab, "
        "which runs single docker commands without a shell."
    )


def _words(line: str) -> list[str]:
    if not isinstance(line, str):
        raise LineRefused("A command line must be text.", INVALID)
    if len(line) > MAX_LINE:
        raise LineRefused(f"The line is too long (at most {MAX_LINE} characters).", INVALID)
    line = _PROMPT.sub("", line, count=1).strip()
    if _CONTROL.search(line.replace("\t", " ")):
        raise LineRefused("A command line must be one line of plain text.", INVALID)
    if not line:
        raise LineRefused("The line is empty.", INVALID)
    _check_shell(line)
    try:
        return shlex.split(line)
    except ValueError:
        raise LineRefused("The line has a quote that is never closed.", INVALID) from None


_PLAIN_WORD = re.compile(r"^[A-Za-z0-9_@%+=:,./-]+\Z")


def join_words(words: list[str]) -> str:
    """Words as one shell-style line that splits back into the same words.

    Readable where it can be (`python -c "print('hi')"`): double quotes when
    nothing in the word is special inside them, single quotes otherwise.
    """
    out = []
    for word in words:
        if _PLAIN_WORD.match(word):
            out.append(word)
        elif not re.search(r'["\\$`!]', word):
            out.append(f'"{word}"')
        else:
            out.append(shlex.quote(word))
    return " ".join(out)


@dataclass
class _Options:
    """Options and operands of one docker subcommand, docker-style."""

    values: list[tuple[str, str | None]] = field(default_factory=list)
    operands: list[str] = field(default_factory=list)

    def has(self, *names: str) -> bool:
        return any(name in names for name, _ in self.values)

    def all(self, *names: str) -> list[str]:
        return [value or "" for name, value in self.values if name in names]

    def last(self, *names: str) -> str | None:
        found = self.all(*names)
        return found[-1] if found else None


def _parse_options(
    command: str,
    words: list[str],
    flags: Mapping[str, str],
    valued: Mapping[str, str],
    *,
    interspersed: bool = True,
) -> _Options:
    """Split `words` into options and operands.

    `flags` and `valued` map every spelling (`-d`, `--detach`) to one
    canonical name. Short flags combine (`-it`). With `interspersed` false,
    the first operand ends the options (docker run IMAGE COMMAND...).
    """
    result = _Options()
    index = 0
    while index < len(words):
        word = words[index]
        if word == "--":
            result.operands.extend(words[index + 1 :])
            break
        if not word.startswith("-") or word == "-":
            if not interspersed:
                result.operands.extend(words[index:])
                break
            result.operands.append(word)
            index += 1
            continue
        name, eq, value = word.partition("=")
        if name in valued:
            if not eq:
                index += 1
                if index >= len(words):
                    raise LineRefused(f"`{command}` option {name} needs a value.", INVALID)
                value = words[index]
            result.values.append((valued[name], value))
        elif word in flags:
            result.values.append((flags[word], None))
        elif (
            not word.startswith("--") and len(word) > 2 and all(f"-{c}" in flags for c in word[1:])
        ):
            result.values.extend((flags[f"-{c}"], None) for c in word[1:])
        else:
            offered = sorted({*flags, *valued} - {"-"})
            raise LineRefused(
                f"`{command}` option {name[:40]} is not available in the lab "
                f"(it offers {', '.join(offered) or 'no options'}).",
                UNSUPPORTED,
            )
        index += 1
    return result


def _container(name: str) -> str:
    try:
        return naming.check_container_name(name)
    except InvalidName as exc:
        raise LineRefused(exc.message, INVALID) from None


def _image(ref: str) -> str:
    try:
        naming.parse_image(ref)
    except InvalidName as exc:
        raise LineRefused(exc.message, INVALID) from None
    return ref


def _operands(command: str, opts: _Options, low: int, high: int | None, what: str) -> list[str]:
    count = len(opts.operands)
    if count < low or (high is not None and count > high):
        raise LineRefused(f"`{command}` takes {what}.", INVALID)
    return opts.operands


# --- subcommands -----------------------------------------------------------------


def _port(value: str) -> tuple[int, list[str]]:
    """The container port of a -p value ([IP:][HOST:]PORT[/tcp]) and notes on the rest."""
    spec, _, protocol = value.partition("/")
    if protocol and protocol != "tcp":
        raise LineRefused(f"-p {value}: the lab publishes TCP ports only.", UNSUPPORTED)
    parts = spec.rsplit(":", 2)
    try:
        port = int(parts[-1])
    except ValueError:
        raise LineRefused(
            f"-p {value[:40]} is not a port mapping like 127.0.0.1:5002:5002.", INVALID
        ) from None
    if not 1 <= port <= 65535:
        raise LineRefused(f"-p {value[:40]}: {port} is not a port number.", INVALID)
    notes = []
    if len(parts) == 3 and parts[0] not in ("127.0.0.1", "localhost"):
        notes.append("The lab publishes ports on 127.0.0.1 only.")
    if len(parts) >= 2 and parts[-2]:
        notes.append(
            f"The lab picks a free port of the server for container port {port}; "
            "open the app through the site (Open app)."
        )
    return port, notes


def _env(values: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in values:
        key, eq, value = item.partition("=")
        if not eq:
            raise LineRefused(
                f"-e {item[:40]} takes its value from your shell: write NAME=value.", INVALID
            )
        if not _ENV_NAME.match(key):
            raise LineRefused(
                f"-e {key[:40]} is not a variable name (letters, digits, _).", INVALID
            )
        env[key] = value
    if len(env) > MAX_ENV:
        raise LineRefused(f"The lab takes at most {MAX_ENV} -e variables.", UNSUPPORTED)
    return env


def _run(words: list[str], ctx: _Context) -> Line:
    opts = _parse_options(
        "docker run",
        words,
        flags={
            "--rm": "rm",
            "-d": "detach",
            "--detach": "detach",
            "-i": "interactive",
            "--interactive": "interactive",
            "-t": "tty",
            "--tty": "tty",
        },
        valued={
            "--name": "name",
            "-e": "env",
            "--env": "env",
            "-p": "publish",
            "--publish": "publish",
            "--network": "network",
            "--net": "network",
        },
        interspersed=False,
    )
    if not opts.operands:
        raise LineRefused("`docker run` needs an image.", INVALID)
    image, *command = opts.operands
    args: dict[str, Any] = {"image": _image(image)}
    notes: list[str] = []
    name = opts.last("name")
    if name is not None:
        args["name"] = _container(name)
    ports = opts.all("publish")
    if len(ports) > 1:
        raise LineRefused("The lab publishes one port per container: keep one -p.", UNSUPPORTED)
    if command:
        args["command"] = join_words(command)
    env = _env(opts.all("env"))
    if env:
        args["env"] = env
    if ports:
        args["port"], port_notes = _port(ports[0])
        notes.extend(port_notes)
    else:
        # Like docker: nothing is published unless -p asks for it.
        args["publish"] = False
    network = opts.last("network")
    if network is not None:
        network = _run_network(network)
        if network == "none" and ports:
            raise LineRefused(
                "-p with --network none: a container without a network has no port to "
                "publish. Leave out -p.",
                INVALID,
            )
        if network != "bridge":
            args["network"] = network
    action = Action("run", args, wait=not opts.has("detach"), rm=opts.has("rm"))
    return Line(ctx.text, (action,), tuple(notes))


_HOST_NETWORK = (
    "--network host would put the container on the lab server's own network, so the lab "
    "refuses it: this line runs on your own machine, where the container shares the "
    "host's interfaces."
)


def _run_network(value: str) -> str:
    if value == "host":
        raise LineRefused(_HOST_NETWORK)
    if value in ("bridge", "default", "none"):
        return "bridge" if value == "default" else value
    return _network_name(value)


def _network_name(value: str) -> str:
    if not naming.NAME_RE.match(value):
        raise LineRefused(
            f"{value[:40]!r} is not a network name (lowercase letters, digits, . _ -).", INVALID
        )
    return value


def _build(words: list[str], ctx: _Context) -> Line:
    opts = _parse_options(
        "docker build",
        words,
        flags={"--no-cache": "no_cache"},
        valued={
            "-f": "file",
            "--file": "file",
            "-t": "tag",
            "--tag": "tag",
            "--target": "target",
        },
    )
    if opts.operands != ["."]:
        raise LineRefused(
            "The lab builds the sample app's folder: end the line with a single '.'.",
            UNSUPPORTED,
        )
    tags = opts.all("tag")
    if len(tags) > 1:
        raise LineRefused("The lab gives a build one name: keep one -t.", UNSUPPORTED)
    notes = []
    tag = tags[0] if tags else DEFAULT_TAG
    if not tags:
        notes.append(f"Without -t the lab names the image {DEFAULT_TAG}.")
    args: dict[str, Any] = {"tag": _image(tag)}
    file = opts.last("file")
    if file is not None and file != "Dockerfile":
        samples = ctx.samples()
        if not _SAMPLE_FILE.match(file) or file not in samples:
            known = ", ".join(sorted(samples)) or "none"
            raise LineRefused(
                f"-f {file[:40]} is not one of the sample app's Dockerfiles ({known}).",
                INVALID,
            )
        args["dockerfile"] = samples[file]
    if opts.has("no_cache"):
        args["no_cache"] = True
    target = opts.last("target")
    if target is not None:
        if not re.match(r"^[A-Za-z][A-Za-z0-9_.-]{0,62}\Z", target):
            raise LineRefused(f"--target {target[:40]!r} is not a stage name.", INVALID)
        args["target"] = target.lower()
    return Line(ctx.text, (Action("build", args),), tuple(notes))


def _one_image(action: str, command: str) -> Callable[[list[str], _Context], Line]:
    def parse(words: list[str], ctx: _Context) -> Line:
        opts = _parse_options(command, words, flags={}, valued={})
        (image,) = _operands(command, opts, 1, 1, "one image name")
        return Line(ctx.text, (Action(action, {"image": _image(image)}),))

    return parse


def _tag(words: list[str], ctx: _Context) -> Line:
    opts = _parse_options("docker tag", words, flags={}, valued={})
    source, target = _operands("docker tag", opts, 2, 2, "a source and a target image")
    args = {"source": _image(source), "target": _image(target)}
    return Line(ctx.text, (Action("tag", args),))


def _rmi(words: list[str], ctx: _Context) -> Line:
    opts = _parse_options("docker rmi", words, flags={}, valued={})
    images = _operands("docker rmi", opts, 1, None, "one or more image names")
    return Line(ctx.text, tuple(Action("rmi", {"image": _image(i)}) for i in images))


def _per_container(action: str, command: str, flags: dict, valued: dict):
    def parse(words: list[str], ctx: _Context) -> Line:
        opts = _parse_options(command, words, flags=flags, valued=valued)
        names = _operands(command, opts, 1, None, "one or more container names")
        return Line(ctx.text, tuple(Action(action, {"container": _container(n)}) for n in names))

    return parse


_LOG_FLAGS = {"-f": "follow", "--follow": "follow"}
_LOG_VALUED = {"--tail": "tail", "-n": "tail", "--since": "since"}


def _log_args(opts: _Options, container: str) -> dict[str, Any]:
    args: dict[str, Any] = {"container": container}
    tail = opts.last("tail")
    if tail is not None:
        args["tail"] = _tail(tail)
    since = opts.last("since")
    if since is not None:
        args["since"] = _since(since)
    return args


def _logs(words: list[str], ctx: _Context) -> Line:
    opts = _parse_options("docker logs", words, flags=_LOG_FLAGS, valued=_LOG_VALUED)
    (name,) = _operands("docker logs", opts, 1, 1, "one container name")
    args = _log_args(opts, _container(name))
    return Line(ctx.text, (Action("logs", args, follow=opts.has("follow")),))


_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?\Z")


def _since(value: str) -> int:
    """`--since 10m` as seconds ago (the lab takes durations, not dates)."""
    match = _DURATION.match(value)
    if value.isdigit() or not match or not any(match.groups()):
        raise LineRefused(
            f"--since {value[:40]}: the lab takes a duration like 30s, 10m or 1h30m.", INVALID
        )
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if not 1 <= total <= MAX_SINCE:
        raise LineRefused("--since takes a duration from 1s to 168h.", INVALID)
    return total


def _tail(value: str) -> int:
    if value == "all":
        return 10_000
    if not value.isdigit() or int(value) > 10_000:
        raise LineRefused("--tail takes a number of lines from 0 to 10000.", INVALID)
    return int(value)


# `--filter KEY=VALUE` keys a listing line may carry; the lab's tables show
# the whole sandbox, so a filter only needs to be well-formed.
_FILTER_KEYS = {"docker ps": "name", "docker container ls": "name"}
_FILTER_VALUE = re.compile(r"[A-Za-z0-9*][A-Za-z0-9_.:*/-]{0,127}")


def _filter(command: str, value: str) -> None:
    key, eq, wanted = value.partition("=")
    allowed = _FILTER_KEYS.get(command, "reference")
    if not eq or key != allowed:
        raise LineRefused(
            f"`{command}` --filter takes {allowed}=... in the lab.", UNSUPPORTED
        )
    if not _FILTER_VALUE.fullmatch(wanted):
        raise LineRefused(
            f"`{command}` --filter {allowed}= takes a name or a pattern with *.", INVALID
        )


def _state(command: str, *, max_operands: int, note: str = ""):
    listing = "containers" if command in _FILTER_KEYS else "images"
    filtered = f"The lab's table lists all your {listing}; look there for the ones the filter names."

    def parse(words: list[str], ctx: _Context) -> Line:
        opts = _parse_options(
            command,
            words,
            flags={"-a": "all", "--all": "all"},
            valued={"-f": "filter", "--filter": "filter"},
        )
        _operands(command, opts, 0, max_operands, f"at most {max_operands} name")
        filters = [value for name, value in opts.values if name == "filter"]
        for value in filters:
            _filter(command, value)
        notes = (note,) if note and opts.operands else ()
        if filters and not notes:
            notes = (filtered,)
        return Line(ctx.text, (Action("state"),), notes)

    return parse


def _inspect(kind: str | None):
    command = "docker inspect" if kind is None else f"docker {kind} inspect"

    def parse(words: list[str], ctx: _Context) -> Line:
        opts = _parse_options(
            command, words, flags={}, valued={"-f": "format", "--format": "format"}
        )
        names = _operands(command, opts, 1, None, "one or more names")
        actions = []
        for name in names:
            which = kind or ("image" if ":" in name or "/" in name else "container")
            checked = _image(name) if which == "image" else _container(name)
            actions.append(Action("inspect", {"kind": which, "name": checked}))
        notes = (
            ("The lab shows the whole inspect output; --format is not applied.",)
            if (opts.has("format"))
            else ()
        )
        return Line(ctx.text, tuple(actions), notes)

    return parse


def _prune(words: list[str], ctx: _Context) -> Line:
    opts = _parse_options(
        "docker system prune", words, flags={"-f": "force", "--force": "force"}, valued={}
    )
    _operands("docker system prune", opts, 0, 0, "no names")
    return Line(ctx.text, (Action("prune"),))


def _volume_rm(words: list[str], ctx: _Context) -> Line:
    opts = _parse_options("docker volume rm", words, flags={}, valued={})
    names = _operands("docker volume rm", opts, 1, None, "one or more volume names")
    for name in names:
        if not naming.NAME_RE.match(name):
            raise LineRefused(f"{name[:40]!r} is not a volume name.", INVALID)
    return Line(ctx.text, tuple(Action("volume_rm", {"volume": n}) for n in names))


_COMPOSE_COMMANDS = "up, ps, down, logs, restart and exec"


def _service(name: str) -> str:
    if not naming.NAME_RE.match(name):
        raise LineRefused(f"{name[:40]!r} is not a service name.", INVALID)
    return name


def _compose(words: list[str], ctx: _Context) -> Line:
    if not words or words[0].startswith("-"):
        raise LineRefused(
            f"The lab runs `docker compose` {_COMPOSE_COMMANDS} on the sample's "
            "compose.yaml, without options before the command.",
            UNSUPPORTED,
        )
    command, rest = words[0], words[1:]
    spec = {
        "up": {"-d": "detach", "--detach": "detach", "--build": "build"},
        "ps": {"-a": "all", "--all": "all"},
        "down": {"-v": "volumes", "--volumes": "volumes"},
        "logs": _LOG_FLAGS,
        "restart": {},
        "exec": {"-T": "no_tty"},
    }
    if command not in spec:
        raise LineRefused(
            f"`docker compose {command[:20]}` is not in the lab (it runs {_COMPOSE_COMMANDS}).",
            UNSUPPORTED,
        )
    valued = {"logs": _LOG_VALUED, "restart": {"-t": "time", "--timeout": "time"}}
    opts = _parse_options(
        f"docker compose {command}",
        rest,
        flags=spec[command],
        valued=valued.get(command, {}),
        interspersed=command != "exec",
    )
    if command == "logs":
        (service,) = _operands("docker compose logs", opts, 1, 1, "one service name")
        args = _log_args(opts, ctx.compose_container(_service(service)))
        return Line(ctx.text, (Action("logs", args, follow=opts.has("follow")),))
    if command == "restart":
        services = [_service(s) for s in opts.operands] or ctx.compose_services()
        actions = tuple(
            Action("restart", {"container": ctx.compose_container(s)}) for s in services
        )
        return Line(ctx.text, actions)
    if command == "exec":
        if len(opts.operands) < 2:
            raise LineRefused("`docker compose exec` takes a service and a command.", INVALID)
        service, *argv = opts.operands
        args = {"container": ctx.compose_container(_service(service)), "command": join_words(argv)}
        return Line(ctx.text, (Action("exec", args),))
    _operands(f"docker compose {command}", opts, 0, 0, "no service names in the lab")
    args: dict[str, Any] = {"command": command}
    notes: tuple[str, ...] = ()
    if command == "down":
        args["volumes"] = opts.has("volumes")
    if command == "up" and not opts.has("detach"):
        notes = ("The lab starts the project in the background, as with -d.",)
    return Line(ctx.text, (Action("compose", args),), notes)


def _network(words: list[str], ctx: _Context) -> Line:
    if not words:
        raise LineRefused(
            f"Say what to do: docker network {' / '.join(NETWORK_COMMANDS)}.", INVALID
        )
    command, rest = words[0], words[1:]
    if command in ("list",):
        command = "ls"
    if command == "remove":
        command = "rm"
    if command == "prune":
        raise LineRefused(
            "`docker network prune` is not in the lab: remove your networks by name "
            "with docker network rm NAME.",
            UNSUPPORTED,
        )
    if command not in NETWORK_COMMANDS:
        raise LineRefused(
            f"`docker network {command[:20]}` is not in the lab (it runs "
            f"{', '.join(NETWORK_COMMANDS)}).",
            UNSUPPORTED,
        )
    where = f"docker network {command}"
    if command == "create":
        opts = _parse_options(where, rest, flags={}, valued={"-d": "driver", "--driver": "driver"})
        driver = opts.last("driver")
        if driver not in (None, "bridge"):
            raise LineRefused(
                f"--driver {driver[:20]}: the lab makes bridge networks only (overlay "
                "networks need swarm mode, on your own machine).",
                UNSUPPORTED,
            )
        (name,) = _operands(where, opts, 1, 1, "one network name")
        if name in ("bridge", "host", "none", "default"):
            raise LineRefused(f"{name} is one of docker's own networks; it always exists.", INVALID)
        args = {"command": "create", "name": _network_name(name)}
        return Line(ctx.text, (Action("network", args),))
    if command == "ls":
        opts = _parse_options(where, rest, flags={"-q": "quiet", "--quiet": "quiet"}, valued={})
        _operands(where, opts, 0, 0, "no names")
        return Line(ctx.text, (Action("network", {"command": "ls"}),))
    if command == "inspect":
        opts = _parse_options(where, rest, flags={}, valued={"-f": "format", "--format": "format"})
        names = _operands(where, opts, 1, None, "one or more network names")
        notes = (
            ("The lab shows the whole inspect output; --format is not applied.",)
            if opts.has("format")
            else ()
        )
        actions = tuple(
            Action("network", {"command": "inspect", "name": _inspected_network(n)})
            for n in names
        )
        return Line(ctx.text, actions, notes)
    if command == "rm":
        opts = _parse_options(where, rest, flags={}, valued={})
        names = _operands(where, opts, 1, None, "one or more network names")
        actions = tuple(
            Action("network", {"command": "rm", "name": _network_name(n)}) for n in names
        )
        return Line(ctx.text, actions)
    flags = {"-f": "force", "--force": "force"} if command == "disconnect" else {}
    opts = _parse_options(where, rest, flags=flags, valued={})
    network, container = _operands(where, opts, 2, 2, "a network and a container")
    if network in ("host", "none"):
        raise LineRefused(
            f"A running container cannot join {network}: start it with --network {network}.",
            INVALID,
        )
    args = {"command": command, "name": _network_name(network), "container": _container(container)}
    return Line(ctx.text, (Action("network", args),))


def _inspected_network(name: str) -> str:
    if name == "host":
        raise LineRefused(_HOST_NETWORK)
    if name == "none":
        raise LineRefused(
            "none is docker's mode without a network; the lab has nothing to inspect there "
            "(this runs on your own machine).",
        )
    return _network_name(name)


_EXEC_INTERACTIVE = (
    "docker exec with -i or -t opens an interactive terminal in the container: that runs "
    "on your own machine. In the lab, run one command that ends, like docker exec web ls."
)


def _exec(words: list[str], ctx: _Context) -> Line:
    interactive = {"-i", "-t", "-it", "-ti", "--interactive", "--tty"}
    for word in words:
        if not word.startswith("-"):
            break
        if word in interactive:
            raise LineRefused(_EXEC_INTERACTIVE)
    opts = _parse_options("docker exec", words, flags={}, valued={}, interspersed=False)
    if len(opts.operands) < 2:
        raise LineRefused("`docker exec` takes a container and a command.", INVALID)
    container, *argv = opts.operands
    args = {"container": _container(container), "command": join_words(argv)}
    return Line(ctx.text, (Action("exec", args),))


def _history(words: list[str], ctx: _Context) -> Line:
    opts = _parse_options(
        "docker history",
        words,
        flags={"--no-trunc": "no_trunc", "-H": "human", "-q": "quiet", "--quiet": "quiet"},
        valued={},
    )
    (image,) = _operands("docker history", opts, 1, 1, "one image name")
    return Line(ctx.text, (Action("history", {"image": _image(image)}),))


def _volume_prune(words: list[str], ctx: _Context) -> Line:
    opts = _parse_options(
        "docker volume prune",
        words,
        flags={"-a": "all", "--all": "all", "-f": "force", "--force": "force"},
        valued={},
    )
    _operands("docker volume prune", opts, 0, 0, "no names")
    return Line(ctx.text, (Action("volume_prune", {"all": opts.has("all")}),))

_SWARM = (
    "In the lab the classroom swarm is running already (a manager and two workers, each "
    "a Docker engine of its own): `docker swarm init`, `join` and `leave` run on your own "
    "machines. Try docker node ls."
)


def _swarm(parser: str) -> Callable[[list[str], Any], Line]:
    """A swarm subcommand's parser (orchestration/commands.py), imported when first used."""

    def parse(words: list[str], ctx: Any) -> Line:
        from orchestration import commands as swarm_commands  # deferred: it imports this module

        return getattr(swarm_commands, parser)(words, ctx.text)

    return parse

_SUBCOMMANDS: dict[tuple[str, ...], Callable[[list[str], Any], Line] | str] = {
    ("run",): _run,
    ("container", "run"): _run,
    ("build",): _build,
    ("image", "build"): _build,
    ("tag",): _tag,
    ("image", "tag"): _tag,
    ("push",): _one_image("push", "docker push"),
    ("image", "push"): _one_image("push", "docker push"),
    ("pull",): _one_image("pull", "docker pull"),
    ("image", "pull"): _one_image("pull", "docker pull"),
    ("rmi",): _rmi,
    ("image", "rm"): _rmi,
    ("image", "remove"): _rmi,
    ("rm",): _per_container(
        "remove",
        "docker rm",
        {"-f": "force", "--force": "force", "-v": "volumes", "--volumes": "volumes"},
        {},
    ),
    ("container", "rm"): _per_container(
        "remove",
        "docker rm",
        {"-f": "force", "--force": "force", "-v": "volumes", "--volumes": "volumes"},
        {},
    ),
    ("stop",): _per_container("stop", "docker stop", {}, {"-t": "time", "--time": "time"}),
    ("container", "stop"): _per_container(
        "stop", "docker stop", {}, {"-t": "time", "--time": "time"}
    ),
    ("logs",): _logs,
    ("container", "logs"): _logs,
    ("images",): _state(
        "docker images", max_operands=1, note="The lab's table lists all your images."
    ),
    ("image", "ls"): _state(
        "docker image ls", max_operands=1, note="The lab's table lists all your images."
    ),
    ("image", "list"): _state(
        "docker image ls", max_operands=1, note="The lab's table lists all your images."
    ),
    ("ps",): _state("docker ps", max_operands=0),
    ("container", "ls"): _state("docker container ls", max_operands=0),
    ("container", "list"): _state("docker container ls", max_operands=0),
    ("inspect",): _inspect(None),
    ("container", "inspect"): _inspect("container"),
    ("image", "inspect"): _inspect("image"),
    ("system", "prune"): _prune,
    ("volume", "rm"): _volume_rm,
    ("volume", "remove"): _volume_rm,
    ("compose",): _compose,
    ("network",): _network,
    ("exec",): _exec,
    ("container", "exec"): _exec,
    ("history",): _history,
    ("image", "history"): _history,
    ("restart",): _per_container(
        "restart", "docker restart", {}, {"-t": "time", "--time": "time"}
    ),
    ("container", "restart"): _per_container(
        "restart", "docker restart", {}, {"-t": "time", "--time": "time"}
    ),
    ("start",): _per_container("start", "docker start", {}, {}),
    ("container", "start"): _per_container("start", "docker start", {}, {}),
    ("volume", "prune"): _volume_prune,
    ("volume", "ls"): _state("docker volume ls", max_operands=0),
    ("volume", "list"): _state("docker volume ls", max_operands=0),
    ("swarm",): _SWARM,
    ("service",): _swarm("service_line"),
    ("stack",): _swarm("stack_line"),
    ("node",): _swarm("node_line"),
    ("kill",): _swarm("kill_line"),
    ("container", "kill"): _swarm("kill_line"),
    ("login",): "Your registry in the lab needs no login: `docker login` runs on your own machine.",
    (
        "logout",
    ): "Your registry in the lab needs no login: `docker logout` runs on your own machine.",
}

_ELSEWHERE = {
    "curl": "`curl` runs on your own machine, not in the lab; in the lab, Open app shows the app's page.",
    "time": "`time` measures a command on your own machine; in the lab the output says how long it took.",
}


@dataclass
class _Context:
    text: str
    sample_files: Mapping[str, str] | None

    def samples(self) -> Mapping[str, str]:
        if self.sample_files is None:
            self.sample_files = sample_dockerfiles()
        return self.sample_files

    @staticmethod
    def compose_container(service: str) -> str:
        # Deferred: the compose module reads settings and the models.
        from sandboxes.services.compose import PROJECT

        return f"{PROJECT}-{service}-1"

    @staticmethod
    def compose_services() -> list[str]:
        """The services of the sample's compose.yaml (`docker compose restart` restarts all)."""
        from sandboxes.errors import SandboxError
        from sandboxes.services.compose import sample_project

        try:
            return list(sample_project().services)
        except SandboxError as exc:
            raise LineRefused(exc.message, INVALID) from None


def sample_dockerfiles() -> dict[str, str]:
    """The sample app's Dockerfiles by file name (what `-f` may name)."""
    from sandboxes.services.builds import sample_dir  # deferred: reads settings

    directory = sample_dir()
    if not directory.is_dir():
        return {}
    return {
        path.name: path.read_text(encoding="utf-8")
        for path in sorted(directory.iterdir())
        if _SAMPLE_FILE.match(path.name) and path.is_file()
    }


def parse_line(line: str, samples: Mapping[str, str] | None = None) -> Line:
    """The actions one command line stands for; LineRefused says why there are none.

    `line` may start with the `$ ` prompt. `samples` maps the sample app's
    Dockerfile names to their text (default: read from the sample folder).
    """
    words = _words(line)
    text = join_words(words)
    if words[0] == "time" and len(words) > 1 and words[1] == "docker":
        words = words[1:]  # the page accepts `time docker run ...` as a plain run
    if words[0] != "docker":
        program = words[0][:30]
        reason = _ELSEWHERE.get(program) or (
            f"`{program}` runs on your own machine, not in the lab: the lab runs docker commands."
        )
        raise LineRefused(reason)
    rest = words[1:]
    if not rest:
        raise LineRefused("Say which docker command to run, like docker ps.", INVALID)
    for size in (2, 1):
        handler = _SUBCOMMANDS.get(tuple(rest[:size]))
        if handler is None:
            continue
        if isinstance(handler, str):
            raise LineRefused(handler)
        return handler(rest[size:], _Context(text, samples))
    raise LineRefused(
        f"`docker {rest[0][:30]}` runs on your own machine, not in the lab "
        "(the lab runs build, run, exec, ps, images, history, logs, start, stop, restart, "
        "rm, rmi, inspect, tag, push, pull, network, system prune, volume rm/prune, "
        f"compose {_COMPOSE_COMMANDS}, service, stack, node and kill)."
    )


def prompt_lines(markdown: str) -> Iterator[str]:
    """The `$ ` command lines of a text's fenced code blocks, continuations joined.

    Like the page's Try buttons: a line ending in a backslash continues on
    the next one.
    """
    in_fence = False
    pending = ""
    for raw in markdown.splitlines():
        if _FENCE.match(raw):
            in_fence = not in_fence
            pending = ""
            continue
        if not in_fence:
            continue
        if pending:
            raw = pending + " " + raw.strip()
            pending = ""
        if raw.rstrip().endswith("\\"):
            pending = raw.rstrip()[:-1].rstrip()
            continue
        if _PROMPT.match(raw):
            yield _PROMPT.sub("", raw, count=1).strip()


def lab_lines(markdown: str, samples: Mapping[str, str] | None = None) -> list[Line]:
    """The command lines of `markdown` the lab can run, parsed, in order."""
    found = []
    for text in prompt_lines(markdown):
        try:
            found.append(parse_line(text, samples))
        except LineRefused:
            continue
    return found


# --- back to a command line ---------------------------------------------------------


def render(action: str, args: Mapping[str, Any], samples: Mapping[str, str] | None = None) -> str:
    """The docker command a learner would type for one websocket action.

    For history and display: `parse_line(render(a, args))` gives the action
    back for every action a lesson line can produce (an edited Dockerfile or
    compose file is rendered with a note instead).
    """
    q = shlex.quote
    if action == "run":
        parts = ["docker", "run"]
        command = args.get("command")
        port = args.get("port")
        foreground = command is not None and port is None
        if not foreground:
            parts.append("-d")
        if args.get("name"):
            parts += ["--name", q(str(args["name"]))]
        for key, value in (args.get("env") or {}).items():
            parts += ["-e", q(f"{key}={value}")]
        if port is not None and args.get("publish") is not False:
            parts += ["-p", f"127.0.0.1:{port}:{port}"]
        if args.get("network"):
            parts += ["--network", q(str(args["network"]))]
        parts.append(q(str(args.get("image", ""))))
        if command:
            try:
                parts.append(join_words(shlex.split(str(command))))
            except ValueError:
                parts.append(q(str(command)))
        return " ".join(parts)
    if action == "build":
        parts = ["docker", "build"]
        note = ""
        dockerfile = args.get("dockerfile")
        if dockerfile is not None:
            try:
                known = samples if samples is not None else sample_dockerfiles()
            except OSError:
                known = {}
            name = next((n for n, text in known.items() if text == dockerfile), None)
            if name is None:
                note = "  # with your own Dockerfile"
            elif name != "Dockerfile":
                parts += ["-f", name]
        parts += ["-t", q(str(args.get("tag", DEFAULT_TAG)))]
        if args.get("no_cache"):
            parts.append("--no-cache")
        if args.get("target"):
            parts += ["--target", q(str(args["target"]))]
        if args.get("app") is not None:
            note = (note + " and app.py") if note else "  # with your edited app.py"
        return " ".join(parts) + " ." + note
    if action == "compose":
        command = args.get("command")
        if command == "up":
            note = "  # with your edited compose.yaml" if args.get("file") else ""
            return "docker compose up -d --build" + note
        if command == "down":
            return "docker compose down" + (" -v" if args.get("volumes") else "")
        return f"docker compose {command}"
    simple = {
        "state": lambda: "docker ps -a",
        "logs": lambda: (
            "docker logs "
            + (f"--tail {int(args['tail'])} " if "tail" in args else "")
            + (f"--since {int(args['since'])}s " if "since" in args else "")
            + q(str(args.get("container", "")))
        ),
        "network": lambda: _render_network(args),
        "exec": lambda: (
            f"docker exec {q(str(args.get('container', '')))} {args.get('command', '')}"
        ),
        "history": lambda: f"docker history {q(str(args.get('image', '')))}",
        "restart": lambda: f"docker restart {q(str(args.get('container', '')))}",
        "start": lambda: f"docker start {q(str(args.get('container', '')))}",
        "volume_prune": lambda: "docker volume prune -f" + (" -a" if args.get("all") else ""),
        "stop": lambda: f"docker stop {q(str(args.get('container', '')))}",
        "remove": lambda: f"docker rm -f {q(str(args.get('container', '')))}",
        "rmi": lambda: f"docker rmi {q(str(args.get('image', '')))}",
        "inspect": lambda: (
            f"docker {'image ' if args.get('kind') == 'image' else ''}inspect "
            f"{q(str(args.get('name', '')))}"
        ),
        "prune": lambda: "docker system prune -f",
        "volume_rm": lambda: f"docker volume rm {q(str(args.get('volume', '')))}",
        "tag": lambda: (
            f"docker tag {q(str(args.get('source', '')))} {q(str(args.get('target', '')))}"
        ),
        "push": lambda: f"docker push {q(str(args.get('image', '')))}",
        "pull": lambda: f"docker pull {q(str(args.get('image', '')))}",
        "timing": lambda: f"(timed {int(args.get('runs', 5))} container starts)",
    }
    if action in simple:
        return simple[action]()
    from orchestration import commands as swarm_commands  # deferred: it imports this module

    swarm = swarm_commands.render(action, args)
    if swarm is not None:
        return swarm
    return f"({action})"


def _render_network(args: Mapping[str, Any]) -> str:
    q = shlex.quote
    command = str(args.get("command", ""))
    parts = ["docker", "network", command]
    if args.get("name"):
        parts.append(q(str(args["name"])))
    if args.get("container"):
        parts.append(q(str(args["container"])))
    return " ".join(parts)
