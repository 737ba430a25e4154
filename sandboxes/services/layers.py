"""`docker history IMAGE`: the steps that made an image, newest first, with their sizes.

The image is one of the sandbox's own (found by label, so another sandbox's
is "not found") or a lesson image. Rows are the engine's own history; the
LABEL steps the lab adds to every build (the sandbox's labels) are shown as
such, without their values.
"""

from __future__ import annotations

from engine import client
from sandboxes import naming
from sandboxes.errors import InvalidName, NotInSandbox
from sandboxes.models import Sandbox
from sandboxes.services.common import engine_call
from sandboxes.services.images import find_image, iso, lesson_image

MAX_ROWS = 200
LAB_LABELS = "LABEL org.dockerlab.* (the lab's own labels on every image it builds)"


def _shown_step(sandbox: Sandbox, created_by: str) -> str:
    if "org.dockerlab." in created_by:
        return LAB_LABELS
    text = naming.strip(sandbox.sid, created_by or "")
    # The classic builder writes a RUN as `/bin/sh -c #(nop) ...` for
    # instructions that run nothing; docker history shows them so too.
    return text[:2000]


def image_history(sandbox: Sandbox, image: str) -> dict:
    """The image's history rows: id (short, or <missing>), created, created_by, size."""
    try:
        found, _ = find_image(sandbox, image)
        image_id = found["Id"]
    except (InvalidName, NotInSandbox):
        image_id = lesson_image(image)
        if image_id is None:
            raise
    with engine_call(sandbox):
        rows = client.api().history(image_id) or []
    shown = []
    for row in rows[:MAX_ROWS]:
        row_id = str(row.get("Id") or "")
        shown.append(
            {
                "id": row_id.removeprefix("sha256:")[:12] if row_id.startswith("sha256:") else "<missing>",
                "created": iso(row.get("Created")),
                "created_by": _shown_step(sandbox, str(row.get("CreatedBy") or "")),
                "size": int(row.get("Size") or 0),
                "comment": str(row.get("Comment") or "")[:200],
            }
        )
    return {"image": image, "layers": shown}
