"""The lab history: every action done in a learner's sandbox, with its outcome.

The websocket layer calls `record_action` once an action has an outcome
(see docs/checks.md for when); the solution runner of `verify_lessons` does
the same. Checks read it as evidence for work that leaves nothing on the
engine. What is stored is ours: the action name must be a lab action, long
texts in the arguments (an edited Dockerfile) are kept as a digest, and
every text is cut to a bound, so a learner cannot grow a row without limit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from lessons.models import LabAction
from sandboxes.commands import LAB_ACTIONS, render
from sandboxes.runner import Outcome

MAX_TEXT_ARG = 512
MAX_ITEMS = 64
MAX_MESSAGE = 1000
MAX_OUTPUT = 4000
# Rows kept per learner; older ones go (the checks read the newest few hundred).
KEEP = 1000


def _stored(value: Any, depth: int = 0) -> Any:
    """A JSON-safe, bounded copy of an argument value."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        if len(value) <= MAX_TEXT_ARG:
            return value
        return {
            "sha256": hashlib.sha256(value.encode("utf-8", "replace")).hexdigest(),
            "chars": len(value),
        }
    if depth < 2 and isinstance(value, Mapping):
        return {str(k)[:64]: _stored(v, depth + 1) for k, v in list(value.items())[:MAX_ITEMS]}
    if depth < 2 and isinstance(value, list | tuple):
        return [_stored(v, depth + 1) for v in list(value)[:MAX_ITEMS]]
    return str(value)[:MAX_TEXT_ARG]


def record_action(
    user, action: str, args: Mapping[str, Any], outcome: Outcome, *, sandbox=None
) -> LabAction:
    """Keep one action and its outcome in `user`'s lab history.

    `action` and `args` are the websocket action and its checked arguments;
    `sandbox` is the sandbox it was done in (looked up from the user when
    not given).
    """
    if action not in LAB_ACTIONS:
        raise ValueError(f"{action!r} is not a lab action")
    if sandbox is None:
        from sandboxes.models import Sandbox

        sandbox = Sandbox.objects.filter(user=user).first()
    stored = _stored(dict(args or {}))
    try:
        command = render(action, args or {})[:500]
    except Exception:  # a display string must never lose the record
        command = f"({action})"
    entry = LabAction.objects.create(
        user=user,
        sandbox=getattr(sandbox, "sid", "") or "",
        action=action,
        args=stored,
        command=command,
        ok=bool(outcome.ok),
        message=str(outcome.message or "")[:MAX_MESSAGE],
        exit_code=outcome.exit_code,
        output=str(outcome.output or "")[-MAX_OUTPUT:],
        detail=_stored(dict(outcome.detail or {})),
    )
    if entry.pk % 50 == 0:
        _trim(user)
    return entry


def _trim(user) -> None:
    cutoff = (
        LabAction.objects.filter(user=user)
        .order_by("-at", "-id")
        .values_list("at", flat=True)[KEEP : KEEP + 1]
    )
    if cutoff:
        LabAction.objects.filter(user=user, at__lt=cutoff[0]).delete()


def history_for(user, limit: int = 100) -> list[dict[str, Any]]:
    """The learner's newest lab actions as docker commands, for a history panel."""
    rows = LabAction.objects.filter(user=user).order_by("-at", "-id")[: max(1, min(limit, KEEP))]
    return [
        {
            "command": row.command,
            "action": row.action,
            "ok": row.ok,
            "message": row.message,
            "exit_code": row.exit_code,
            "at": row.at.isoformat(),
        }
        for row in rows
    ]
