"""Progress changes, live, to the dashboards of every class the learner is in.

lessons.signals.progress_changed fires in the thread that recorded the
change; `on_progress_changed` looks up the learner's classes (one query)
and sends one event per class to its channel-layer group, `classroom.<id>`,
which the class's open dashboards (classrooms.consumers) listen to. The
frame carries only what the dashboard shows of that learner: an item's
state, last failing reason, attempts, hints and solution used, and when.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone

from classrooms import items
from classrooms.models import Membership

log = logging.getLogger(__name__)

DONE, FAILING, NOT_STARTED = "done", "failing", "not_started"


def group(classroom_id: int) -> str:
    return f"classroom.{classroom_id}"


def quiz_state(correct: int, questions: int, answered: int) -> tuple[str, str]:
    """A quiz as a dashboard cell: (state, reason)."""
    if not answered:
        return NOT_STARTED, ""
    if correct >= questions:
        return DONE, ""
    return FAILING, f"{correct} of {questions} quiz answers right so far."


def frame(
    user, kind: str, lesson: str, number: int | None, progress: dict
) -> dict[str, Any]:
    """The dashboard frame for one change (see docs/classrooms.md)."""
    now = timezone.now().isoformat()
    if kind == items.QUIZ:
        state, reason = quiz_state(progress["correct"], progress["questions"], 1)
        return {
            "type": "progress",
            "learner": user.pk,
            "item": items.key(kind, lesson),
            "state": state,
            "reason": reason,
            "attempts": None,
            "at": now,
        }
    return {
        "type": "progress",
        "learner": user.pk,
        "item": items.key(kind, lesson, number),
        "state": progress.get("state", NOT_STARTED),
        "reason": progress.get("reason", "")
        if progress.get("state") == FAILING
        else "",
        "attempts": progress.get("attempts", 0),
        "hints": progress.get("hints_revealed", 0),
        "solution": bool(progress.get("solution_revealed")),
        "at": now,
    }


def send(classroom_ids, event: dict) -> None:
    """Send `event` to the groups of these classes, from any thread."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    for classroom_id in classroom_ids:
        if loop is not None:  # called on the event loop itself: do not block it
            loop.create_task(layer.group_send(group(classroom_id), event))
        else:
            async_to_sync(layer.group_send)(group(classroom_id), event)


def on_progress_changed(sender, user, kind, lesson, number, progress, **kwargs) -> None:
    classes = list(
        Membership.objects.filter(user=user).values_list("classroom_id", flat=True)
    )
    if classes:
        send(
            classes,
            {
                "type": "classroom.progress",
                "frame": frame(user, kind, lesson, number, progress),
            },
        )


def member_joined(classroom, user) -> None:
    """Tell the class's open dashboards that a learner joined (they add a row)."""
    from django.urls import reverse

    frame = {
        "type": "member",
        "learner": user.pk,
        "name": user.get_username(),
        "detail": reverse("classrooms:learner", args=[classroom.pk, user.pk]),
    }
    try:
        send([classroom.pk], {"type": "classroom.progress", "frame": frame})
    except Exception:  # the learner is in the class whatever a dashboard hears
        log.exception("could not tell the dashboards of class %s", classroom.pk)


def owners_changed(classroom) -> None:
    """Tell the class's open dashboards who runs it now (a removed co-owner's close)."""
    owners = [classroom.owner_id, *classroom.co_owners.values_list("pk", flat=True)]
    send([classroom.pk], {"type": "classroom.owners", "owners": owners})
