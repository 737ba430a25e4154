"""What the home page says about the engine: reachable, version, lesson images.

`engine_status()` never raises: an unreachable engine or a failing call becomes
a message for the page, so the status panel cannot turn the site into a 500.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings

from engine import client, kit

logger = logging.getLogger(__name__)

# The page must stay quick when the engine hangs rather than refuses.
STATUS_TIMEOUT = 2.0

FIX_COMMAND = "make kit"

# What a learner uses each image for, in the words of the page.
PURPOSES = {
    "python": "base of the sample Flask app",
    "mariadb": "the database in the Compose lesson",
    "registry": "the private registry lesson",
    "python-build": "the compiler stage of the multistage lesson",
}


def engine_status() -> dict:
    """Engine facts and the state of every configured lesson image.

    Keys: reachable, version, api_version, message (when unreachable or
    failing), images (a list of {role, purpose, name, state, kit}), missing (roles),
    ready (every image present), fix (the command that makes missing images).
    """
    images = dict(settings.DOCKERLAB_IMAGES)
    status = {
        "reachable": False,
        "version": None,
        "api_version": None,
        "message": "",
        "images": [],
        "missing": [],
        "ready": False,
        "fix": FIX_COMMAND,
    }
    try:
        status.update(reachable=True, **client.ping(timeout=STATUS_TIMEOUT))
        for role, name in images.items():
            state = kit.image_state(name, timeout=STATUS_TIMEOUT)
            status["images"].append(
                {
                    "role": role,
                    "purpose": PURPOSES.get(role, role),
                    "name": name,
                    "state": state,
                    "kit": state == kit.KIT_BUILT,
                }
            )
    except client.EngineUnavailable as exc:
        status["message"] = exc.message
        return status
    except client.EngineError as exc:
        status["message"] = f"The Docker engine answered with an error: {exc.message}"
        return status
    except Exception:
        # The status panel is informative only; log and say so rather than fail the page.
        logger.exception("engine status check failed")
        status["message"] = "The engine status could not be read (see the server log)."
        return status
    status["missing"] = [i["role"] for i in status["images"] if i["state"] == kit.MISSING]
    status["ready"] = not status["missing"]
    return status



def kit_builds(max_age: float = 60.0) -> list[str]:
    """Configured lesson images that are local kit builds (cached for `max_age` s).

    Lab panels use it to say that those images' versions are Debian's, not
    the official images' (the kit's python:3.12-slim runs Debian's Python).
    Never raises: an engine that does not answer yields an empty list.
    """
    now = time.monotonic()
    if _kit_cache and now - _kit_cache[0] < max_age:
        return _kit_cache[1]
    names: list[str] = []
    try:
        for name in dict(settings.DOCKERLAB_IMAGES).values():
            if kit.image_state(name, timeout=STATUS_TIMEOUT) == kit.KIT_BUILT:
                names.append(name)
    except client.EngineError:
        return []
    _kit_cache[:] = [now, names]
    return names


_kit_cache: list = []
