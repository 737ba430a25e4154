"""Small helpers the checks share: names as a learner writes them, and history lookups."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from checks.context import HistoryEntry
from engine import images as lesson_images
from sandboxes import naming
from sandboxes.errors import InvalidName


def short(ref: str) -> str:
    """`flask-app:latest` -> `flask-app`, as a learner writes it."""
    return ref[: -len(":latest")] if ref.endswith(":latest") else ref


def quoted(text: str, limit: int = 80) -> str:
    """Program output or an expected text, on one line, cut short."""
    flat = " ".join(str(text).split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return f"“{flat}”"


def same_image(a: object, b: str) -> bool:
    """Whether two image references name the same image (official and kit names alike)."""
    if not isinstance(a, str):
        return False
    try:
        left, right = naming.image_ref(a), naming.image_ref(b)
    except InvalidName:
        return False
    return lesson_images.localize_name(left) == lesson_images.localize_name(right)


def latest(
    history: Iterable[HistoryEntry], concerns: Callable[[HistoryEntry], bool]
) -> HistoryEntry | None:
    """The newest recorded action for which `concerns` holds (history is newest first)."""
    return next((entry for entry in history if concerns(entry)), None)


def about_container(name: str) -> Callable[[HistoryEntry], bool]:
    """Actions that make, stop or remove container `name`."""

    def concerns(entry: HistoryEntry) -> bool:
        args = entry.args
        if entry.action == "run":
            return args.get("name") == name
        if entry.action in ("remove", "stop"):
            return args.get("container") == name
        if entry.action == "compose":
            return name.startswith(f"{_project()}-") and args.get("command") in ("up", "down")
        return entry.action == "prune"

    return concerns


def about_image(ref: str) -> Callable[[HistoryEntry], bool]:
    """Actions that put image `ref` in the sandbox or take it out."""

    def concerns(entry: HistoryEntry) -> bool:
        args = entry.args
        key = {"build": "tag", "tag": "target", "pull": "image", "rmi": "image"}.get(entry.action)
        return key is not None and same_image(args.get(key), ref)

    return concerns


def _project() -> str:
    from sandboxes.services.compose import PROJECT

    return PROJECT
