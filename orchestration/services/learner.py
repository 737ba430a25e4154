"""A learner's services on the classroom swarm: create, list, scale, update, roll back, remove.

Every action finds its target among the caller's own services first: those
labelled with the sandbox's id and this deployment's id on the manager. A
service name, a service id or id prefix, a task name (`web.2`) or a task id
or prefix of another learner is "not found", word for word as one that
never existed. Names are namespaced (`web` is `dl-<sid>-web` on the swarm)
and shown without the prefix.

The manager only ever receives specs written by orchestration.services.specs
from a checked `Wanted`; never a learner's text. Quotas: services per
sandbox (a stack's services count), replicas per service, published ports
per sandbox (DOCKERLAB_SWARM_MAX_*). A request that breaks one is refused
before anything is pushed or made.

A drain in the lab is the learner's own: `docker node update --availability
drain worker1` adds a placement constraint (`node.hostname!=worker1`) to
each of the learner's services, so the swarm moves only their tasks off
that node, in the order of their update settings; other learners' tasks
stay where they are. The set is kept in a label on every service of the
sandbox (and given to services made later).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

from django.conf import settings

from engine import client
from orchestration import naming as names
from orchestration.errors import SwarmError
from orchestration.services import images, nodes
from orchestration.services import specs as spec_mod
from orchestration.services.specs import Wanted
from sandboxes import labels as label_keys
from sandboxes.errors import (
    BadRequest,
    InvalidName,
    NotInSandbox,
    QuotaExceeded,
    SandboxError,
)
from sandboxes.models import Sandbox
from sandboxes.services.common import sandbox_lock
from sandboxes.services.containers import check_env, parse_command

T = TypeVar("T")

# Tasks of the picture and of `docker service ps`: current ones, and ended ones this recent.
RECENT_S = 60.0
MAX_DELAY_S = 60
MAX_PARALLELISM = 10
# Task states in the order the swarm moves through them.
ACTIVE_STATES = {"new", "pending", "assigned", "accepted", "preparing", "ready", "starting", "running"}


# --- reaching the manager ------------------------------------------------------------


@contextlib.contextmanager
def swarm_call(sandbox: Sandbox | None = None, *, not_found: str | None = None):
    """Calls to the swarm; errors come out as SandboxErrors written for a learner."""
    try:
        with client.translate_errors():
            yield
    except SwarmError as exc:
        raise SandboxError(images.unavailable(exc), code="swarm_unavailable") from None
    except client.EngineUnavailable as exc:
        raise SandboxError(images.unavailable(exc), code="swarm_unavailable") from None
    except client.NotFound as exc:
        raise NotInSandbox(not_found or _shown(sandbox, exc.message)) from None
    except client.Conflict as exc:
        raise SandboxError(_shown(sandbox, exc.message), code="conflict") from None
    except client.EngineError as exc:
        raise SandboxError(_shown(sandbox, exc.message), code="engine_error") from None


def _shown(sandbox: Sandbox | None, text: str) -> str:
    if sandbox is None:
        return text
    return text.replace(names.prefix(sandbox.sid), "")


def manager():
    with swarm_call():
        return nodes.manager_api()


def _label_filter(sandbox: Sandbox, *extra: str) -> dict[str, list[str]]:
    return {
        "label": [
            f"{label_keys.SANDBOX}={sandbox.sid}",
            f"{label_keys.DEPLOYMENT}={settings.DOCKERLAB_DEPLOYMENT}",
            *extra,
        ]
    }


def _post(api, path: str, data: dict, params: dict | None = None, *args) -> dict:
    """A raw manager call with our own JSON (docker-py would merge in its defaults)."""
    response = api._post_json(api._url(path, *args), data=data, params=params)
    return api._result(response, json=True)


# --- lookups ---------------------------------------------------------------------------


def own_services(sandbox: Sandbox) -> list[dict]:
    """The sandbox's services on the swarm (manager list entries), by label."""
    with swarm_call(sandbox):
        found = manager().services(filters=_label_filter(sandbox)) or []
    prefix = names.prefix(sandbox.sid)
    return [
        s for s in found
        if spec_mod.is_sandbox_object(s, sandbox.sid, settings.DOCKERLAB_DEPLOYMENT)
        and (s.get("Spec") or {}).get("Name", "").startswith(prefix)
    ]


def learner_name(sandbox: Sandbox, service: dict) -> str:
    return names.learner_service(sandbox.sid, (service.get("Spec") or {}).get("Name", "")) or "?"


def find_service(sandbox: Sandbox, ref: str, services: list[dict] | None = None) -> dict:
    """The learner's service by name, id or id prefix; NotInSandbox otherwise."""
    if not isinstance(ref, str) or not ref:
        raise InvalidName("Give a service name, like web.")
    services = own_services(sandbox) if services is None else services
    for service in services:
        if learner_name(sandbox, service) == ref:
            return service
    if names.ID_RE.match(ref):
        matches = [s for s in services if s.get("ID", "").startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InvalidName(f"{ref!r} matches several services: give more of the id.")
    raise NotInSandbox(f"There is no service {ref[:60]!r} in your sandbox.")


def tasks_of(sandbox: Sandbox, services: list[dict]) -> list[dict]:
    """Every task the manager keeps of these (own) services."""
    ids = [s["ID"] for s in services]
    if not ids:
        return []
    with swarm_call(sandbox):
        found = manager().tasks(filters={"service": ids}) or []
    return [t for t in found if t.get("ServiceID") in ids]


def find_task(sandbox: Sandbox, ref: str) -> tuple[dict, dict]:
    """(task, service) for `web.2`, `web.2.<id>` or a task id (prefix), own services only."""
    if not isinstance(ref, str) or not ref:
        raise InvalidName("Give a task, like web.1 (as `docker service ps web` names it).")
    services = own_services(sandbox)
    tasks = tasks_of(sandbox, services)
    by_id = {s["ID"]: s for s in services}
    slot = names.TASK_SLOT_RE.match(ref)
    if slot:
        service = find_service(sandbox, slot.group(1), services)
        wanted = [
            t for t in tasks
            if t.get("ServiceID") == service["ID"] and t.get("Slot") == int(slot.group(2))
            and (not slot.group(3) or t["ID"].startswith(slot.group(3)))
            and t.get("DesiredState") == "running"
        ]
        if wanted:
            return wanted[0], service
    elif names.ID_RE.match(ref):
        matches = [t for t in tasks if t.get("ID", "").startswith(ref)]
        if len(matches) == 1:
            return matches[0], by_id[matches[0]["ServiceID"]]
        if len(matches) > 1:
            raise InvalidName(f"{ref!r} matches several tasks: give more of the id.")
    raise NotInSandbox(f"There is no running task {ref[:60]!r} of your services.")


# --- nodes ---------------------------------------------------------------------------------


def node_entries(sandbox: Sandbox | None = None) -> list[dict]:
    with swarm_call(sandbox):
        return manager().nodes() or []


def hostnames_by_id(entries: list[dict]) -> dict[str, str]:
    return {e["ID"]: (e.get("Description") or {}).get("Hostname", "?") for e in entries}


def drained(sandbox: Sandbox, services: list[dict] | None = None) -> set[str]:
    """The nodes this learner drained (for their own services)."""
    services = own_services(sandbox) if services is None else services
    found: set[str] = set()
    for service in services:
        value = ((service.get("Spec") or {}).get("Labels") or {}).get(spec_mod.DRAINED_LABEL)
        found.update(n for n in (value or "").split(",") if n)
    return found


def node_views(sandbox: Sandbox) -> list[dict]:
    """`docker node ls` as the learner sees it: their own drains shown as Drain."""
    mine = drained(sandbox)
    views = []
    for entry in node_entries(sandbox):
        spec = entry.get("Spec") or {}
        hostname = (entry.get("Description") or {}).get("Hostname", "?")
        availability = spec.get("Availability", "active")
        manager_status = entry.get("ManagerStatus") or {}
        views.append({
            "id": entry["ID"][:12],
            "name": hostname,
            "role": spec.get("Role", "?"),
            "state": (entry.get("Status") or {}).get("State", "?"),
            "availability": "drain" if hostname in mine else availability,
            "drained_by_you": hostname in mine,
            "leader": bool(manager_status.get("Leader")),
        })
    return sorted(views, key=lambda v: (v["role"] != "manager", v["name"]))


def set_availability(sandbox: Sandbox, node: str, availability: str) -> dict:
    """`docker node update --availability drain|active NODE`, for this learner's services."""
    if availability not in ("drain", "active"):
        raise BadRequest(
            "In the lab a node is drained or made active for your own services: "
            "--availability drain or active."
        )
    known = {v["name"] for v in node_views(sandbox)}
    if node not in known:
        raise NotInSandbox(f"The swarm has no node {node[:40]!r} (docker node ls lists them).")
    with sandbox_lock(sandbox):
        services = own_services(sandbox)
        now = drained(sandbox, services)
        after = now | {node} if availability == "drain" else now - {node}
        if after >= known:
            raise BadRequest("Draining every node would leave your services nowhere to run.")
        for service in services:
            _update(sandbox, service, lambda w: setattr(w, "drained", tuple(sorted(after))))
    return {"node": node, "availability": availability, "services": len(services)}


# --- views -------------------------------------------------------------------------------


def _since(stamp: str | None) -> float | None:
    if not stamp:
        return None
    with contextlib.suppress(ValueError):
        text = stamp.rstrip("Z").split(".")[0]
        return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()
    return None


def _image_of(spec: dict | None) -> str:
    return (((spec or {}).get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Image", "")


def task_image(sandbox: Sandbox, task: dict, service: dict) -> str:
    """The learner's name of the image a task runs: the service's now, or before its update."""
    image = ((task.get("Spec") or {}).get("ContainerSpec") or {}).get("Image", "")
    for spec in (service.get("Spec"), service.get("PreviousSpec")):
        if spec and _image_of(spec) == image:
            return (spec.get("Labels") or {}).get(spec_mod.IMAGE_LABEL, "")
    return images.learner_image(sandbox, image)


def task_view(sandbox: Sandbox, task: dict, service: dict, hostnames: dict[str, str]) -> dict:
    status = task.get("Status") or {}
    return {
        "id": task.get("ID", ""),
        "name": f"{learner_name(sandbox, service)}.{task.get('Slot', 0)}",
        "service": learner_name(sandbox, service),
        "slot": task.get("Slot", 0),
        "node": hostnames.get(task.get("NodeID", ""), ""),
        "state": status.get("State", "?"),
        "desired": task.get("DesiredState", "?"),
        "image": task_image(sandbox, task, service),
        "message": status.get("Message", ""),
        "error": _shown(sandbox, status.get("Err", "")),
        "exit_code": (status.get("ContainerStatus") or {}).get("ExitCode"),
        "since": status.get("Timestamp", ""),
        "created": task.get("CreatedAt", ""),
    }


def service_view(sandbox: Sandbox, service: dict, tasks: list[dict]) -> dict:
    spec = service.get("Spec") or {}
    labels = spec.get("Labels") or {}
    mine = [t for t in tasks if t.get("ServiceID") == service["ID"]]
    running = sum(
        1 for t in mine
        if (t.get("Status") or {}).get("State") == "running" and t.get("DesiredState") == "running"
    )
    update = service.get("UpdateStatus") or {}
    ports = []
    if labels.get(spec_mod.PUBLISH_LABEL):
        published, _, target = labels[spec_mod.PUBLISH_LABEL].partition(":")
        ports.append({"published": int(published), "target": int(target)})
    return {
        "name": learner_name(sandbox, service),
        "id": service.get("ID", ""),
        "image": labels.get(spec_mod.IMAGE_LABEL, ""),
        "mode": "replicated",
        "replicas": int(((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas", 0)),
        "running": running,
        "ports": ports,
        "stack": labels.get(spec_mod.STACK_LABEL),
        "update": {
            "state": update.get("State", ""),
            "message": _shown(sandbox, update.get("Message", "")),
        },
        "parallelism": int((spec.get("UpdateConfig") or {}).get("Parallelism", 1)),
        "delay_s": int((spec.get("UpdateConfig") or {}).get("Delay", 0)) / 1e9,
    }


def recent(task: dict, now: float | None = None) -> bool:
    """A task worth showing: current, or ended within RECENT_S."""
    if task.get("DesiredState") in ("running", "ready", "accepted"):
        return True
    stamp = _since((task.get("Status") or {}).get("Timestamp"))
    now = time.time() if now is None else now
    return stamp is not None and now - stamp < RECENT_S


def list_services(sandbox: Sandbox) -> list[dict]:
    """`docker service ls`."""
    services = own_services(sandbox)
    tasks = tasks_of(sandbox, services)
    return sorted((service_view(sandbox, s, tasks) for s in services), key=lambda v: v["name"])


def list_tasks(sandbox: Sandbox, ref: str | None = None) -> list[dict]:
    """`docker service ps NAME` (every service's with no name), newest first per slot."""
    services = own_services(sandbox)
    if ref is not None:
        services = [find_service(sandbox, ref, services)]
    tasks = [t for t in tasks_of(sandbox, services) if recent(t)]
    hostnames = hostnames_by_id(node_entries(sandbox))
    by_id = {s["ID"]: s for s in services}
    views = [task_view(sandbox, t, by_id[t["ServiceID"]], hostnames) for t in tasks]
    return sorted(views, key=lambda v: (v["service"], v["slot"], v["created"]), reverse=False)


# --- quotas and checks ---------------------------------------------------------------------


def check_replicas(value: Any) -> int:
    limit = settings.DOCKERLAB_SWARM_MAX_REPLICAS
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequest("--replicas takes a whole number, like 3.")
    if value > limit:
        raise QuotaExceeded(
            f"A service in the lab runs at most {limit} replicas ({value} asked for): "
            f"try --replicas {limit}."
        )
    return value


def check_update_options(parallelism: Any, delay: Any, failure_action: Any) -> None:
    if parallelism is not None and (
        isinstance(parallelism, bool) or not isinstance(parallelism, int)
        or not 0 <= parallelism <= MAX_PARALLELISM
    ):
        raise BadRequest(f"--update-parallelism takes a number from 0 to {MAX_PARALLELISM}.")
    if delay is not None and (
        isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay <= MAX_DELAY_S
    ):
        raise BadRequest(f"--update-delay takes from 0 to {MAX_DELAY_S} seconds, like 5s.")
    if failure_action is not None and failure_action not in spec_mod.FAILURE_ACTIONS:
        raise BadRequest("--update-failure-action is pause, continue or rollback.")


def _check_room(sandbox: Sandbox, services: list[dict], adding: list[Wanted]) -> None:
    """Refuse new services past the quotas, and published ports already in use."""
    limit = settings.DOCKERLAB_SWARM_MAX_SERVICES
    if len(services) + len(adding) > limit:
        raise QuotaExceeded(
            f"Your sandbox runs at most {limit} services on the swarm (a stack's services "
            f"count too); it has {len(services)}: remove one first (docker service rm NAME)."
        )
    used: dict[int, str] = {}
    for service in services:
        label = ((service.get("Spec") or {}).get("Labels") or {}).get(spec_mod.PUBLISH_LABEL)
        if label:
            used[int(label.split(":")[0])] = learner_name(sandbox, service)
    ports = settings.DOCKERLAB_SWARM_MAX_PORTS
    for wanted in adding:
        if not wanted.publish:
            continue
        if wanted.publish[0] in used:
            raise SandboxError(
                f"Port {wanted.publish[0]} is already published by your service "
                f"{used[wanted.publish[0]]}: pick another one, like "
                f"-p {wanted.publish[0] + 1}:{wanted.publish[1]}.",
                code="conflict",
            )
        used[wanted.publish[0]] = wanted.name
        if len(used) > ports:
            raise QuotaExceeded(
                f"Your services publish at most {ports} ports in all: remove a service "
                "that publishes one, or leave -p out."
            )


# --- networks --------------------------------------------------------------------------------


def ensure_network(sandbox: Sandbox, name: str, gone: frozenset[str] = frozenset()) -> str:
    """An overlay network of the sandbox on the swarm, made if missing; returns its id.

    `gone` holds ids a service create was refused on ("not found") a moment
    ago: a removed network the swarm still holds, pending deletion, is
    listed and inspected like a live one, and must not be picked again.
    """
    api = manager()
    with swarm_call(sandbox):
        for net in api.networks(names=[name]) or []:
            if net.get("Name") != name or net["Id"] in gone:
                continue
            if not spec_mod.is_sandbox_object(net, sandbox.sid, settings.DOCKERLAB_DEPLOYMENT):
                raise SandboxError(f"A network called {name} exists but is not yours.", code="conflict")
            if _in_swarm(api, net["Id"]):
                return net["Id"]
        # No usable one. The manager engine's own list may keep a removed one's name a
        # moment longer than the swarm, so only the swarm is asked whether it is free.
        created = api.create_network(
            name, driver="overlay", labels=sandbox.labels(), check_duplicate=False
        )
    return created["Id"]


def _in_swarm(api, network_id: str) -> bool:
    """Whether the manager still knows this network (its engine's copy may be on its way out)."""
    try:
        with client.translate_errors():
            api.inspect_network(network_id, scope="swarm")
    except client.NotFound:
        return False
    return True


def drop_idle_networks(sandbox: Sandbox) -> None:
    """Remove the sandbox's swarm networks no service of it uses any more."""
    with contextlib.suppress(SandboxError):
        services = own_services(sandbox)
        used = {
            attachment.get("Target")
            for s in services
            for attachment in ((s.get("Spec") or {}).get("TaskTemplate") or {}).get("Networks")
            or []
        }
        api = manager()
        with swarm_call(sandbox):
            for net in api.networks(filters=_label_filter(sandbox)) or []:
                if net["Id"] not in used:
                    with contextlib.suppress(client.NotFound, client.Conflict, client.EngineError):
                        api.remove_network(net["Id"])


# --- create, update, scale, rollback, remove -----------------------------------------------------


def wanted_service(
    sandbox: Sandbox,
    name: str,
    image: str,
    *,
    replicas: Any = 1,
    publish: str | None = None,
    env: Any = None,
    command: Any = None,
    parallelism: Any = None,
    delay: Any = None,
    failure_action: Any = None,
) -> Wanted:
    """A `docker service create` request checked (image not pushed yet)."""
    names.check_service(name)
    check_update_options(parallelism, delay, failure_action)
    return Wanted(
        name=name,
        image="",
        learner_image=str(image),
        replicas=check_replicas(replicas),
        publish=names.parse_publish(publish) if publish else None,
        env=check_env(env),
        args=parse_command(command) if command else None,
        aliases=(name,),
        parallelism=1 if parallelism is None else parallelism,
        delay_s=0.0 if delay is None else float(delay),
        failure_action=failure_action or "pause",
    )


def create(sandbox: Sandbox, wanted: Wanted) -> Iterator[dict]:
    """`docker service create`: checks, pushes the image, creates; events as a build's.

    Ends with {"kind": "done", "image": learner image, "service": the view}.
    """
    services = own_services(sandbox)
    if any(learner_name(sandbox, s) == wanted.name for s in services):
        raise SandboxError(
            f"You already have a service called {wanted.name}: change it with docker service "
            f"update, or remove it first (docker service rm {wanted.name}).",
            code="conflict",
        )
    _check_room(sandbox, services, [wanted])
    images.resolve(sandbox, wanted.learner_image)  # not found: before any push
    pushed = None
    for event in images.push(sandbox, wanted.learner_image):
        if event["kind"] == "pushed":
            pushed = event["image"]
        else:
            yield event
    wanted.image, wanted.learner_image = pushed.pinned, pushed.learner
    wanted.drained = tuple(sorted(drained(sandbox, services)))
    yield {"kind": "line", "text": f"Creating service {wanted.name}\n"}
    with sandbox_lock(sandbox):
        services = own_services(sandbox)
        _check_room(sandbox, services, [wanted])
        created = _create_on_network(sandbox, wanted)
    service = _inspect(sandbox, created["ID"])
    yield {"kind": "done", "image": pushed.learner, "service": service_view(sandbox, service, [])}


# How long a create waits for a network on its way out to go (seconds).
NETWORK_WAIT_S = 60.0


def _create_on_network(sandbox: Sandbox, wanted: Wanted) -> dict:
    """Create the service on the sandbox's network (held by the caller's sandbox lock)."""

    def create(network: str) -> dict:
        spec = spec_mod.service_spec(
            names.engine_service(sandbox.sid, wanted.name), sandbox.labels(), wanted, network
        )
        with swarm_call(sandbox):
            return _post(manager(), "/services/create", spec)

    return on_network(sandbox, names.network(sandbox.sid), create)


def on_network(sandbox: Sandbox, name: str, create: Callable[[str], T]) -> T:
    """`create(network id)` on the sandbox's swarm network `name`, made if missing.

    Held by the caller's sandbox lock. A network whose last service just went
    is removed, but the swarm keeps it (pending deletion) until its tasks'
    endpoints are freed on every node, seconds on a busy machine: the manager
    lists and inspects it, a create on it fails with "network ... not found",
    and a new network of the same name is refused ("already exists") until
    it is gone. So it is passed over, and `create` tried again until a new
    one can be made (at most NETWORK_WAIT_S).
    """
    deadline = time.monotonic() + NETWORK_WAIT_S
    gone: set[str] = set()
    while True:
        network = None
        try:
            network = ensure_network(sandbox, name, frozenset(gone))
            return create(network)
        except SandboxError as exc:
            refused = network is not None and network in exc.message and "not found" in exc.message
            name_held = network is None and "already exists" in exc.message
            if not (refused or name_held):
                drop_idle_networks(sandbox)  # none made for nothing stays
                raise
            if time.monotonic() > deadline:
                raise SandboxError(
                    "The swarm is still removing the network of your last service: "
                    "try again in a minute.",
                    code="conflict",
                ) from None
            if refused:
                gone.add(network)
            time.sleep(0.5)


def _inspect(sandbox: Sandbox, service_id: str) -> dict:
    with swarm_call(sandbox, not_found="That service is gone."):
        return manager().inspect_service(service_id)


def _update(sandbox: Sandbox, service: dict, change, *, rollback: bool = False) -> dict:
    """Write the service's spec anew from its own, changed by `change(wanted)`."""
    current = _inspect(sandbox, service["ID"])
    spec = current.get("Spec") or {}
    name = learner_name(sandbox, current)
    wanted = spec_mod.wanted_from(spec, name)
    network = ((spec.get("TaskTemplate") or {}).get("Networks") or [{}])[0].get("Target", "")
    params: dict[str, Any] = {"version": current["Version"]["Index"]}
    if rollback:
        params["rollback"] = "previous"
        new_spec = spec
    else:
        change(wanted)
        new_spec = spec_mod.service_spec(spec["Name"], _sandbox_labels(sandbox), wanted, network)
    try:
        with swarm_call(sandbox):
            _post(manager(), "/services/{0}/update", new_spec, params, service["ID"])
    except SandboxError as exc:
        if "out of sequence" in exc.message or "update out of" in exc.message:
            raise SandboxError(
                f"{name} changed meanwhile (another tab?): try again.", code="conflict"
            ) from None
        raise
    return _inspect(sandbox, service["ID"])


def _sandbox_labels(sandbox: Sandbox) -> dict[str, str]:
    return sandbox.labels()


def scale(sandbox: Sandbox, ref: str, replicas: Any) -> dict:
    """`docker service scale NAME=N`."""
    count = check_replicas(replicas)
    service = find_service(sandbox, ref)
    updated = _update(sandbox, service, lambda w: setattr(w, "replicas", count))
    return service_view(sandbox, updated, [])


def update(
    sandbox: Sandbox,
    ref: str,
    *,
    image: str | None = None,
    replicas: Any = None,
    parallelism: Any = None,
    delay: Any = None,
    failure_action: Any = None,
    force: bool = False,
) -> Iterator[dict]:
    """`docker service update [--image ...] [--update-*] NAME`; events as a build's."""
    check_update_options(parallelism, delay, failure_action)
    count = None if replicas is None else check_replicas(replicas)
    service = find_service(sandbox, ref)
    pushed = None
    if image is not None:
        images.resolve(sandbox, image)  # a tag that does not exist: refused, nothing changed
        for event in images.push(sandbox, image):
            if event["kind"] == "pushed":
                pushed = event["image"]
            else:
                yield event

    def change(wanted: Wanted) -> None:
        if pushed is not None:
            wanted.image, wanted.learner_image = pushed.pinned, pushed.learner
        if count is not None:
            wanted.replicas = count
        if parallelism is not None:
            wanted.parallelism = parallelism
        if delay is not None:
            wanted.delay_s = float(delay)
        if failure_action is not None:
            wanted.failure_action = failure_action

    name = learner_name(sandbox, service)
    yield {"kind": "line", "text": f"Updating service {name}\n"}
    updated = _update(sandbox, service, change)
    if force:
        updated = _force(sandbox, updated)
    view = service_view(sandbox, updated, [])
    yield {"kind": "done", "image": view["image"], "service": view}


def _force(sandbox: Sandbox, service: dict) -> dict:
    spec = service["Spec"]
    template = spec["TaskTemplate"]
    template["ForceUpdate"] = int(template.get("ForceUpdate", 0)) + 1
    with swarm_call(sandbox):
        _post(manager(), "/services/{0}/update", spec,
              {"version": service["Version"]["Index"]}, service["ID"])
    return _inspect(sandbox, service["ID"])


def rollback(sandbox: Sandbox, ref: str) -> dict:
    """`docker service rollback NAME`: back to the spec before the last update."""
    service = find_service(sandbox, ref)
    if not service.get("PreviousSpec"):
        raise SandboxError(
            f"{learner_name(sandbox, service)} has not been updated: there is nothing to roll "
            "back to.",
            code="conflict",
        )
    updated = _update(sandbox, service, None, rollback=True)
    return service_view(sandbox, updated, [])


def remove(sandbox: Sandbox, ref: str) -> dict:
    """`docker service rm NAME`."""
    service = find_service(sandbox, ref)
    name = learner_name(sandbox, service)
    if ((service.get("Spec") or {}).get("Labels") or {}).get(spec_mod.STACK_LABEL):
        stack = service["Spec"]["Labels"][spec_mod.STACK_LABEL]
        raise SandboxError(
            f"{name} belongs to the stack {stack}: remove the stack (docker stack rm {stack}).",
            code="conflict",
        )
    with swarm_call(sandbox, not_found=f"There is no service {name!r} in your sandbox."):
        manager().remove_service(service["ID"])
    drop_idle_networks(sandbox)
    return {"removed": name}


def kill_task(sandbox: Sandbox, ref: str) -> dict:
    """Kill the container of one of the learner's tasks on its node; the swarm replaces it."""
    task, service = find_task(sandbox, ref)
    container = ((task.get("Status") or {}).get("ContainerStatus") or {}).get("ContainerID")
    if not container or (task.get("Status") or {}).get("State") != "running":
        raise SandboxError(
            f"{learner_name(sandbox, service)}.{task.get('Slot')} has no running container "
            "yet: wait until it runs.",
            code="conflict",
        )
    hostname = hostnames_by_id(node_entries(sandbox)).get(task.get("NodeID", ""), "")
    with swarm_call(sandbox, not_found="That task's container is gone already."):
        api = nodes.node_api(hostname)
        info = api.inspect_container(container)
        labels = (info.get("Config") or {}).get("Labels") or {}
        # The container is the task's, on the node the manager named: checked both ways.
        if labels.get("com.docker.swarm.task.id") != task["ID"]:
            raise NotInSandbox("That task's container is gone already.")
        api.kill(container)
    name = f"{learner_name(sandbox, service)}.{task.get('Slot')}"
    return {"killed": name, "task": task["ID"], "node": hostname, "at": time.time()}


# --- reaching a service's tasks ------------------------------------------------------------


def _node_addresses(sandbox: Sandbox) -> dict[str, str]:
    """Node id -> the address the site reaches it at, only where that is a swarm node's.

    With the site's own swarm, a node's address must be one the topology gave
    it (so nothing the manager reports can point the site elsewhere); with an
    existing swarm, it is the address the manager reports.
    """
    entries = node_entries(sandbox)
    allowed = None
    if not nodes.external():
        from orchestration import topology

        allowed = {node.ip for node in topology.configured().nodes}
    found = {}
    for entry in entries:
        address = (entry.get("Status") or {}).get("Addr", "")
        if address and (allowed is None or address in allowed):
            found[entry["ID"]] = address
    return found


def endpoints(sandbox: Sandbox, ref: str) -> tuple[dict, list[tuple[str, int, str]]]:
    """(service, [(node address, port, task name)]) of its running tasks that publish its port."""
    service = find_service(sandbox, ref)
    labels = (service.get("Spec") or {}).get("Labels") or {}
    if not labels.get(spec_mod.PUBLISH_LABEL):
        return service, []
    target = int(labels[spec_mod.PUBLISH_LABEL].split(":")[1])
    addresses = _node_addresses(sandbox)
    found = []
    for task in tasks_of(sandbox, [service]):
        status = task.get("Status") or {}
        if status.get("State") != "running" or task.get("DesiredState") != "running":
            continue
        for port in (status.get("PortStatus") or {}).get("Ports") or []:
            if port.get("TargetPort") == target and port.get("PublishedPort"):
                address = addresses.get(task.get("NodeID", ""))
                if address:
                    name = f"{learner_name(sandbox, service)}.{task.get('Slot')}"
                    found.append((address, int(port["PublishedPort"]), name))
    return service, found
