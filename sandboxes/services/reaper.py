"""Removing what sandboxes left on the engine: after expiry, or after a restart.

The engine's event stream can drop events, so this never replays history: it
lists labelled objects and compares them with the database.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from engine import client
from sandboxes import naming
from sandboxes.models import Sandbox
from sandboxes.services.common import engine_call

log = logging.getLogger(__name__)
LABEL = "org.dockerlab.sandbox"
DEPLOYMENT_LABEL = "org.dockerlab.deployment"


def remove_objects(sid: str) -> dict[str, int]:
    """Remove every container, image, volume and network labelled with sandbox `sid`."""
    naming.check_sid(sid)
    flt = {"label": [f"{LABEL}={sid}"]}
    removed = {"containers": 0, "images": 0, "volumes": 0, "networks": 0}
    with engine_call():
        api = client.api()
        for container in api.containers(all=True, filters=flt):
            with contextlib.suppress(client.NotFound):
                with client.translate_errors():
                    api.remove_container(container["Id"], force=True, v=True)
                removed["containers"] += 1
        # Children before parents: a later build may sit on an earlier image.
        images = sorted(
            api.images(filters=flt), key=lambda image: image.get("Created", 0)
        )
        for image in reversed(images):
            with contextlib.suppress(client.NotFound, client.Conflict):
                with client.translate_errors():
                    api.remove_image(image["Id"], force=True)
                removed["images"] += 1
        for volume in (api.volumes(filters=flt) or {}).get("Volumes") or []:
            with contextlib.suppress(client.NotFound, client.Conflict):
                with client.translate_errors():
                    api.remove_volume(volume["Name"], force=True)
                removed["volumes"] += 1
        for network in api.networks(filters=flt):
            with contextlib.suppress(client.NotFound, client.Conflict):
                with client.translate_errors():
                    api.remove_network(network["Id"])
                removed["networks"] += 1
    return removed


def describe(removed: dict[str, int]) -> str:
    """What remove_objects removed, in words."""
    return ", ".join(
        f"{removed.get(kind, 0)} {kind}" for kind in ("containers", "images", "volumes", "networks")
    ) + " removed"


def labelled_sids() -> set[str]:
    """Every sandbox id of this deployment that labels something on the engine."""
    sids: set[str] = set()
    flt = {"label": [LABEL, f"{DEPLOYMENT_LABEL}={settings.DOCKERLAB_DEPLOYMENT}"]}
    with engine_call():
        api = client.api()
        objects = (
            api.containers(all=True, filters=flt)
            + api.images(filters=flt)
            + ((api.volumes(filters=flt) or {}).get("Volumes") or [])
            + api.networks(filters=flt)
        )
    for obj in objects:
        sid = (obj.get("Labels") or {}).get(LABEL)
        if sid and naming.SID_RE.match(sid):
            sids.add(sid)
    return sids


def reap(now: datetime | None = None, only: set[str] | None = None) -> dict[str, dict]:
    """Remove engine objects of expired or unknown sandboxes; return counts by sid.

    Only objects labelled with this deployment's id are candidates; of those,
    "unknown" means a sandbox absent from this database (a restart with a
    fresh one). Other deployments and test runs on the same engine carry
    other ids and are left alone. `only` limits the sweep to some sandbox ids.
    """
    now = now or timezone.now()
    live = set(Sandbox.objects.filter(expires_at__gt=now).values_list("sid", flat=True))
    candidates = labelled_sids() - live
    if only is not None:
        candidates &= set(only)
    result = {}
    for sid in sorted(candidates):
        result[sid] = remove_objects(sid)
        log.info("reaped sandbox %s: %s", sid, result[sid])
    return result
