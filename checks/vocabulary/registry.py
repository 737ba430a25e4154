"""An image went to the learner's own registry, and came back from it.

Evidence of a push: the lab history has a successful push of the image, and
the learner's registry (a running container of their sandbox, from the
configured registry image, publishing the port the name says) serves a
manifest whose config digest is the image pushed. Evidence of a pull: the
image is in the sandbox now, the last thing that put it there was a
successful pull (not a `docker tag`), and where the registry still answers,
the image is the one it serves.
"""

from __future__ import annotations

import http.client
import json
from typing import Any

from checks.base import ENGINE, HISTORY, define, failed, passed
from checks.context import Context
from checks.schema import Image
from checks.vocabulary.helpers import about_image, latest, same_image
from engine import images as lesson_images
from sandboxes import naming
from sandboxes.errors import NotInSandbox
from sandboxes.services import registry

MAX_MANIFEST = 256 * 1024
_ACCEPT = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    )
)


class _NoRegistry(Exception):
    def __init__(self, verdict):
        super().__init__(verdict.reason)
        self.verdict = verdict


def _registry_port(ctx: Context, ref: str) -> int:
    """The real loopback port of the learner's registry named in `ref`, checked."""
    host, port = naming.registry_of(ref)
    try:
        real = registry.registry_port(ctx.sandbox, ref)
    except NotInSandbox as exc:
        raise _NoRegistry(failed(exc.message)) from None
    image = lesson_images.configured()["registry"]
    for container in ctx.containers():
        if any(e.get("PublicPort") == real for e in container.get("Ports") or []):
            if container.get("ImageID") != ctx.image_id(image):
                name = ctx.view(container)["name"]
                raise _NoRegistry(
                    failed(
                        f"{host}:{port} is served by {name}, which does not run {image}.",
                        f"Run your registry from {image}: docker run -d --name registry "
                        f"-p 127.0.0.1:{port}:{port} {image}",
                    )
                )
    return real


def _config_digest(real_port: int, ref: str, seconds: float) -> str | None:
    """The config digest (the image id) of `ref` in the registry; None if it has none."""
    name, tag = naming.parse_image(ref)
    repository = name.split("/", 1)[1]
    connection = http.client.HTTPConnection("127.0.0.1", real_port, timeout=max(0.5, seconds))
    try:
        connection.request(
            "GET",
            f"/v2/{repository}/manifests/{tag}",
            headers={"Accept": _ACCEPT, "Host": f"127.0.0.1:{real_port}", "Connection": "close"},
        )
        response = connection.getresponse()
        body = response.read(MAX_MANIFEST)
    finally:
        connection.close()
    if response.status != 200:
        return None
    try:
        return str(json.loads(body)["config"]["digest"])
    except (ValueError, KeyError, TypeError):
        return None


@define(
    "image_pushed",
    summary="An image was pushed to the learner's own registry, which serves it.",
    params={"image": Image(required=True, registry=True, doc="e.g. 127.0.0.1:5000/flask-app:v1")},
    describe=lambda p: f"you pushed {p['image']} to your registry",
    needs=frozenset({ENGINE, HISTORY}),
    budget=lambda p: 15,
)
def image_pushed(ctx: Context, p: dict[str, Any]):
    ref = p["image"]
    pushes = [e for e in ctx.history if e.action == "push" and same_image(e.args.get("image"), ref)]
    if not pushes or not pushes[0].ok:
        why = f" (the last push failed: {pushes[0].message})" if pushes else ""
        return failed(
            f"You have not pushed {ref} in the lab yet{why}.", f"Push it: docker push {ref}"
        )
    try:
        real = _registry_port(ctx, ref)
    except _NoRegistry as exc:
        return exc.verdict
    try:
        digest = _config_digest(real, ref, ctx.remaining(5))
    except (OSError, http.client.HTTPException):
        return failed("Your registry did not answer.", "Is it still running? docker ps")
    if digest is None:
        return failed(f"Your registry does not have {ref}.", f"Push it again: docker push {ref}")
    local = ctx.image(ref)
    pushed = pushes[0].detail.get("id") or (local or {}).get("Id")
    if pushed and digest != pushed:
        return failed(
            f"Your registry's {ref} is not the image you pushed last.",
            f"Push it again: docker push {ref}",
        )
    return passed(f"Your registry serves {ref}.")


@define(
    "image_pulled",
    summary="An image was pulled back from the learner's registry (not merely tagged).",
    params={"image": Image(required=True, registry=True, doc="e.g. 127.0.0.1:5000/flask-app:v1")},
    describe=lambda p: f"you pulled {p['image']} back from your registry",
    needs=frozenset({ENGINE, HISTORY}),
    budget=lambda p: 15,
)
def image_pulled(ctx: Context, p: dict[str, Any]):
    ref = p["image"]
    local = ctx.image(ref)
    if local is None:
        return failed(f"There is no {ref} in your sandbox.", f"Pull it back: docker pull {ref}")
    entry = latest(ctx.history, about_image(ref))
    if entry is None or entry.action != "pull" or not entry.ok:
        how = f"docker {entry.action}" if entry is not None else "somewhere else"
        return failed(
            f"{ref} in your sandbox came from {how}, not from a pull.",
            f"Remove it (docker rmi {ref}), then pull it back: docker pull {ref}",
        )
    try:
        real = _registry_port(ctx, ref)
        digest = _config_digest(real, ref, ctx.remaining(5))
    except (_NoRegistry, OSError, http.client.HTTPException):
        digest = None  # the registry may be gone by now; the pull itself was recorded
    if digest is not None and digest != local["Id"]:
        return failed(
            f"{ref} in your sandbox is not the image your registry serves.",
            f"Pull it again: docker pull {ref}",
        )
    return passed(f"{ref} came back from your registry.")
