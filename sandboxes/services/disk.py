"""Disk per sandbox: the sizes the engine enforces, and a measurement for the rest.

Two mechanisms, because the engine offers only part of what is needed:

- Quotas, where the engine stores on XFS with project quotas (the data root
  `scripts/engine-up.sh` gives a dockerd it starts): every learner
  container's writable layer gets DOCKERLAB_CONTAINER_DISK_MB
  (`--storage-opt size=`), every volume a sandbox creates
  DOCKERLAB_VOLUME_DISK_MB (the local driver's `size` option), and build
  steps the engine's default layer size. A write past them fails inside the
  container with ENOSPC. Whether the engine has quotas is probed once per
  process (`quotas()`); without them nothing is sized, and the measurement
  alone limits a sandbox.
- The measurement: one `df` call, one image list and one volume list give
  every sandbox's total: its containers' writable layers, its volumes, and
  the image layers its images hold that no lesson image holds (the lesson
  image under a learner's build is not the learner's; a layer two sandboxes
  share through the build cache counts for both, so a second account cannot
  hide a learner's images). The engine's `df` leaves out volumes made with
  options, so a sized volume is read from its quota (`sized_volume_bytes`),
  or counted as full where this process cannot see the engine's files.
  Images have no size of their own; the tag quota bounds how many there
  are. A sandbox of this deployment over DOCKERLAB_SANDBOX_DISK_MB has its
  running containers stopped (`sweep()`), and new runs and builds are
  refused (`check_room()`) until it is back under.

Invariants:
- The measurement never removes anything; it only stops running containers
  of this deployment's sandboxes that are over their limit.
- The verdicts live in one JSON file per deployment under VAR_DIR, replaced
  atomically, so the server's processes and the reaper's loop read the same.
  Each writer writes a whole fresh measurement, so the last one is right.
- A refusal re-measures first (at most every RECHECK_SECONDS per sandbox),
  so a learner who cleaned up can go on at once.
- An image's layers never change, so they are cached by image id.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from engine import client, pool
from sandboxes import labels, naming
from sandboxes.errors import QuotaExceeded
from sandboxes.models import Sandbox
from sandboxes.services.common import engine_call, on_each_engine

log = logging.getLogger(__name__)
LABEL, DEPLOYMENT_LABEL = labels.SANDBOX, labels.DEPLOYMENT

RECHECK_SECONDS = 5.0
# The engine runs one `df` at a time and refuses a second meanwhile.
DF_WAIT_SECONDS = 30.0
STOP_TIMEOUT = 3
MESSAGE_CODE = "disk_quota"
_OTHER = "<other>"  # a holder of image layers that is no sandbox of this site


@dataclass(frozen=True)
class Quotas:
    """What the engine can size: container writable layers, volumes."""

    layers: bool
    volumes: bool


@dataclass
class Usage:
    """Bytes a sandbox holds on the engine, by kind."""

    containers: int = 0
    volumes: int = 0
    images: int = 0

    @property
    def total(self) -> int:
        return self.containers + self.volumes + self.images


_quotas: dict[str, Quotas] = {}
_quotas_guard = threading.Lock()
_layers: dict[str, tuple[str, ...]] = {}
_df_guard = threading.Lock()
_rechecked: dict[str, float] = {}


# ------------------------------------------------------------------ quotas


def quotas() -> Quotas:
    """Whether the engine can size writable layers and volumes (probed once)."""
    key = client.engine_key()
    with _quotas_guard:
        found = _quotas.get(key)
        if found is None:
            found = _quotas[key] = _probe()
            if not (found.layers and found.volumes):
                log.warning(
                    "The engine cannot size %s: sandboxes are limited by "
                    "measurement (DOCKERLAB_SANDBOX_DISK_MB) only. A dockerd "
                    "started by scripts/engine-up.sh on a kernel with XFS "
                    "quotas has them.",
                    "writable layers or volumes"
                    if found.layers or found.volumes
                    else "writable layers and volumes",
                )
        return found


def forget() -> None:
    """Probe the engine's quotas again next time (after it changed)."""
    with _quotas_guard:
        _quotas.clear()


def _probe() -> Quotas:
    """Create and remove a sized volume; overlay2 on XFS sizes layers likewise.

    The local volume driver refuses a size outright when its directory has no
    project quotas, and overlay2 has them on the same data root exactly when
    it is XFS (the only file system it takes quotas on).
    """
    name = f"dl-quota-probe-{secrets.token_hex(4)}"
    with engine_call():
        api = client.api()
        info = api.info()
        try:
            with client.translate_errors():
                api.create_volume(
                    name=name,
                    driver="local",
                    driver_opts={"size": "16M"},
                    labels={DEPLOYMENT_LABEL: settings.DOCKERLAB_DEPLOYMENT},
                )
        except client.EngineError as exc:
            if "quota" not in exc.message.lower():
                raise
            volumes = False
        else:
            volumes = True
            with contextlib.suppress(client.EngineError), client.translate_errors():
                api.remove_volume(name, force=True)
    status = dict(
        item for item in info.get("DriverStatus") or [] if len(item) == 2
    )
    layers = (
        volumes
        and info.get("Driver") == "overlay2"
        and status.get("Backing Filesystem") == "xfs"
    )
    return Quotas(layers=layers, volumes=volumes)


def container_storage_opt() -> dict[str, str] | None:
    """The writable-layer size for a learner container, where the engine has quotas."""
    if not quotas().layers:
        return None
    return {"size": f"{settings.DOCKERLAB_CONTAINER_DISK_MB}M"}


def volume_driver_opts() -> dict[str, str] | None:
    """The local driver's options for a new sandbox volume (its size), or None."""
    if not quotas().volumes:
        return None
    return {"size": f"{settings.DOCKERLAB_VOLUME_DISK_MB}M"}


# ------------------------------------------------------------- measurement


def _sid(labels: dict | None) -> str | None:
    """The sandbox id of an object of this deployment, else None."""
    labels = labels or {}
    if labels.get(DEPLOYMENT_LABEL) != settings.DOCKERLAB_DEPLOYMENT:
        return None
    sid = labels.get(LABEL)
    return sid if sid and naming.SID_RE.match(sid) else None


def _df(api) -> dict:
    deadline = time.monotonic() + DF_WAIT_SECONDS
    while True:
        try:
            with _df_guard, client.translate_errors():
                return api.df() or {}
        except client.EngineError as exc:
            if "already running" not in exc.message or time.monotonic() > deadline:
                raise
        time.sleep(0.5)


def measure() -> dict[str, Usage]:
    """Every sandbox of this deployment that holds anything, with its bytes."""
    with engine_call():
        api = client.api()
        data = _df(api)
        images = api.images(all=True) or []
        usage: dict[str, Usage] = defaultdict(Usage)
        for container in data.get("Containers") or []:
            sid = _sid(container.get("Labels"))
            if sid:
                usage[sid].containers += max(0, container.get("SizeRw") or 0)
        for volume in data.get("Volumes") or []:
            sid = _sid(volume.get("Labels"))
            if sid:
                size = (volume.get("UsageData") or {}).get("Size") or 0
                usage[sid].volumes += max(0, size)
        # df leaves out every volume made with options, sized ones included.
        listed = api.volumes(filters={"label": LABEL}) or {}
        for volume in listed.get("Volumes") or []:
            sid = _sid(volume.get("Labels"))
            if sid and (volume.get("Options") or {}).get("size"):
                usage[sid].volumes += sized_volume_bytes(volume)
        for sid, size in image_bytes(api, images).items():
            usage[sid].images += size
    return dict(usage)


_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.I)


def _bytes(text: str) -> int | None:
    """A size as the engine reads one ("512M", "1g", "48MiB"), binary units."""
    found = _SIZE.match(text or "")
    if not found:
        return None
    return int(float(found.group(1)) * _UNITS[found.group(2).lower()])


def sized_volume_bytes(volume: dict) -> int:
    """What a volume with a size holds, which the engine's df leaves out.

    Where the engine is local and its volumes readable (the site runs as
    root), XFS answers statfs on a directory with a project quota with that
    project's use, at no cost; a volume never mounted yet has no quota of its
    own, and nothing a container wrote, so its few files are counted one by
    one. Elsewhere the volume counts as full: its size is all it can hold.
    """
    limit = _bytes(volume["Options"]["size"]) or 0
    path = volume.get("Mountpoint") or ""
    if not (client.is_local() and path):
        return limit
    try:
        fs = os.statvfs(path)
    except OSError:
        return limit
    if fs.f_blocks * fs.f_frsize <= limit * 1.01 + 1024 * 1024:
        return (fs.f_blocks - fs.f_bfree) * fs.f_frsize
    return _walked(Path(path))


def _walked(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total


def _holder(image: dict, top: bool) -> str | None:
    """Who keeps an image: a sandbox of this site, someone else, or nobody of its own.

    Untagged, unlabelled images under another image are the classic
    builder's intermediate steps: they are kept by whoever keeps the images
    built on them.
    """
    labels = image.get("Labels") or {}
    sid = _sid(labels)
    if sid:
        return sid
    if LABEL in labels:
        return _OTHER  # another site's (or test run's) sandbox
    tags = [tag for tag in image.get("RepoTags") or [] if tag != "<none>:<none>"]
    if tags or top:
        return _OTHER
    return None


def image_bytes(api, images: list[dict]) -> dict[str, int]:
    """Bytes of image layers the sandboxes' images hold, by sandbox.

    Every image's own part (what it adds to its parent) is charged to each
    sandbox that keeps it, through its own images or the images built on
    it, unless something outside this site's sandboxes keeps it too (a
    lesson image). `images` is the engine's full list, intermediate images
    included.
    """
    by_id = {image["Id"]: image for image in images}
    parent = {
        image_id: (image.get("ParentId") or None) for image_id, image in by_id.items()
    }
    has_children = {p for p in parent.values() if p}
    holders: dict[str, set[str]] = defaultdict(set)
    for image_id, image in by_id.items():
        holder = _holder(image, top=image_id not in has_children)
        node = image_id
        while holder is not None and node in by_id and holder not in holders[node]:
            # Marks run up to the root, so a node that has this holder
            # already has it on every ancestor too.
            holders[node].add(holder)
            node = parent[node]
    charged: dict[str, int] = defaultdict(int)
    for image_id, kept_by in holders.items():
        if _OTHER in kept_by:
            continue
        own = _own_bytes(api, by_id, image_id, holders)
        for sid in kept_by:
            charged[sid] += own
    for stale in set(_layers) - set(by_id):
        _layers.pop(stale, None)
    return dict(charged)


def _size(image: dict) -> int:
    return max(0, image.get("Size") or 0)


def _own_bytes(api, by_id: dict, image_id: str, holders: dict) -> int:
    """What an image adds to the image under it."""
    image = by_id[image_id]
    parent = image.get("ParentId")
    if parent and parent in by_id:
        return max(0, _size(image) - _size(by_id[parent]))
    # Pulled or loaded: no parent recorded. The image under it is the
    # longest chain of its layers that another kept image has.
    layers = _layers_of(api, image_id)
    base = 0
    for other_id, other in by_id.items():
        if other_id == image_id or not holders.get(other_id):
            continue
        if _size(other) <= base or _size(other) > _size(image):
            continue
        theirs = _layers_of(api, other_id)
        if theirs and layers[: len(theirs)] == theirs:
            base = _size(other)
    return max(0, _size(image) - base)


def _layers_of(api, image_id: str) -> tuple[str, ...]:
    layers = _layers.get(image_id)
    if layers is None:
        try:
            with client.translate_errors():
                data = api.inspect_image(image_id)
        except client.NotFound:
            return ()
        layers = tuple((data.get("RootFS") or {}).get("Layers") or ())
        _layers[image_id] = layers
    return layers


# ----------------------------------------------------------- enforcement


def limit_bytes() -> int:
    return settings.DOCKERLAB_SANDBOX_DISK_MB * 1024 * 1024


def shown(size: int) -> str:
    """Bytes as a learner reads them: 2.3 GB, 512 MB."""
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= scale:
            text = f"{size / scale:.1f}".rstrip("0").rstrip(".")
            return f"{text} {unit}"
    return f"{size} bytes"


def over_message(used: int, limit: int) -> str:
    return (
        f"Your sandbox uses {shown(used)} of disk, over its {shown(limit)} limit: "
        "remove images or volumes (docker rmi, docker volume rm, docker system prune)."
    )


def sweep() -> dict[str, dict]:
    """Measure every sandbox, stop the running containers of those over their
    limit, and record the verdicts; returns the recorded entries by sandbox id."""
    usages, where = measure_pool()
    entries = _record(usages)
    for sid, entry in entries.items():
        if entry["over"] and sid in where:
            with pool.using(where[sid]):
                stopped = _stop_running(sid)
            entry["stopped"] = sorted(set(entry.get("stopped", [])) | set(stopped))
            if stopped:
                log.warning(
                    "disk: sandbox %s is over its limit (%s); stopped %s",
                    sid,
                    shown(entry["used"]),
                    ", ".join(stopped),
                )
    _write(entries)
    return entries


def measure_pool() -> tuple[dict[str, Usage], dict[str, str]]:
    """measure() on every engine of the pool (engine/pool.py), and the engine
    each sandbox was found on. An engine that does not answer is left out
    until it answers again; with none answering, the engine's error is raised."""
    usages: dict[str, Usage] = {}
    where: dict[str, str] = {}
    for name, found in on_each_engine(measure, "its disk use is measured later").items():
        for sid, usage in found.items():
            usages[sid] = usage
            where[sid] = name
    return usages, where


def _stop_running(sid: str) -> list[str]:
    """Stop the sandbox's running containers; their learner names."""
    deployment = f"{DEPLOYMENT_LABEL}={settings.DOCKERLAB_DEPLOYMENT}"
    flt = {"label": [f"{LABEL}={sid}", deployment], "status": ["running"]}
    stopped = []
    with engine_call():
        api = client.api()
        for container in api.containers(filters=flt) or []:
            with contextlib.suppress(client.NotFound, client.Conflict):
                with client.translate_errors():
                    api.stop(container["Id"], timeout=STOP_TIMEOUT)
                names = container.get("Names") or []
                learner = (naming.learner_container(sid, name) for name in names)
                stopped.append(next((n for n in learner if n), container["Id"][:12]))
    return stopped


def _record(usages: dict[str, Usage]) -> dict[str, dict]:
    """Entries for a fresh measurement; the containers stopped earlier are kept
    while the sandbox is still over."""
    limit = limit_bytes()
    now = timezone.now().isoformat().replace("+00:00", "Z")
    before = _read().get("sandboxes", {})
    entries = {}
    for sid, usage in usages.items():
        over = usage.total > limit
        entries[sid] = {
            "used": usage.total,
            "containers": usage.containers,
            "volumes": usage.volumes,
            "images": usage.images,
            "limit": limit,
            "over": over,
            "measured_at": now,
            "stopped": (before.get(sid) or {}).get("stopped", []) if over else [],
        }
    return entries


def refresh() -> dict[str, dict]:
    """Measure again and record, stopping nothing (on demand)."""
    entries = _record(measure())
    _write(entries)
    return entries


def usage(sandbox: Sandbox) -> dict:
    """The sandbox's disk use as last measured, for its page.

    Keys: used, containers, volumes, images (bytes), limit (bytes), over,
    measured_at (ISO time, None before any measurement), stopped (container
    names stopped for being over), message (for the learner, None when under).
    """
    record = _read()
    entry = record.get("sandboxes", {}).get(sandbox.sid)
    if entry is None:
        entry = {
            **dict.fromkeys(("used", "containers", "volumes", "images"), 0),
            "limit": limit_bytes(),
            "over": False,
            "measured_at": record.get("measured_at"),
            "stopped": [],
        }
    entry = dict(entry)
    over = entry["over"]
    entry["message"] = over_message(entry["used"], entry["limit"]) if over else None
    return entry


def check_room(sandbox: Sandbox) -> None:
    """Refuse a new container, volume or image while the sandbox is over its limit.

    Only an "over" verdict costs anything: it is measured again first (at
    most every RECHECK_SECONDS), so removing images lets the learner go on.
    """
    entry = _read().get("sandboxes", {}).get(sandbox.sid)
    if not entry or not entry.get("over"):
        return
    last = _rechecked.get(sandbox.sid, 0.0)
    if time.monotonic() - last >= RECHECK_SECONDS:
        _rechecked[sandbox.sid] = time.monotonic()
        entry = refresh().get(sandbox.sid)
        if not entry or not entry["over"]:
            return
    raise QuotaExceeded(over_message(entry["used"], entry["limit"]), code=MESSAGE_CODE)


# ------------------------------------------------------------------ record


def record_path() -> Path:
    return Path(settings.VAR_DIR) / "disk" / f"{settings.DOCKERLAB_DEPLOYMENT}.json"


def _read() -> dict:
    try:
        with open(record_path(), encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(entries: dict[str, dict]) -> None:
    path = record_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "measured_at": timezone.now().isoformat().replace("+00:00", "Z"),
        "sandboxes": entries,
    }
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".disk-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
