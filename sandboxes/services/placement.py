"""Which engine of the pool a new sandbox goes to (engine/pool.py).

A sandbox is placed once, when it is created, and stays: its containers,
images, networks and volumes live on that engine, so moving it would lose
them. The choice is the engine with the least load among those that answer
now: the containers it runs, plus the live sandboxes already placed on it
(a class signing up at once has no containers yet, and without the second
term would all land on the same engine). An engine that does not answer
gets no new sandbox; with none answering, the default engine is chosen and
the learner hears that the engine is down, as on a one-engine site.

A single-engine site records "" (the pool's first engine), so adding engines
later keeps its sandboxes where they are as long as that engine stays first.
"""

from __future__ import annotations

import logging
from collections import Counter

from django.utils import timezone

from engine import client, pool
from sandboxes.models import Sandbox

log = logging.getLogger(__name__)

PING_TIMEOUT = 2.0


def _placed() -> Counter:
    """Live sandboxes per engine name ("" counted as the default's)."""
    default = pool.default().name
    rows = (
        Sandbox.objects.filter(expires_at__gt=timezone.now())
        .values_list("engine", flat=True)
    )
    return Counter(name or default for name in rows)


def loads() -> dict[str, int | None]:
    """Each engine's load as placement sees it; None for one that does not answer."""
    placed = _placed()
    found: dict[str, int | None] = {}
    for engine in pool.engines():
        with pool.using(engine.name):
            try:
                running = client.running_containers(timeout=PING_TIMEOUT)
            except client.EngineError:
                found[engine.name] = None
                continue
        found[engine.name] = running + placed.get(engine.name, 0)
    return found


def choose() -> str:
    """The engine name to record for a new sandbox ("" on a one-engine site)."""
    engines = pool.engines()
    if len(engines) == 1:
        return ""
    answering = {name: load for name, load in loads().items() if load is not None}
    if not answering:
        log.warning("no engine of the pool answers; placing a new sandbox on the default")
        return engines[0].name
    # Ties go to the engine listed first.
    order = {engine.name: i for i, engine in enumerate(engines)}
    return min(answering, key=lambda name: (answering[name], order[name]))
