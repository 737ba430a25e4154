"""What sandboxes left on the classroom swarm, removed: for the sandbox reaper.

sandboxes/services/reaper.py calls `labelled_sids()` to learn which
sandboxes have something on the swarm, and `remove_sandbox(sid)` for each
expired or unknown one (and `manage.py verify_lessons` and the tests for
their throwaway sandboxes). Removed, in order: the sandbox's services
(stacks' too), its overlay networks once their tasks are gone, its stacks'
volumes on every node, and its images' manifests in the swarm registry.

Like the rest of the reaper this never replays events: it lists labelled
objects. Only objects labelled with this deployment's id and the sandbox's
id are candidates. A swarm that is switched off or not running costs
nothing and removes nothing (logged); the next sweep tries again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request

from django.conf import settings

from engine import client
from orchestration.errors import SwarmError
from orchestration.services import nodes
from sandboxes import labels as label_keys
from sandboxes import naming

log = logging.getLogger(__name__)
MANIFEST_TYPES = ", ".join((
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
))
GONE_WAIT = 30.0


def _enabled() -> bool:
    return bool(settings.DOCKERLAB_SWARM)


def _filter(sid: str | None = None) -> dict[str, list[str]]:
    wanted = [f"{label_keys.DEPLOYMENT}={settings.DOCKERLAB_DEPLOYMENT}"]
    wanted.append(f"{label_keys.SANDBOX}={sid}" if sid else label_keys.SANDBOX)
    return {"label": wanted}


def labelled_sids() -> set[str]:
    """Sandbox ids of this deployment with services or networks on the swarm (empty if none)."""
    if not _enabled():
        return set()
    try:
        with client.translate_errors():
            api = nodes.manager_api(timeout=10)
            found = (api.services(filters=_filter()) or []) + (api.networks(filters=_filter()) or [])
    except (SwarmError, client.EngineError) as exc:
        log.info("the swarm is not reachable for the reaper: %s", exc)
        return set()
    sids = set()
    for obj in found:
        labels = (obj.get("Spec") or {}).get("Labels") or obj.get("Labels") or {}
        sid = labels.get(label_keys.SANDBOX)
        if sid and naming.SID_RE.match(sid):
            sids.add(sid)
    return sids


def remove_sandbox(sid: str) -> dict[str, int]:
    """Remove everything sandbox `sid` has on the swarm; counts by kind."""
    naming.check_sid(sid)
    removed = {"services": 0, "swarm networks": 0, "node volumes": 0, "manifests": 0}
    if not _enabled():
        return removed
    try:
        with client.translate_errors():
            api = nodes.manager_api(timeout=30)
            services = api.services(filters=_filter(sid)) or []
            for service in services:
                with contextlib.suppress(client.NotFound):
                    api.remove_service(service["ID"])
                    removed["services"] += 1
            _wait_tasks_gone(api, [s["ID"] for s in services])
            removed["swarm networks"] = _remove_networks(api, sid)
    except (SwarmError, client.EngineError) as exc:
        log.warning("could not clear sandbox %s from the swarm: %s", sid, exc)
        return removed
    removed["node volumes"] = _remove_node_volumes(sid)
    removed["manifests"] = remove_manifests(sid)
    return removed


def _wait_tasks_gone(api, service_ids: list[str]) -> None:
    """Until no task of these services holds a container (their networks free up then)."""
    if not service_ids:
        return
    deadline = time.monotonic() + GONE_WAIT
    wanted = set(service_ids)
    while time.monotonic() < deadline:
        # All tasks, sorted here: a filter naming a removed service is refused as not found.
        with client.translate_errors():
            left = [t for t in api.tasks() or [] if t.get("ServiceID") in wanted]
        if not left:
            return
        time.sleep(0.5)


def _remove_networks(api, sid: str) -> int:
    """Remove the sandbox's swarm networks, again while a node still holds an endpoint."""
    count = 0
    deadline = time.monotonic() + GONE_WAIT
    while True:
        with client.translate_errors():
            left = api.networks(filters=_filter(sid)) or []
        for net in left:
            with contextlib.suppress(client.NotFound, client.Conflict, client.EngineError):
                api.remove_network(net["Id"])
                count += 1
        if not left or time.monotonic() > deadline:
            return count
        time.sleep(0.5)


def _remove_node_volumes(sid: str) -> int:
    """A stack's volumes live on the nodes that ran its tasks: remove them from each."""
    count = 0
    for hostname in nodes.hostnames():
        try:
            with client.translate_errors():
                api = nodes.node_api(hostname, timeout=30)
                found = (api.volumes(filters=_filter(sid)) or {}).get("Volumes") or []
                for volume in found:
                    with contextlib.suppress(client.NotFound, client.Conflict):
                        api.remove_volume(volume["Name"], force=True)
                        count += 1
        except (SwarmError, client.EngineError) as exc:
            log.info("could not clear volumes of %s on %s: %s", sid, hostname, exc)
    return count


def _registry_url() -> str | None:
    if nodes.external():
        return None  # another site's registry: its owner clears it
    with contextlib.suppress(SwarmError, client.EngineError):
        return "http://" + nodes.registry().push
    return None


def _call(url: str, method: str = "GET", accept: str | None = None):
    request = urllib.request.Request(url, method=method)
    if accept:
        request.add_header("Accept", accept)
    return urllib.request.urlopen(request, timeout=10)  # noqa: S310 - our own registry


# Repositories per catalog page: the registry's own maximum (it answers 400 to more).
CATALOG_PAGE = 1000


def _repositories(base: str) -> list[str]:
    """Every repository of the registry, page by page (sorted, so `last` goes on from a page)."""
    found: list[str] = []
    last = ""
    while True:
        url = f"{base}/v2/_catalog?n={CATALOG_PAGE}"
        if last:
            url += "&last=" + urllib.parse.quote(last, safe="")
        with _call(url) as answer:
            page = json.load(answer).get("repositories") or []
        found.extend(page)
        if len(page) < CATALOG_PAGE:
            return found
        last = page[-1]


def remove_manifests(sid: str) -> int:
    """Delete the manifests of the sandbox's images (`dl-<sid>/...`) from the swarm registry.

    Their layers stay until the registry's garbage collection runs (a
    trainer's `registry garbage-collect`); nothing names them any more.
    """
    base = _registry_url()
    if base is None:
        return 0
    prefix = naming.image_prefix(sid)
    count = 0
    try:
        for repository in _repositories(base):
            if not repository.startswith(prefix):
                continue
            with _call(f"{base}/v2/{repository}/tags/list") as answer:
                tags = json.load(answer).get("tags") or []
            for tag in tags:
                with _call(f"{base}/v2/{repository}/manifests/{tag}", "HEAD", MANIFEST_TYPES) as a:
                    digest = a.headers.get("Docker-Content-Digest")
                if digest:
                    with contextlib.suppress(urllib.error.HTTPError):
                        _call(f"{base}/v2/{repository}/manifests/{digest}", "DELETE").close()
                        count += 1
    except (OSError, ValueError) as exc:
        log.info("could not clear images of %s from the swarm registry: %s", sid, exc)
    return count
