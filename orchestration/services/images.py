"""Getting a learner's image to the swarm: pushed by the site, pinned by digest.

The swarm's nodes pull from the swarm registry, never from the host engine.
For a service the site pushes the image itself (from the host engine, which
builds the learner's images) under a name in the sandbox's namespace,
`<registry>/dl-<sid>/flask-app:v1`, and writes the service spec with the
digest the push reported: `.../dl-<sid>/flask-app:v1@sha256:...`. Anything
that can push to the registry could move a tag; nothing can change what a
digest names, so the tasks run exactly the image the learner had.

What may be pushed: the sandbox's own images (found by the sandbox's labels,
as every other action finds them) and the configured lesson images, which
go once for everyone under `dockerlab-lesson/<role>:<id>`. Anything else is
"not found", like everywhere in the lab.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

from engine import client
from engine import images as lesson_images
from orchestration.errors import SwarmError
from orchestration.services import nodes
from sandboxes import naming
from sandboxes.errors import InvalidName, NotInSandbox, SandboxError
from sandboxes.models import Sandbox
from sandboxes.services.common import engine_call
from sandboxes.services.images import find_image, lesson_image

LESSON_REPOSITORY = "dockerlab-lesson"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}\Z")
_QUIET = {"Pushing", "Waiting", "Preparing"}


@dataclass(frozen=True)
class Pushed:
    """An image as a service runs it."""

    learner: str  # what the learner calls it: flask-app:v1
    pinned: str  # what the spec says: 10.213.0.2:5000/dl-<sid>/flask-app:v1@sha256:...
    image_id: str  # the host engine's id of what was pushed


def registry() -> nodes.Registry:
    """The swarm's registry; a learner-fit SandboxError when the swarm is not there."""
    try:
        return nodes.registry()
    except SwarmError as exc:
        raise SandboxError(unavailable(exc), code="swarm_unavailable") from None


def unavailable(exc: Exception) -> str:
    return (
        "The classroom swarm is not running right now, so the lab cannot reach it. "
        f"Tell your trainer ({exc})."
    )


def resolve(sandbox: Sandbox, ref: str) -> tuple[str, str, str]:
    """(host engine reference, repository:tag in the swarm registry, learner name).

    The sandbox's own image first; a lesson image by its configured or
    official name; anything else is not found.
    """
    try:
        found, tag = find_image(sandbox, ref)
    except (InvalidName, NotInSandbox) as exc:
        lesson = lesson_image(ref)
        if lesson is None:
            raise NotInSandbox(
                f"There is no image {str(ref)[:80]!r} in your sandbox: a service runs one of "
                "your own images (build it first) or a lesson image."
            ) from exc
        with engine_call(sandbox):
            image_id = client.api().inspect_image(lesson)["Id"]
        role = next(
            (r for r, name in lesson_images.configured().items() if name == lesson), "image"
        )
        return image_id, f"{LESSON_REPOSITORY}/{role}:{image_id[7:19]}", lesson
    if tag is None:
        raise InvalidName(
            f"Name the image by its name and tag (like flask-app:v1), not by its id {ref[:19]!r}."
        )
    return found["Id"], naming.engine_image(sandbox.sid, tag), tag


def push(sandbox: Sandbox, ref: str) -> Iterator[dict]:
    """Push image `ref` to the swarm registry; events, then {"kind": "pushed", "image": Pushed}.

    Events are {"kind": "line", "text"} for the learner's output. The host
    engine's extra name for the push is removed again whatever happens.
    """
    image_id, repository, learner = resolve(sandbox, ref)
    reg = registry()
    name, _, tag = reg.push_name(repository).rpartition(":")
    yield {"kind": "line", "text": f"Pushing {learner} to the swarm's registry\n"}
    api = client.api(timeout=600)
    with engine_call(sandbox):
        api.tag(image_id, name, tag, force=True)
    digest = None
    try:
        with engine_call(sandbox):
            for chunk in api.push(name, tag=tag, stream=True, decode=True):
                if "error" in chunk:
                    detail = (chunk.get("errorDetail") or {}).get("message") or chunk["error"]
                    raise SandboxError(
                        f"Pushing {learner} to the swarm's registry failed: "
                        f"{_shown(sandbox, reg, str(detail))}",
                        code="engine_error",
                    )
                digest = (chunk.get("aux") or {}).get("Digest") or digest
                line = _progress(chunk)
                if line:
                    yield {"kind": "line", "text": _shown(sandbox, reg, line) + "\n"}
    finally:
        with contextlib.suppress(SandboxError, client.EngineError), engine_call(sandbox):
            api.remove_image(f"{name}:{tag}", noprune=True)
    if not digest or not _DIGEST.match(digest):
        raise SandboxError(
            f"The swarm's registry did not say which digest it stored for {learner}.",
            code="engine_error",
        )
    pinned = f"{reg.pull_name(repository)}@{digest}"
    yield {"kind": "pushed", "image": Pushed(learner, pinned, image_id)}


def _progress(chunk: dict) -> str:
    status = str(chunk.get("status") or "")
    if not status or status in _QUIET:
        return ""
    layer = str(chunk.get("id") or "")
    return f"{layer}: {status}" if layer and not status.startswith(layer) else status


def _shown(sandbox: Sandbox, reg: nodes.Registry, text: str) -> str:
    """Push output without the registry's address or the sandbox prefix."""
    return naming.strip(sandbox.sid, text.replace(reg.push + "/", "").replace(reg.pull + "/", ""))


def pushed_now(sandbox: Sandbox, ref: str) -> tuple[Pushed, list[str]]:
    """Push and wait: the pinned image and the output lines."""
    lines: list[str] = []
    for event in push(sandbox, ref):
        if event["kind"] == "pushed":
            return event["image"], lines
        lines.append(event["text"])
    raise SandboxError("The push ended without a result.", code="engine_error")


def learner_image(sandbox: Sandbox, pinned: str) -> str:
    """What a service's pinned image is called by its learner (without registry or digest)."""
    name = pinned.split("@", 1)[0]
    with contextlib.suppress(SwarmError, SandboxError):
        reg = registry()
        for address in (reg.pull, reg.push):
            if name.startswith(address + "/"):
                name = name[len(address) + 1:]
    if name.startswith(LESSON_REPOSITORY + "/"):
        role = name.split("/", 1)[1].split(":", 1)[0]
        return lesson_images.configured().get(role, name)
    shown = naming.learner_image(sandbox.sid, name)
    return shown if shown is not None else name
