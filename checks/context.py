"""What a check looks at: the learner's sandbox on the engine, and recorded evidence.

A `Context` is made for one evaluation. Evidence from the database (lab
history, quiz answers) is loaded before any check runs, in the caller's
thread, so evaluators (which run in threads of their own, under deadlines)
never touch the database. Engine lookups go through sandboxes.services,
which only ever find the sandbox's own objects.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from engine import client
from sandboxes import naming, services
from sandboxes.services.common import engine_call
from sandboxes.services.containers import container_view, own_containers
from sandboxes.services.images import lesson_image


@dataclass(frozen=True)
class HistoryEntry:
    """One recorded lab action (see lessons.history.record_action)."""

    action: str
    args: dict[str, Any]
    ok: bool
    at: datetime
    message: str = ""
    exit_code: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    user: Any
    sandbox: Any = None  # sandboxes.models.Sandbox; None when no check needs the engine
    lesson: str | None = None  # the slug of the lesson the checks belong to
    history: Sequence[HistoryEntry] = ()  # newest first
    quiz: dict[str, dict[int, bool]] = field(default_factory=dict)  # slug -> question -> correct
    quiz_sizes: dict[str, int] = field(default_factory=dict)  # slug -> number of questions
    deadline: float = 0.0  # time.monotonic() by which the running check must end
    # Engine lists read once per evaluation, shared by the copies each check gets.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _cache: dict[str, list[dict]] = field(default_factory=dict, repr=False)

    def for_check(self, deadline: float) -> Context:
        """A copy for one check with its own deadline (the evidence and cache shared).

        A check that timed out may still be running; its deadline must not
        move when the next check starts.
        """
        return replace(self, deadline=deadline)

    def remaining(self, at_most: float | None = None) -> float:
        """Seconds left for the running check (never below a small floor)."""
        left = max(0.05, self.deadline - time.monotonic())
        return left if at_most is None else min(left, at_most)

    # -- engine ------------------------------------------------------------------

    def containers(self, fresh: bool = False) -> list[dict]:
        """The sandbox's containers (engine list entries), read once per evaluation."""
        with self._lock:
            if "containers" not in self._cache or fresh:
                self._cache["containers"] = own_containers(self.sandbox)
            return list(self._cache["containers"])

    def container(self, name: str, fresh: bool = False) -> dict | None:
        """The sandbox's container with exactly this learner name, or None."""
        wanted = "/" + naming.container_prefix(self.sandbox.sid) + name
        for container in self.containers(fresh):
            if wanted in (container.get("Names") or []):
                return container
        return None

    def view(self, container: dict) -> dict:
        return container_view(self.sandbox, container)

    def image(self, ref: str) -> dict | None:
        """The sandbox's own image `ref` (a list entry), or None."""
        try:
            found, _ = services.find_image(self.sandbox, ref)
        except services.NotInSandbox:
            return None
        return found

    def image_id(self, ref: str) -> str | None:
        """The id of the learner's image `ref`, or of the lesson image of that name."""
        own = self.image(ref)
        if own is not None:
            return own["Id"]
        lesson = lesson_image(ref)
        if lesson is None:
            return None
        with engine_call(self.sandbox):
            return client.api().inspect_image(lesson)["Id"]

    def shown_image(self, container: dict) -> str:
        """The image a container runs from, named as the learner knows it."""
        return naming.strip(self.sandbox.sid, container.get("Image", ""))
