"""Running, stopping and looking at a sandbox's containers, always by label first."""

from __future__ import annotations

import contextlib
import re
import shlex
import time
from typing import Any

from django.conf import settings

from engine import client
from sandboxes import naming
from sandboxes.errors import (
    BadRequest,
    InvalidName,
    NotInSandbox,
    QuotaExceeded,
    SandboxError,
)
from sandboxes.models import Sandbox
from sandboxes.services import capacity, disk, networks
from sandboxes.services.common import (
    drop_idle_network,
    engine_call,
    sandbox_lock,
)
from sandboxes.services.images import (
    find_image,
    image_view,
    iso,
    learner_tags,
    lesson_image,
    own_images,
    runnable_image,
)

_ID = re.compile(r"^[0-9a-f]{4,64}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_ENV = 32
MAX_COMMAND_CHARS = 2048
MAX_COMMAND_WORDS = 64
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

# Everything else the engine grants by default goes: no raw sockets, no
# mknod, no chroot, no audit or capability juggling. What stays is what
# ordinary images need to start (database entrypoints drop to their own user).
CAP_ADD = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "SETGID",
    "SETUID",
    "KILL",
    "NET_BIND_SERVICE",
]

# Engine-side details of inspect output that say nothing to a learner and
# reveal the host's layout.
_HIDDEN_KEYS = {"LogPath", "ResolvConfPath", "HostnamePath", "HostsPath", "GraphDriver"}


def own_containers(sandbox: Sandbox) -> list[dict]:
    with engine_call(sandbox):
        return client.api().containers(all=True, filters=sandbox.label_filter()) or []


def find_container(sandbox: Sandbox, ref: str) -> dict:
    """The sandbox's container a learner means, by name or id prefix (a list entry).

    Only containers labelled with this sandbox are searched, so another
    sandbox's container is "not found" exactly like one that never existed.
    """
    if not isinstance(ref, str) or not ref:
        raise InvalidName("Give a container name, like web.")
    if not _ID.match(ref):
        naming.check_container_name(ref)
    wanted = "/" + naming.container_prefix(sandbox.sid) + ref
    containers = own_containers(sandbox)
    for container in containers:
        if wanted in (container.get("Names") or []):
            return container
    if _ID.match(ref):
        matches = [c for c in containers if c.get("Id", "").startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InvalidName(
                f"{ref!r} matches several containers: give more of the id."
            )
    raise NotInSandbox(f"There is no container {ref!r} in your sandbox.")


def container_view(sandbox: Sandbox, container: dict) -> dict:
    """A list entry as the learner sees it (names without the sandbox prefix)."""
    name = ""
    for engine_name in container.get("Names") or []:
        learner = naming.learner_container(sandbox.sid, engine_name)
        if learner is not None:
            name = learner
            break
    ports = []
    for port in container.get("Ports") or []:
        if port.get("PublicPort"):
            entry = {
                "container": port.get("PrivatePort"),
                "host": port.get("PublicPort"),
            }
            if entry not in ports:
                ports.append(entry)
    return {
        "name": name,
        "image": naming.strip(sandbox.sid, container.get("Image", "")),
        "status": container.get("Status", ""),
        "state": container.get("State", ""),
        "ports": ports,
        "id": container.get("Id", "")[:12],
        "created": iso(container.get("Created")),
    }


def parse_command(command: Any) -> list[str]:
    """A container command as a learner types it after the image name.

    Split like a shell would split it (quotes group words), but never run by
    one: `python -c "print(1)"` becomes three arguments. A shell, when wanted,
    is asked for explicitly: `sh -c "echo $HOME"`.
    """
    if isinstance(command, list):
        words = command
        if not all(isinstance(word, str) for word in words):
            raise BadRequest("Each word of the command must be text.")
    elif isinstance(command, str):
        if len(command) > MAX_COMMAND_CHARS:
            raise BadRequest(f"The command is too long (at most {MAX_COMMAND_CHARS} characters).")
        if _CONTROL.search(command):
            raise BadRequest("The command must be one line of plain text.")
        try:
            words = shlex.split(command)
        except ValueError:
            raise BadRequest(
                "The command has a quote that is never closed: close it, or escape it with \\."
            ) from None
    else:
        raise BadRequest("The command must be text.")
    if not words:
        raise BadRequest("Type a command to run, for example: python --version")
    if len(words) > MAX_COMMAND_WORDS or sum(len(w) for w in words) > MAX_COMMAND_CHARS:
        raise BadRequest(f"The command is too long (at most {MAX_COMMAND_WORDS} words).")
    if any(_CONTROL.search(word) for word in words):
        raise BadRequest("The command must be one line of plain text.")
    return words


def _mounts(
    sandbox: Sandbox, engine_ref: str, volumes: dict[str, str] | None
) -> list | None:
    """Volume mounts: the sandbox's named volumes, never a path on the host.

    The image's own VOLUME paths get anonymous volumes made here rather than
    by the engine, so they carry the sandbox's labels like everything else
    (the reaper finds them; removing the container removes them) and a size
    where the engine has quotas. A sandbox over its disk limit gets no new
    container and no new volume.
    """
    disk.check_room(sandbox)
    mounts = []
    targets = set()
    for source, target in (volumes or {}).items():
        if not source.startswith(naming.container_prefix(sandbox.sid)) or "/" in source:
            raise BadRequest(f"{source!r} is not one of your sandbox's volumes.")
        if not isinstance(target, str) or not target.startswith("/") or ":" in target:
            raise BadRequest(f"{target!r} is not a path inside the container.")
        mounts.append(client.volume_mount(target, source))
        targets.add(target)
    with engine_call(sandbox):
        config = client.api().inspect_image(engine_ref).get("Config") or {}
    for target in sorted(config.get("Volumes") or {}):
        if target not in targets:
            mounts.append(
                client.volume_mount(
                    target,
                    None,
                    labels=sandbox.labels(),
                    driver_opts=disk.volume_driver_opts(),
                )
            )
    return mounts or None


def _host_config(
    api, sandbox: Sandbox, network: str, port: int | None, mounts: list | None = None
) -> dict:
    memory = f"{settings.DOCKERLAB_CONTAINER_MEMORY_MB}m"
    return api.create_host_config(
        mem_limit=memory,
        memswap_limit=memory,
        nano_cpus=int(settings.DOCKERLAB_CONTAINER_CPUS * 1_000_000_000),
        pids_limit=settings.DOCKERLAB_CONTAINER_PIDS,
        log_config={
            "Type": "json-file",
            "Config": {
                "max-size": settings.DOCKERLAB_CONTAINER_LOG_MAX_SIZE,
                # Two files, not one: with one, each rotation truncates the
                # file under a follower and the engine's follow stops early.
                "max-file": "2",
            },
        },
        privileged=False,
        security_opt=["no-new-privileges"],
        cap_drop=["ALL"],
        cap_add=CAP_ADD,
        # On the engine's publish address (engine/pool.py): 127.0.0.1 for an
        # engine on this machine, so nothing outside reaches the app directly.
        port_bindings={port: (client.publish_host(), None)} if port is not None else None,
        mounts=mounts,
        # The writable layer's size, where the engine has quotas.
        storage_opt=disk.container_storage_opt(),
        network_mode=network,
        restart_policy={"Name": "no"},
    )


def check_env(env: Any) -> dict[str, str]:
    """Environment variables for a container: a few plain NAME=value pairs."""
    if env is None:
        return {}
    if not isinstance(env, dict) or len(env) > MAX_ENV:
        raise BadRequest(
            f"Give at most {MAX_ENV} environment variables as NAME: value."
        )
    checked = {}
    for key, value in env.items():
        if not isinstance(key, str) or not _ENV_NAME.match(key):
            raise BadRequest(
                f"{str(key)[:40]!r} is not a variable name (letters, digits, _)."
            )
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise BadRequest(f"The value of {key} must be text.")
        value = str(value)
        if len(value) > 4096 or "\0" in value:
            raise BadRequest(f"The value of {key} is too long or not plain text.")
        checked[key] = value
    return checked


def run_container(
    sandbox: Sandbox,
    image: str,
    name: str | None = None,
    port: int | None = 5002,
    env: dict[str, str] | None = None,
    command: str | list[str] | None = None,
    *,
    aliases: tuple[str, ...] = (),
    labels: dict[str, str] | None = None,
    volumes: dict[str, str] | None = None,
    healthcheck: dict | None = None,
    network: str | None = None,
) -> dict:
    """Create and start a container from the learner's image (or a lesson image).

    `port` is published on 127.0.0.1 (None publishes nothing). `env` sets
    environment variables (the database lesson passes MYSQL_HOST to the app
    and MARIADB_* to the database). `command` replaces the image's own, as
    in `docker run IMAGE COMMAND`.

    For Compose only: `aliases` are more names on the sandbox network,
    `labels` more labels (the sandbox's own always win), `volumes` maps the
    engine names of the sandbox's own named volumes to container paths, and
    `healthcheck` is the engine's health check.

    `network` is `docker run --network`: None or `bridge` is the sandbox's
    own network, `none` no network at all (nothing can be published), any
    other name one of the sandbox's networks (services.networks).
    """
    if port is not None and (
        not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535
    ):
        raise BadRequest("The container port must be a number from 1 to 65535.")
    argv = None if command is None else parse_command(command)
    environment = check_env(env)
    engine_ref, learner_ref = runnable_image(sandbox, image)
    if name is None:
        name = naming.auto_container_name(learner_ref)
    engine_name = naming.engine_container(sandbox.sid, name)
    mounts = _mounts(sandbox, engine_ref, volumes)
    capacity.admit(sandbox)
    if network == "none" and port is not None:
        raise BadRequest(
            "A container with --network none has no network to publish a port on: "
            "leave out -p."
        )
    with sandbox_lock(sandbox):
        network = networks.run_network(sandbox, network)
        limit = settings.DOCKERLAB_MAX_CONTAINERS
        if len(own_containers(sandbox)) >= limit:
            raise QuotaExceeded(
                f"Your sandbox already has {limit} containers, the most it may hold: "
                "remove one first."
            )
        with engine_call(sandbox):
            api = client.api()
            created = api.create_container(
                engine_ref,
                name=engine_name,
                labels={**(labels or {}), **sandbox.labels()},
                command=argv,
                healthcheck=healthcheck,
                environment=environment or None,
                ports=[port] if port is not None else None,
                host_config=_host_config(api, sandbox, network, port, mounts),
                # Inside the sandbox network the container answers to the
                # learner's name (`web`, `db`), as it would on their own machine.
                networking_config=None
                if network == "none"
                else api.create_networking_config(
                    {network: api.create_endpoint_config(aliases=[name, *aliases])}
                ),
                detach=True,
            )
    container_id = created["Id"]
    try:
        with engine_call(sandbox):
            client.api().start(container_id)
    except Exception:
        # A container that cannot start would only hold its name and a quota
        # slot; the learner sees the engine's reason instead.
        with contextlib.suppress(SandboxError), engine_call(sandbox):
            client.api().remove_container(container_id, force=True, v=True)
        _release_network(sandbox)
        raise
    return container_view(sandbox, find_container(sandbox, container_id))


def stop_container(sandbox: Sandbox, container: str, timeout: int = 5) -> dict:
    found = find_container(sandbox, container)
    with engine_call(sandbox):
        client.api().stop(found["Id"], timeout=timeout)
    return container_view(sandbox, find_container(sandbox, found["Id"]))


def start_container(sandbox: Sandbox, container: str) -> dict:
    """`docker start NAME`: start a stopped container again (its writable layer kept)."""
    found = find_container(sandbox, container)
    capacity.admit(sandbox)
    with engine_call(sandbox):
        client.api().start(found["Id"])
    return container_view(sandbox, find_container(sandbox, found["Id"]))


def restart_container(sandbox: Sandbox, container: str, timeout: int = 5) -> dict:
    """`docker restart NAME`: stop (SIGTERM, then SIGKILL after `timeout` s) and start again."""
    found = find_container(sandbox, container)
    with engine_call(sandbox):
        client.api().restart(found["Id"], timeout=timeout)
    return container_view(sandbox, find_container(sandbox, found["Id"]))


def remove_container(sandbox: Sandbox, container: str, force: bool = True) -> dict:
    found = find_container(sandbox, container)
    try:
        with engine_call(sandbox):
            client.api().remove_container(found["Id"], force=force, v=True)
    except SandboxError as exc:
        # Another request (a second tab, a double click) is removing it
        # already: that is the outcome asked for, once it is done.
        if "already in progress" not in exc.message or not _gone(sandbox, found["Id"]):
            raise
    _release_network(sandbox)
    return {"removed": container_view(sandbox, found)["name"]}


def _gone(sandbox: Sandbox, container_id: str, wait: float = 10.0) -> bool:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            find_container(sandbox, container_id)
        except NotInSandbox:
            return True
        time.sleep(0.2)
    return False


def _release_network(sandbox: Sandbox) -> None:
    # Housekeeping: the action itself has succeeded whatever happens here.
    with contextlib.suppress(SandboxError):
        drop_idle_network(sandbox)


def _stripped(sandbox: Sandbox, value: Any) -> Any:
    if isinstance(value, dict):
        return {
            _stripped(sandbox, key): _stripped(sandbox, item)
            for key, item in value.items()
            if key not in _HIDDEN_KEYS
        }
    if isinstance(value, list):
        return [_stripped(sandbox, item) for item in value]
    if isinstance(value, str):
        return naming.strip(sandbox.sid, value)
    return value


def inspect(sandbox: Sandbox, kind: str, name: str) -> dict:
    """The engine's JSON for one of the sandbox's objects, prefixes stripped.

    The lesson images may be inspected too (a learner may run and build on
    them, so there is nothing to hide).
    """
    if kind == "container":
        found = find_container(sandbox, name)
        with engine_call(sandbox):
            data = client.api().inspect_container(found["Id"])
    elif kind == "image":
        try:
            found, _ = find_image(sandbox, name)
            image_id = found["Id"]
        except (InvalidName, NotInSandbox):
            image_id = lesson_image(name)
            if image_id is None:
                raise
        with engine_call(sandbox):
            data = client.api().inspect_image(image_id)
    else:
        raise BadRequest("Inspect a container or an image.")
    for mount in data.get("Mounts") or []:
        if mount.get("Type") == "volume":
            mount.pop("Source", None)  # the volume's folder on the server
    return _stripped(sandbox, data)


def list_state(sandbox: Sandbox) -> dict:
    """The sandbox's images (one entry per tag, like `docker images`) and containers."""
    images = []
    for image in own_images(sandbox):
        tags = learner_tags(sandbox, image)
        for tag in tags or [None]:
            images.append(image_view(sandbox, image, tag))
    images.sort(key=lambda item: item["created"], reverse=True)
    raw_containers = own_containers(sandbox)
    containers = [container_view(sandbox, c) for c in raw_containers]
    return {
        "images": images,
        "containers": containers,
        "volumes": _volume_views(sandbox, raw_containers),
    }


def own_volumes(sandbox: Sandbox) -> list[dict]:
    with engine_call(sandbox):
        return (client.api().volumes(filters=sandbox.label_filter()) or {}).get("Volumes") or []


def _volume_users(sandbox: Sandbox, containers: list[dict]) -> dict[str, list[str]]:
    """Engine volume name -> the learner names of the containers mounting it."""
    users: dict[str, list[str]] = {}
    for container in containers:
        name = container_view(sandbox, container)["name"]
        for mount in container.get("Mounts") or []:
            if mount.get("Type") == "volume" and mount.get("Name"):
                users.setdefault(mount["Name"], []).append(name)
    return users


def _volume_views(sandbox: Sandbox, containers: list[dict]) -> list[dict]:
    users = _volume_users(sandbox, containers)
    views = [
        {
            "name": naming.strip(sandbox.sid, volume["Name"]),
            "created": volume.get("CreatedAt", ""),
            "used_by": sorted(users.get(volume["Name"], [])),
        }
        for volume in own_volumes(sandbox)
    ]
    return sorted(views, key=lambda view: view["created"], reverse=True)


def remove_volume(sandbox: Sandbox, volume: str) -> dict:
    """`docker volume rm`: one of the sandbox's volumes no container uses."""
    if not isinstance(volume, str) or not volume:
        raise InvalidName("Give a volume name.")
    wanted = {volume, naming.container_prefix(sandbox.sid) + volume}
    found = [v for v in own_volumes(sandbox) if v.get("Name") in wanted]
    if not found:
        raise NotInSandbox(f"There is no volume {volume[:80]!r} in your sandbox.")
    busy = _volume_users(sandbox, own_containers(sandbox)).get(found[0]["Name"])
    if busy:
        raise SandboxError(
            f"The volume {volume!r} is in use by {', '.join(sorted(busy))}: "
            "remove the container first.",
            code="conflict",
        )
    with engine_call(sandbox):
        client.api().remove_volume(found[0]["Name"])
    return {"removed": volume}


_ANONYMOUS = re.compile(r"^[0-9a-f]{64}$")


def anonymous(volume_name: str) -> bool:
    """Whether an engine volume name is an anonymous volume's (64 hex digits, no name given)."""
    return bool(_ANONYMOUS.match(volume_name))


def prune_volumes(sandbox: Sandbox, all_volumes: bool = False) -> dict:
    """`docker volume prune [-a]` as Docker Engine 23 and later do it.

    Only volumes no container uses go, and of those only anonymous ones
    unless `all_volumes`: a named volume such as `flaskapp_db-data` survives
    a plain prune. (The lab's engine may be older, whose own prune removed
    named volumes too; this is done here volume by volume, so the lab
    behaves like a current Docker.)
    """
    users = _volume_users(sandbox, own_containers(sandbox))
    removed = []
    with engine_call(sandbox):
        api = client.api()
        for volume in own_volumes(sandbox):
            name = volume["Name"]
            if users.get(name) or not (all_volumes or anonymous(name)):
                continue
            with contextlib.suppress(client.NotFound, client.Conflict):
                with client.translate_errors():
                    api.remove_volume(name)
                removed.append(naming.strip(sandbox.sid, name))
    return {"volumes": sorted(removed)}


def prune(sandbox: Sandbox) -> dict:
    """Remove this sandbox's stopped containers and dangling images, nothing else."""
    with engine_call(sandbox):
        api = client.api()
        label = sandbox.label_filter()["label"]
        containers = api.prune_containers(filters={"label": label})
        images = api.prune_images(filters={"label": label, "dangling": True})
    _release_network(sandbox)
    deleted = [item for item in images.get("ImagesDeleted") or [] if "Deleted" in item]
    return {
        "containers": len(containers.get("ContainersDeleted") or []),
        "images": len(deleted),
        "space_reclaimed": (containers.get("SpaceReclaimed") or 0)
        + (images.get("SpaceReclaimed") or 0),
    }


def published_here(entry: dict) -> bool:
    """Whether a container's port entry is published where this server reaches
    it: on the current engine's publish address (engine/pool.py)."""
    return entry.get("IP") in (client.publish_host(), None, "")


def published_port(sandbox: Sandbox, container: str, port: int = 5002) -> int | None:
    """The loopback host port publishing the container's `port` (else its first)."""
    found = find_container(sandbox, container)
    if found.get("State") != "running":
        return None
    published = [
        p
        for p in found.get("Ports") or []
        if p.get("PublicPort") and published_here(p)
    ]
    for entry in published:
        if entry.get("PrivatePort") == port:
            return int(entry["PublicPort"])
    return int(published[0]["PublicPort"]) if published else None
