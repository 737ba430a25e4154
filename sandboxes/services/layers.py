"""`docker history`: the layers of one image, newest first, as a learner reads them.

The image is one of the sandbox's own (found by label, like every lookup
here, so another sandbox's image is "not found" exactly like one that never
existed) or a configured lesson image (nothing to hide there: learners build
on them). Rows carry the engine's own figures: each layer's size in bytes
and the instruction that made it, with the sandbox's name prefixes stripped.

The lab's own LABEL steps (the sandbox's labels that every build stage gets,
see sandboxes.services.builds) are left out and counted in `hidden`: they add
no bytes, and the learner did not write them. Rows from the lesson image the
build started FROM carry its name in `base`, so a page can tell the layers a
Dockerfile added from those it inherited; where that lesson image was itself
built on another one (the kit's python:3.12 on its python:3.12-slim), the
deeper rows carry the other's name.
"""

from __future__ import annotations

from engine import client
from sandboxes import labels, naming
from sandboxes.errors import InvalidName, NotInSandbox
from sandboxes.models import Sandbox
from sandboxes.services.common import engine_call
from sandboxes.services.images import find_image, iso, lesson_image

_NOP = "/bin/sh -c #(nop)"
_SHELL = "/bin/sh -c "
MAX_CREATED_BY = 2000


def instruction(created_by: str) -> str:
    """The Dockerfile instruction a history entry records, as it was written.

    The classic builder records `/bin/sh -c #(nop)  CMD [...]` for steps
    that run nothing and `/bin/sh -c <command>` for RUN; BuildKit records the
    instruction itself. An imported base layer has no instruction at all.
    """
    text = " ".join(created_by.removesuffix("# buildkit").split())
    if text.startswith(_NOP):
        return text[len(_NOP) :].strip()
    if text.startswith(_SHELL):
        return "RUN " + text[len(_SHELL) :]
    return text


def _lab_label(text: str) -> bool:
    return text.startswith("LABEL ") and labels.PREFIX in text


def _resolve(sandbox: Sandbox, image: str) -> tuple[str, str]:
    """(engine reference, name shown) of an image the learner may look at."""
    try:
        found, tag = find_image(sandbox, image)
    except (InvalidName, NotInSandbox):
        lesson = lesson_image(image)
        if lesson is None:
            raise
        return lesson, lesson
    if tag is None:
        return found["Id"], image
    return naming.engine_image(sandbox.sid, tag), tag


def image_history(sandbox: Sandbox, image: str) -> dict:
    """`docker history IMAGE`: {image, size, rows: [...], hidden}.

    Each row: id (12 hex digits, or "<missing>" for a layer whose image is
    not kept on its own), created (ISO 8601), instruction, size (bytes),
    comment, and base (the lesson image it came with, else null). `size` is
    the image's total as the engine reports it.
    """
    reference, shown = _resolve(sandbox, image)
    with engine_call(sandbox):
        api = client.api()
        entries = api.history(reference)
        total = int(api.inspect_image(reference).get("Size") or 0)
    rows, hidden, base = [], 0, None
    for entry in entries:
        text = naming.strip(sandbox.sid, instruction(entry.get("CreatedBy") or ""))
        if _lab_label(text):
            hidden += 1
            continue
        # From the first row a lesson image is tagged at, rows are that
        # image's (or, further down, an image it was built on).
        tagged = next(
            (t for t in entry.get("Tags") or [] if lesson_image(t) == t), None
        )
        base = tagged or base
        raw_id = entry.get("Id") or ""
        rows.append(
            {
                "id": raw_id.removeprefix("sha256:")[:12]
                if raw_id.startswith("sha256:")
                else "<missing>",
                "created": iso(entry.get("Created")),
                "instruction": text[:MAX_CREATED_BY],
                "size": int(entry.get("Size") or 0),
                "comment": naming.strip(sandbox.sid, entry.get("Comment") or "")[:200],
                "base": base,
            }
        )
    return {"image": shown, "size": total, "rows": rows, "hidden": hidden}
