"""Checks on the sandbox's containers: running as asked, stopped, removed, logs."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from checks.base import ENGINE, HISTORY, define, failed, passed
from checks.context import Context
from checks.schema import Boolean, ContainerName, Env, Image, Integer, Port, Text
from checks.vocabulary.helpers import about_container, latest, quoted, short
from engine import client
from sandboxes import naming
from sandboxes.errors import InvalidName
from sandboxes.services.common import engine_call


def _missing(name: str, how: str = "") -> Any:
    return failed(
        f"There is no container called {name} in your sandbox.",
        how or f"Start it with docker run and --name {name}.",
    )


def _of_container(key: str = "name", how: Callable[[str], str] | None = None):
    """A check of the container named `p[key]`: `judge(ctx, p, name, found)` once it is found.

    A container the learner does not have fails the same way for every check
    (with `how(name)` as the hint where given).
    """

    def wrap(judge: Callable[..., Any]) -> Callable[[Context, dict[str, Any]], Any]:
        @functools.wraps(judge)
        def evaluate(ctx: Context, p: dict[str, Any]):
            name = p[key]
            found = ctx.container(name)
            if found is None:
                return _missing(name, how(name) if how else "")
            return judge(ctx, p, name, found)

        return evaluate

    return wrap


def _describe_running(p: dict[str, Any]) -> str:
    parts = [f"a container named {p['name']} is running"]
    if "image" in p:
        parts.append(f"from {short(p['image'])}")
    if "port" in p:
        parts.append(f"publishing port {p['port']}")
    if "env" in p:
        parts.append("with " + ", ".join(f"{k}={v}" for k, v in p["env"].items()))
    if p.get("on_network"):
        parts.append("on your sandbox's network under its name")
    return " ".join(parts)


@define(
    "container_running",
    summary="A container with this name runs, optionally from an image, publishing a port, "
    "with environment variables, on the sandbox's network.",
    params={
        "name": ContainerName(required=True, doc="the container's name"),
        "image": Image(doc="the image it must run from (the learner's own or a lesson image)"),
        "port": Port(doc="a container port it must publish"),
        "env": Env(doc="environment variables it must have, NAME: value"),
        "on_network": Boolean(
            doc="it must be on one of the sandbox's networks under its own name"
        ),
    },
    describe=_describe_running,
)
@_of_container()
def container_running(ctx: Context, p: dict[str, Any], name: str, found: dict):
    if found.get("State") != "running":
        return failed(
            f"{name} exists but is not running ({found.get('Status') or found.get('State')}).",
            f"See why in its logs (docker logs {name}), then remove it and start it again.",
        )
    shown = ctx.shown_image(found)
    if "image" in p:
        verdict = _same_image(ctx, found, name, p["image"], shown)
        if verdict is not None:
            return verdict
    if "port" in p:
        port = p["port"]
        if not any(
            e.get("PrivatePort") == port and e.get("PublicPort") for e in found.get("Ports") or []
        ):
            return failed(
                f"{name} publishes no port {port}.",
                f"Remove it and start it again with -p 127.0.0.1:{port}:{port}.",
            )
    if "env" in p or p.get("on_network"):
        with engine_call(ctx.sandbox):
            info = client.api().inspect_container(found["Id"])
        if "env" in p:
            verdict = _env_matches(name, info, p["env"])
            if verdict is not None:
                return verdict
        if p.get("on_network"):
            # Its default network or one the learner made (docker network create):
            # the sandbox's networks all carry its `dl-<sid>-` prefix.
            networks = (info.get("NetworkSettings") or {}).get("Networks") or {}
            prefix = naming.container_prefix(ctx.sandbox.sid)
            aliases = [
                alias
                for network, endpoint in networks.items()
                if network.startswith(prefix)
                for alias in (endpoint or {}).get("Aliases") or []
            ]
            if name not in aliases:
                return failed(
                    f"{name} is not on your sandbox's network under its name, so other "
                    "containers cannot find it by name.",
                    f"Remove it and start it again with --name {name}.",
                )
    return passed(f"{name} is running from {short(shown)}.")


def _same_image(ctx: Context, found: dict, name: str, ref: str, shown: str):
    wanted = ctx.image_id(ref)
    if wanted is None:
        return failed(
            f"{name} is running, but there is no image {short(ref)} in your sandbox to compare it with.",
            f"Build it first: docker build -t {short(ref)} .",
        )
    if found.get("ImageID") == wanted:
        return None
    # The name it was started from: the list shows an id once that name moved on.
    with engine_call(ctx.sandbox):
        config = client.api().inspect_container(found["Id"]).get("Config") or {}
    shown = naming.strip(ctx.sandbox.sid, config.get("Image") or shown)
    try:
        same_name = naming.image_ref(shown) == naming.image_ref(ref)
    except InvalidName:  # an image id rather than a name
        same_name = False
    if same_name:
        return failed(
            f"{name} runs an older build of {short(ref)}: the image has been built again since "
            f"{name} started.",
            f"Remove it (docker rm -f {name}) and start it again to use the new build.",
        )
    mine = ctx.image(ref) is not None
    return failed(
        f"{name} runs {short(shown)}, not {'your ' + short(ref) + ' image' if mine else short(ref)}.",
        f"Remove it (docker rm -f {name}) and start it again from {short(ref)}.",
    )


def _env_matches(name: str, info: dict, wanted: dict[str, str]):
    have = {}
    for item in (info.get("Config") or {}).get("Env") or []:
        key, _, value = item.partition("=")
        have[key] = value
    for key, value in wanted.items():
        if key not in have:
            return failed(
                f"{name} has no environment variable {key}.",
                f"Remove it and start it again with -e {key}={value}.",
            )
        if have[key] != value:
            return failed(
                f"{name} has {key}={quoted(have[key], 40)}, not {key}={value}.",
                f"Remove it and start it again with -e {key}={value}.",
            )
    return None


@define(
    "container_stopped",
    summary="A container with this name exists and has stopped (optionally with an exit code).",
    params={
        "name": ContainerName(required=True, doc="the container's name"),
        "exit_code": Integer(minimum=0, maximum=255, doc="the exit code it must have stopped with"),
    },
    describe=lambda p: (
        f"the container {p['name']} exists and has stopped"
        + (f" with exit code {p['exit_code']}" if "exit_code" in p else "")
    ),
)
@_of_container(how=lambda name: f"Start it first (docker run --name {name} ...), then stop it.")
def container_stopped(ctx: Context, p: dict[str, Any], name: str, found: dict):
    state = found.get("State")
    if state == "running":
        return failed(f"{name} is still running.", f"Stop it: docker stop {name}")
    if state != "exited":
        return failed(f"{name} has not stopped: it is {state}.", f"Stop it: docker stop {name}")
    if "exit_code" in p:
        with engine_call(ctx.sandbox):
            code = (client.api().inspect_container(found["Id"]).get("State") or {}).get("ExitCode")
        if code != p["exit_code"]:
            return failed(f"{name} stopped with exit code {code}, not {p['exit_code']}.")
    return passed(f"{name} has stopped ({found.get('Status')}).")


@define(
    "container_removed",
    summary="A container the learner had is gone, removed in the lab (docker rm, compose down, prune).",
    params={"name": ContainerName(required=True, doc="the container's name")},
    describe=lambda p: f"you removed the container {p['name']}",
    needs=frozenset({ENGINE, HISTORY}),
)
def container_removed(ctx: Context, p: dict[str, Any]):
    name = p["name"]
    found = ctx.container(name)
    if found is not None:
        return failed(
            f"{name} is still there ({found.get('Status') or found.get('State')}).",
            f"Remove it: docker rm -f {name}",
        )
    entry = latest(ctx.history, about_container(name))
    removed = (
        entry is not None
        and entry.ok
        and (
            entry.action in ("remove", "prune")
            or (entry.action == "compose" and entry.args.get("command") == "down")
        )
    )
    if not removed:
        return failed(
            f"You have not removed a container called {name} in the lab yet.",
            f"It must be there first; then remove it: docker rm -f {name}",
        )
    return passed(f"{name} is gone: you removed it.")


@define(
    "logs_contain",
    summary="A container's recent output contains a text.",
    params={
        "container": ContainerName(required=True, doc="the container's name"),
        "text": Text(required=True, max_chars=200, doc="the text its logs must contain"),
        "tail": Integer(minimum=1, maximum=10_000, default=1000, doc="how many last lines to read"),
    },
    describe=lambda p: f"the logs of {p['container']} contain {quoted(p['text'])}",
)
@_of_container("container")
def logs_contain(ctx: Context, p: dict[str, Any], name: str, found: dict):
    with engine_call(ctx.sandbox):
        raw = client.api().logs(found["Id"], stdout=True, stderr=True, tail=p["tail"])
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    if p["text"] in text:
        return passed(f"{name}'s logs contain {quoted(p['text'])}.")
    running = found.get("State") == "running"
    return failed(
        f"The last {p['tail']} lines of {name}'s logs do not contain {quoted(p['text'])}."
        + ("" if running else f" ({name} is not running.)"),
        f"Read them: docker logs {name}",
    )
