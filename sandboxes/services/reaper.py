"""Removing what sandboxes left on the engine: after expiry, or after a restart.

The engine's event stream can drop events, so this never replays history: it
lists labelled objects and compares them with the database.

- A sandbox that expired, or that this database does not know (a restart
  with a fresh one), loses everything labelled with it: containers (build
  step containers too), images including intermediate ones (listed with
  all=True), volumes, networks, and its build cgroups.
- A live sandbox loses only what a build that no longer runs left behind:
  build step containers (containers of the sandbox not named in its
  namespace) and dangling images without the expiry label (a stage's last
  step adds that label, so an image without it is an unfinished build's
  intermediate; removing it takes its unshared untagged parents along). A
  build holds its sandbox's lease (`buildlimits`) while it runs, so this
  waits for the next sweep rather than pull an image from under it. After a
  server killed mid-build, the next sweep finds the lease free.

Only objects labelled with this deployment's id are ever candidates.
"""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from engine import client
from sandboxes import labels, naming
from sandboxes.models import Sandbox
from sandboxes.services import buildlimits, registry
from sandboxes.services.common import engine_call, on_each_engine

log = logging.getLogger(__name__)
LABEL = labels.SANDBOX
DEPLOYMENT_LABEL = labels.DEPLOYMENT
KINDS = ("containers", "images", "volumes", "networks")


def _remove_container(api, container_id: str) -> bool:
    with contextlib.suppress(client.NotFound, client.Conflict):
        with client.translate_errors():
            api.remove_container(container_id, force=True, v=True)
        return True
    return False


def _remove_image(api, image_id: str, force: bool) -> bool:
    with contextlib.suppress(client.NotFound, client.Conflict):
        with client.translate_errors():
            api.remove_image(image_id, force=force)
        return True
    return False


def _wait_gone(api, container_ids: list[str], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    for container_id in container_ids:
        while time.monotonic() < deadline:
            try:
                with client.translate_errors():
                    api.inspect_container(container_id)
            except client.NotFound:
                break
            time.sleep(0.2)


def remove_objects(sid: str) -> dict[str, int]:
    """Remove every container, image, volume and network labelled with sandbox `sid`."""
    naming.check_sid(sid)
    flt = {"label": [f"{LABEL}={sid}"]}
    removed = dict.fromkeys(KINDS, 0)
    with engine_call():
        api = client.api()
        containers = [c["Id"] for c in api.containers(all=True, filters=flt)]
        for container_id in containers:
            removed["containers"] += _remove_container(api, container_id)
        _wait_gone(api, containers)
        # Children before parents: a later build may sit on an earlier image,
        # and intermediate images (all=True) sit under the ones they led to.
        images = sorted(
            api.images(all=True, filters=flt), key=lambda image: image.get("Created", 0)
        )
        for image in reversed(images):
            removed["images"] += _remove_image(api, image["Id"], force=True)
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
    buildlimits.remove_cgroup(sid)
    buildlimits.drop_lease(sid)
    _remove_swarm_objects(sid, removed)
    return removed


def _remove_swarm_objects(sid: str, removed: dict[str, int]) -> None:
    """The sandbox's services, stacks, networks and images on the classroom swarm."""
    from orchestration.services import cleanup  # deferred: orchestration imports sandboxes

    for kind, count in cleanup.remove_sandbox(sid).items():
        if count:
            removed[kind] = count


def describe(removed: dict[str, int]) -> str:
    """What remove_objects removed, in words."""
    kinds = [*KINDS, *(kind for kind in removed if kind not in KINDS)]
    return ", ".join(f"{removed.get(kind, 0)} {kind}" for kind in kinds) + " removed"


def _deployment_filter(*extra: str) -> dict[str, list[str]]:
    return {"label": [f"{DEPLOYMENT_LABEL}={settings.DOCKERLAB_DEPLOYMENT}", *extra]}


def labelled_sids() -> set[str]:
    """Every sandbox id of this deployment that labels something on the engine."""
    sids: set[str] = set()
    flt = _deployment_filter(LABEL)
    with engine_call():
        api = client.api()
        objects = (
            api.containers(all=True, filters=flt)
            + api.images(all=True, filters=flt)
            + ((api.volumes(filters=flt) or {}).get("Volumes") or [])
            + api.networks(filters=flt)
        )
    for obj in objects:
        sid = (obj.get("Labels") or {}).get(LABEL)
        if sid and naming.SID_RE.match(sid):
            sids.add(sid)
    return sids


def _by_sandbox(objects: list[dict], wanted: set[str]) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for obj in objects:
        sid = (obj.get("Labels") or {}).get(LABEL)
        if sid in wanted:
            grouped.setdefault(sid, []).append(obj)
    return grouped


def remove_build_leftovers(sids: set[str]) -> dict[str, dict[str, int]]:
    """Clear what builds that no longer run left in these (live) sandboxes."""
    result: dict[str, dict[str, int]] = {}
    if not sids:
        return result
    with engine_call():
        api = client.api()
        containers = _by_sandbox(
            api.containers(all=True, filters=_deployment_filter(LABEL)), sids
        )
        images = _by_sandbox(
            api.images(filters={**_deployment_filter(LABEL), "dangling": True}), sids
        )
        for sid in sorted(set(containers) | set(images)):
            with buildlimits.idle(sid) as idle:
                if not idle:
                    continue  # a build runs: what it made is still in use
                removed = dict.fromkeys(KINDS, 0)
                prefix = "/" + naming.container_prefix(sid)
                leftover = [
                    container["Id"]
                    for container in containers.get(sid, [])
                    if not any(
                        name.startswith(prefix) for name in container.get("Names") or []
                    )
                ]
                for container_id in leftover:
                    removed["containers"] += _remove_container(api, container_id)
                # The engine may be removing a cancelled build's container
                # itself; its image stays in use until that is done.
                _wait_gone(api, leftover)
                for image in images.get(sid, []):
                    if labels.EXPIRES not in (image.get("Labels") or {}):
                        removed["images"] += _remove_image(
                            api, image["Id"], force=False
                        )
            if any(removed.values()):
                result[sid] = removed
                log.info(
                    "removed build leftovers of sandbox %s: %s", sid, describe(removed)
                )
    return result


def reap(now: datetime | None = None, only: set[str] | None = None) -> dict[str, dict]:
    """Remove engine objects of expired or unknown sandboxes; return counts by sid.

    Only objects labelled with this deployment's id are candidates; of those,
    "unknown" means a sandbox absent from this database (a restart with a
    fresh one). Other deployments and test runs on the same engine carry
    other ids and are left alone. Live sandboxes lose only the leftovers of
    builds that no longer run (logged, not returned). `only` limits the sweep
    to some sandbox ids.
    """
    now = now or timezone.now()
    live = set(Sandbox.objects.filter(expires_at__gt=now).values_list("sid", flat=True))
    from orchestration.services import cleanup  # deferred: orchestration imports sandboxes

    on_swarm = cleanup.labelled_sids()
    result: dict[str, dict] = {}
    # Every engine of the pool (engine/pool.py) is swept on its own: one that
    # does not answer keeps its objects until a sweep finds it up again.
    swept = on_each_engine(lambda: _reap_engine(live, on_swarm, only), "it is swept later")
    for by_sid in swept.values():
        for sid, removed in by_sid.items():
            _add(result.setdefault(sid, dict.fromkeys(KINDS, 0)), removed)
    return result


def remove_everywhere(sid: str) -> dict[str, int]:
    """remove_objects(sid) on every engine of the pool that answers."""
    removed = dict.fromkeys(KINDS, 0)
    for found in on_each_engine(lambda: remove_objects(sid), f"{sid} stays there").values():
        _add(removed, found)
    return removed


def _add(into: dict[str, int], counts: dict[str, int]) -> None:
    for kind, count in counts.items():
        into[kind] = into.get(kind, 0) + count


def _reap_engine(live: set[str], on_swarm: set[str], only: set[str] | None) -> dict[str, dict]:
    """reap() on the current engine of the pool."""
    labelled = labelled_sids() | on_swarm
    candidates = (labelled | buildlimits.cgroup_sids()) - live
    if only is not None:
        candidates &= set(only)
    result = {}
    for sid in sorted(candidates):
        removed = remove_objects(sid)
        if sid in labelled:
            result[sid] = removed
            log.info("reaped sandbox %s on engine %s: %s", sid, client.engine_name(), removed)
    alive = labelled & live
    remove_build_leftovers(alive if only is None else alive & set(only))
    if only is None:
        # Names a push or pull of a crashed server left on its images.
        stale = registry.remove_stale_names()
        if stale:
            log.info("removed %d registry relay names left by unfinished pushes/pulls", stale)
    return result
