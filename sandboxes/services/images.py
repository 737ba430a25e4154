"""Finding a sandbox's images by the names its learner uses, and showing them.

Also the app's record of which image ids are a sandbox's (`SandboxImage`):
written when a build finishes, before a push and after a pull, read when a
pull decides whether what a registry serves may land in the sandbox.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

from django.conf import settings

from engine import client
from engine import images as lesson_images
from sandboxes import naming
from sandboxes.errors import InvalidName, NotInSandbox, QuotaExceeded
from sandboxes.models import Sandbox, SandboxImage
from sandboxes.services import disk
from sandboxes.services.common import engine_call

log = logging.getLogger(__name__)

_ID = re.compile(r"^(?:sha256:)?([0-9a-f]{4,64})$")
IMAGE_ID_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


def iso(timestamp: int | float | str | None) -> str:
    """Engine timestamps (unix seconds or RFC 3339) as ISO 8601 UTC."""
    if isinstance(timestamp, int | float):
        return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")
    return timestamp or ""


def own_images(sandbox: Sandbox) -> list[dict]:
    with engine_call(sandbox):
        return client.api().images(filters=sandbox.label_filter()) or []


def learner_tags(sandbox: Sandbox, image: dict) -> list[str]:
    tags = []
    for tag in image.get("RepoTags") or []:
        name = naming.learner_image(sandbox.sid, tag)
        if name is not None:
            tags.append(name)
    return tags


def image_view(sandbox: Sandbox, image: dict, name: str | None = None) -> dict:
    tags = learner_tags(sandbox, image)
    return {
        "name": name or (tags[0] if tags else "<none>:<none>"),
        "id": image.get("Id", ""),
        "size": image.get("Size", 0),
        "created": iso(image.get("Created")),
    }


def _not_found(ref: str) -> NotInSandbox:
    return NotInSandbox(f"There is no image {ref!r} in your sandbox.")


def find_image(sandbox: Sandbox, ref: str) -> tuple[dict, str | None]:
    """The sandbox image a learner means (by name:tag or id) and its learner tag.

    Only images labelled with this sandbox are searched, so another sandbox's
    image is "not found" exactly like one that never existed.
    """
    if not isinstance(ref, str):
        raise InvalidName("Give an image name, like flask-app or flask-app:v2.")
    images = own_images(sandbox)
    id_match = _ID.match(ref)
    try:
        wanted = naming.engine_image(sandbox.sid, ref)
    except InvalidName:
        if not id_match:
            raise
        wanted = None
    if wanted:
        for image in images:
            if wanted in (image.get("RepoTags") or []):
                return image, naming.image_ref(ref)
    if id_match:
        prefix = "sha256:" + id_match.group(1)
        matches = [image for image in images if image.get("Id", "").startswith(prefix)]
        if len(matches) == 1:
            return matches[0], None
        if len(matches) > 1:
            raise InvalidName(f"{ref!r} matches several images: give more of the id.")
    raise _not_found(ref)


def lesson_image(ref: str) -> str | None:
    """The configured lesson image a learner may use by this name, if any."""
    if not isinstance(ref, str):
        return None
    configured = set(lesson_images.configured().values())
    for candidate in (ref, lesson_images.localize_name(ref)):
        if candidate in configured:
            return candidate
    return None


def require_present(name: str, sandbox: Sandbox | None = None) -> dict:
    """Inspect an image that must exist on the engine (a lesson base image)."""
    with engine_call(
        sandbox,
        not_found=(
            f"The lesson image {name} is not on this engine yet; an administrator "
            "can build it with `manage.py kit`."
        ),
    ):
        return client.api().inspect_image(name)


def runnable_image(sandbox: Sandbox, ref: str) -> tuple[str, str]:
    """(engine reference, learner name) of an image the learner may run.

    The learner's own images come first; the configured lesson images are
    allowed too. Anything else (another sandbox's image, an arbitrary image
    on the engine) is refused as not found.
    """
    try:
        image, tag = find_image(sandbox, ref)
    except (InvalidName, NotInSandbox) as exc:
        lesson = lesson_image(ref)
        if lesson is None:
            raise exc from None
        require_present(lesson, sandbox)
        return lesson, lesson
    if tag is None:
        return image["Id"], image["Id"]
    return naming.engine_image(sandbox.sid, tag), tag


def remove_image(sandbox: Sandbox, image: str) -> dict:
    """Remove one of the sandbox's images (by tag: untag; by id: delete)."""
    found, tag = find_image(sandbox, image)
    target = naming.engine_image(sandbox.sid, tag) if tag else found["Id"]
    with engine_call(sandbox):
        result = client.api().remove_image(target)
    return {
        "untagged": [
            naming.strip(sandbox.sid, item["Untagged"])
            for item in result
            if "Untagged" in item
        ],
        "deleted": [item["Deleted"] for item in result if "Deleted" in item],
    }


def check_tag_room(sandbox: Sandbox, ref: str) -> None:
    """Refuse a new tag `ref` once the sandbox holds as many tags as it may,
    and any new image while it is over its disk limit."""
    disk.check_room(sandbox)
    limit = settings.DOCKERLAB_MAX_IMAGES
    tags = {tag for image in own_images(sandbox) for tag in learner_tags(sandbox, image)}
    if ref not in tags and len(tags) >= limit:
        raise QuotaExceeded(
            f"Your sandbox already has {limit} image tags, the most it may hold: "
            "remove one first."
        )


def record_image(sandbox: Sandbox, image_id: str, how: str) -> None:
    """Record that `image_id` is this sandbox's (`how`: built, pushed or pulled)."""
    if not isinstance(image_id, str) or not IMAGE_ID_RE.match(image_id):
        raise ValueError(f"not an image id: {image_id!r}")
    SandboxImage.objects.get_or_create(sandbox=sandbox, image_id=image_id, how=how)


def record_built(sandbox: Sandbox, image_id: str | None) -> None:
    """Record a finished build's image; a failure is logged, never fatal to the build.

    The image exists whatever happens here. Without the record the learner
    can still use it; only pulling it back from their registry needs a push
    first (which records it again).
    """
    try:
        record_image(sandbox, image_id or "", SandboxImage.BUILT)
    except Exception:  # the database, not the build, failed: say so in the log
        log.warning("could not record built image %r of %s", image_id, sandbox.sid, exc_info=True)


def recorded_ids(sandbox: Sandbox) -> frozenset[str]:
    """Every image id recorded as this sandbox's."""
    return frozenset(
        SandboxImage.objects.filter(sandbox=sandbox).values_list("image_id", flat=True)
    )
