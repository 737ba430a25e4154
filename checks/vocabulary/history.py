"""Checks on what the learner did in the lab, as the server recorded it.

For work that leaves nothing on the engine (a `--rm` one-off command, a
look with `docker inspect` or `docker logs`) the evidence is the lab
history: actions the websocket layer performed and recorded with their
outcome (lessons.history.record_action). Nothing a page says counts.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from checks.base import HISTORY, define, failed, passed
from checks.context import Context, HistoryEntry
from checks.schema import Choice, Image, Integer, Text
from checks.vocabulary.helpers import same_image, short
from sandboxes.commands import LAB_ACTIONS


@dataclass(frozen=True)
class CommandText(Text):
    """A command as typed after the image: words split like a shell would split them."""

    max_chars: int = 300

    def wanted(self) -> str:
        return f"a command of at most {self.max_chars} characters, quotes closed"

    def clean(self, value: Any) -> str:
        text = super().clean(value)
        try:
            words = shlex.split(text)
        except ValueError:
            raise self.fail(value) from None
        if not words:
            raise self.fail(value)
        return text


def _words(text: Any) -> list[str] | None:
    try:
        return shlex.split(text) if isinstance(text, str) else None
    except ValueError:
        return None


def _describe_ran(p: dict[str, Any]) -> str:
    where = f" in a container from {short(p['image'])}" if "image" in p else " in a container"
    return f"you ran `{p['command']}`{where} and it exited with code {p['exit_code']}"


@define(
    "command_ran",
    summary="The learner ran a command in a container (docker run IMAGE COMMAND) and it "
    "exited with a given code.",
    params={
        "command": CommandText(required=True, doc="the command, as typed after the image"),
        "image": Image(doc="the image it must have run in"),
        "exit_code": Integer(minimum=0, maximum=255, default=0, doc="the exit code wanted"),
    },
    describe=_describe_ran,
    needs=frozenset({HISTORY}),
)
def command_ran(ctx: Context, p: dict[str, Any]):
    wanted = shlex.split(p["command"])
    for entry in ctx.history:
        if entry.action != "run" or _words(entry.args.get("command")) != wanted:
            continue
        if "image" in p and not same_image(entry.args.get("image"), p["image"]):
            continue
        if entry.exit_code is None:
            if not entry.ok:
                return failed(f"Your last run of `{p['command']}` did not start: {entry.message}")
            return failed(
                f"Your last run of `{p['command']}` has not finished yet.",
                "Wait for it to exit, then check again.",
            )
        if entry.exit_code != p["exit_code"]:
            return failed(
                f"`{p['command']}` exited with code {entry.exit_code}, not {p['exit_code']}.",
                "Read its output: it says what went wrong.",
            )
        return passed(f"You ran `{p['command']}`; it exited with code {entry.exit_code}.")
    image = short(p["image"]) if "image" in p else "IMAGE"
    return failed(
        f"You have not run `{p['command']}` in a container"
        + (f" from {image}" if "image" in p else "")
        + " in the lab yet.",
        f"docker run --rm {image} {p['command']}",
    )


_TARGET_KEYS = ("container", "image", "name", "source", "target", "volume", "tag", "command")
_VERBS = {
    "build": "docker build",
    "run": "docker run",
    "logs": "docker logs",
    "stop": "docker stop",
    "remove": "docker rm",
    "rmi": "docker rmi",
    "inspect": "docker inspect",
    "prune": "docker system prune",
    "volume_rm": "docker volume rm",
    "tag": "docker tag",
    "push": "docker push",
    "pull": "docker pull",
    "compose": "docker compose",
    "history": "docker history",
    "timing": "the container start timing",
}


def _targets(entry: HistoryEntry) -> set[str]:
    return {str(entry.args[key]) for key in _TARGET_KEYS if isinstance(entry.args.get(key), str)}


@define(
    "action_done",
    summary="The learner did a lab action (optionally on a named container or image) and it "
    "succeeded: for looks that change nothing, like docker inspect or docker logs.",
    params={
        "action": Choice(
            required=True,
            choices=tuple(a for a in LAB_ACTIONS if a != "state"),
            doc="the lab action",
        ),
        "target": Text(max_chars=200, doc="the container, image or compose command it was done on"),
    },
    describe=lambda p: (
        f"you ran {_VERBS[p['action']]}"
        + (f" {p['target']}" if "target" in p else "")
        + " in the lab"
    ),
    needs=frozenset({HISTORY}),
)
def action_done(ctx: Context, p: dict[str, Any]):
    verb = _VERBS[p["action"]] + (f" {p['target']}" if "target" in p else "")
    for entry in ctx.history:
        if entry.action != p["action"] or ("target" in p and p["target"] not in _targets(entry)):
            continue
        if entry.ok:
            return passed(f"You ran {verb}.")
        return failed(f"Your last {verb} did not work: {entry.message}")
    return failed(f"You have not run {verb} in the lab yet.", f"Run it: {verb}")
