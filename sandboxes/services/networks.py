"""A sandbox's own networks: `docker network create/ls/inspect/connect/disconnect/rm`.

A learner's network `flask-net` is the engine network `dl-<sid>-flask-net`,
labelled like every other object of the sandbox (so the reaper and the lab's
capacity count find it) and found by label first, so another sandbox's
network is "not found" by any name or id, exactly like one that never
existed.

Invariants:
- every network is a bridge whose host interface is named `dl-<sid>XY` (two
  hex digits after the sandbox id: 15 characters, the kernel's limit), so
  the host guard that covers `dl-*` interfaces covers it, as it covers the
  sandbox's own network (`dl-<sid>`, see common.ensure_network);
- a sandbox holds at most DOCKERLAB_MAX_NETWORKS networks of its own besides
  its default one, and a new one must fit the lab's network budget
  (capacity.admit_network);
- the names `bridge`, `host`, `none` and `default` mean what they mean to
  docker and cannot be created; `bridge` is the sandbox's default network
  (the one every container joins unless told otherwise); `net` is refused
  because the default network's engine name ends in it;
- a container joins a network under its learner name as an alias, so the
  other containers there find it by that name, as on a user-defined
  network on the learner's own machine.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from django.conf import settings

from engine import client
from sandboxes import naming
from sandboxes.errors import BadRequest, InvalidName, NotInSandbox, QuotaExceeded, SandboxError
from sandboxes.models import Sandbox
from sandboxes.services import capacity
from sandboxes.services.common import (
    BRIDGE_NAME_OPTION,
    bridge_name,
    engine_call,
    ensure_network,
    sandbox_lock,
)

DEFAULT = "bridge"
# Docker's own network names (`docker network create bridge` fails there too).
PREDEFINED = ("bridge", "host", "none", "default")
_ID = re.compile(r"^[0-9a-f]{4,64}$")
# Engine-side details that reveal the server's layout, not the learner's network.
_HIDDEN_OPTIONS = {BRIDGE_NAME_OPTION}


def engine_network(sid: str, name: str) -> str:
    """`flask-net` -> `dl-<sid>-flask-net` (validated)."""
    return naming.container_prefix(sid) + check_network_name(name)


def check_network_name(name: Any) -> str:
    """A name a learner may give a network of their own."""
    if not isinstance(name, str) or not name:
        raise InvalidName("Give a network name, like flask-net.")
    if not naming.NAME_RE.match(name):
        raise InvalidName(
            f"The network name {name[:40]!r} is not allowed: use lowercase letters, "
            "digits and . _ - (starting with a letter or digit, at most 63 characters)."
        )
    if name in PREDEFINED:
        raise InvalidName(
            f"{name} is one of docker's own networks, which always exist: pick another name."
        )
    if name == "net":
        raise InvalidName(
            "In the lab, net is the name your sandbox's default network has on the engine: "
            "pick another name, like flask-net."
        )
    return name


def _learner_name(sandbox: Sandbox, engine_name: str) -> str:
    if engine_name == sandbox.network:
        return DEFAULT
    return naming.learner_container(sandbox.sid, engine_name) or engine_name


def own_networks(sandbox: Sandbox) -> list[dict]:
    """The sandbox's networks on the engine (its default one included, if it exists)."""
    with engine_call(sandbox):
        found = client.api().networks(filters=sandbox.label_filter()) or []
    sid = sandbox.sid
    return [n for n in found if (n.get("Labels") or {}).get("org.dockerlab.sandbox") == sid]


def learner_networks(sandbox: Sandbox) -> list[dict]:
    """The networks the learner created (not the sandbox's default one)."""
    return [n for n in own_networks(sandbox) if n.get("Name") != sandbox.network]


def find_network(sandbox: Sandbox, ref: str) -> dict:
    """The sandbox's network a learner means, by name or id prefix (a list entry).

    `bridge` is the sandbox's default network, made if it does not exist yet.
    """
    if not isinstance(ref, str) or not ref:
        raise InvalidName("Give a network name, like flask-net.")
    if ref == DEFAULT:
        ensure_network(sandbox)
        wanted = sandbox.network
    elif _ID.match(ref):
        wanted = None
    else:
        if not naming.NAME_RE.match(ref):
            raise InvalidName(f"The network name {ref[:40]!r} is not allowed.")
        wanted = naming.container_prefix(sandbox.sid) + ref
    networks = own_networks(sandbox)
    for network in networks:
        if wanted is not None and network.get("Name") == wanted:
            return network
    if _ID.match(ref):
        for network in networks:
            if network.get("Name") == naming.container_prefix(sandbox.sid) + ref:
                return network
        matches = [n for n in networks if n.get("Id", "").startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InvalidName(f"{ref!r} matches several networks: give more of the id.")
    if ref in ("host", "none"):
        raise BadRequest(
            f"{ref} is not a network you can connect containers to: "
            f"start a container with --network {ref} instead."
        )
    raise NotInSandbox(
        f"There is no network {ref[:63]!r} in your sandbox: create it with "
        f"docker network create {ref[:63]}."
    )


def network_view(sandbox: Sandbox, network: dict, containers: dict | None = None) -> dict:
    """A network as the learner sees it: name, id, driver, who is on it."""
    attached = containers if containers is not None else network.get("Containers") or {}
    names = []
    for info in attached.values():
        shown = naming.learner_container(sandbox.sid, str(info.get("Name", "")))
        if shown is not None:
            names.append(shown)
    return {
        "name": _learner_name(sandbox, network.get("Name", "")),
        "id": network.get("Id", "")[:12],
        "driver": network.get("Driver", "bridge"),
        "scope": network.get("Scope", "local"),
        "containers": sorted(names),
        "created": network.get("Created", ""),
    }


def list_networks(sandbox: Sandbox) -> dict:
    """`docker network ls`: the sandbox's networks, and docker's own two modes."""
    rows = []
    with engine_call(sandbox):
        api = client.api()
        for network in own_networks(sandbox):
            detail = api.inspect_network(network["Id"])
            rows.append(network_view(sandbox, detail))
    if not any(row["name"] == DEFAULT for row in rows):
        # Made with the first container; `docker network ls` always shows it.
        rows.append(
            {"name": DEFAULT, "id": "", "driver": "bridge", "scope": "local",
             "containers": [], "created": ""}
        )
    rows.sort(key=lambda row: (row["name"] != DEFAULT, row["name"]))
    rows += [
        {"name": "host", "id": "", "driver": "host", "scope": "local", "containers": [],
         "created": "", "note": "not in the lab: it would share the server's own network"},
        {"name": "none", "id": "", "driver": "null", "scope": "local", "containers": [],
         "created": "", "note": "loopback only: docker run --network none"},
    ]
    return {"networks": rows}


def _free_bridge(sandbox: Sandbox, networks: list[dict]) -> str:
    """A host interface name `dl-<sid>XY` no network of the sandbox uses."""
    taken = {(n.get("Options") or {}).get(BRIDGE_NAME_OPTION) for n in networks}
    base = bridge_name(sandbox)
    for number in range(256):
        candidate = f"{base}{number:02x}"
        if candidate not in taken:
            return candidate
    raise QuotaExceeded("Your sandbox has no room for another network.")


def create_network(sandbox: Sandbox, name: str) -> dict:
    """`docker network create NAME`: a bridge network of the sandbox's own."""
    engine_name = engine_network(sandbox.sid, name)
    limit = settings.DOCKERLAB_MAX_NETWORKS
    with sandbox_lock(sandbox):
        with engine_call(sandbox):
            api = client.api()
            networks = [
                n for n in (api.networks(filters=sandbox.label_filter()) or [])
                if (n.get("Labels") or {}).get("org.dockerlab.sandbox") == sandbox.sid
            ]
        if any(n.get("Name") == engine_name for n in networks):
            raise SandboxError(f"network with name {name} already exists", code="conflict")
        detailed = []
        with engine_call(sandbox):
            for network in networks:
                with contextlib.suppress(client.NotFound):
                    with client.translate_errors():
                        detailed.append(api.inspect_network(network["Id"]))
        own = [n for n in detailed if n.get("Name") != sandbox.network]
        if len(own) >= limit:
            raise QuotaExceeded(
                f"Your sandbox already has {limit} networks of its own, the most it may "
                "hold: remove one first (docker network rm NAME)."
            )
        capacity.admit_network(sandbox)
        with engine_call(sandbox):
            created = api.create_network(
                engine_name,
                driver="bridge",
                labels=sandbox.labels(),
                options={BRIDGE_NAME_OPTION: _free_bridge(sandbox, detailed)},
                check_duplicate=True,
            )
            detail = api.inspect_network(created["Id"])
    return network_view(sandbox, detail)


def inspect_network(sandbox: Sandbox, name: str) -> dict:
    """`docker network inspect NAME`: the engine's JSON, names without the prefix."""
    found = find_network(sandbox, name)
    with engine_call(sandbox):
        data = client.api().inspect_network(found["Id"])
    options = {k: v for k, v in (data.get("Options") or {}).items() if k not in _HIDDEN_OPTIONS}
    data = {**data, "Options": options, "Name": _learner_name(sandbox, data.get("Name", ""))}
    return _stripped(sandbox, data)


def _stripped(sandbox: Sandbox, value: Any) -> Any:
    if isinstance(value, dict):
        return {_stripped(sandbox, k): _stripped(sandbox, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stripped(sandbox, item) for item in value]
    if isinstance(value, str):
        return naming.strip(sandbox.sid, value)
    return value


def _container(sandbox: Sandbox, name: str) -> tuple[dict, str]:
    # Deferred: containers imports this module to run on a network.
    from sandboxes.services.containers import container_view, find_container

    found = find_container(sandbox, name)
    return found, container_view(sandbox, found)["name"]


def connect(sandbox: Sandbox, network: str, container: str) -> dict:
    """`docker network connect NETWORK CONTAINER`, the container answering by its name."""
    net = find_network(sandbox, network)
    found, shown = _container(sandbox, container)
    with engine_call(sandbox):
        client.api().connect_container_to_network(found["Id"], net["Id"], aliases=[shown])
    return {"network": network, "container": shown}


def disconnect(sandbox: Sandbox, network: str, container: str, force: bool = False) -> dict:
    """`docker network disconnect NETWORK CONTAINER`."""
    net = find_network(sandbox, network)
    found, shown = _container(sandbox, container)
    with engine_call(sandbox):
        client.api().disconnect_container_from_network(found["Id"], net["Id"], force=force)
    return {"network": network, "container": shown}


def remove_network(sandbox: Sandbox, name: str) -> dict:
    """`docker network rm NAME`: one of the learner's networks no container is on."""
    if name in PREDEFINED:
        raise BadRequest(f"{name} is one of docker's own networks: it cannot be removed.")
    found = find_network(sandbox, name)
    if found.get("Name") == sandbox.network:
        raise BadRequest("bridge is one of docker's own networks: it cannot be removed.")
    shown = _learner_name(sandbox, found.get("Name", ""))
    with engine_call(sandbox):
        api = client.api()
        users = network_view(sandbox, api.inspect_network(found["Id"]))["containers"]
        if users:
            raise SandboxError(
                f"The network {shown} is in use by {', '.join(users)}: disconnect them "
                f"(docker network disconnect {shown} NAME) or remove them first.",
                code="conflict",
            )
        api.remove_network(found["Id"])
    return {"removed": shown}


def run_network(sandbox: Sandbox, network: str | None) -> str:
    """The engine network (or mode `none`) a new container of the sandbox joins.

    None and `bridge` are the sandbox's default network; `none` is the
    network mode without a network; `host` is refused.
    """
    if network is None or network == DEFAULT:
        return ensure_network(sandbox)
    if network == "none":
        return "none"
    if network == "host":
        raise BadRequest(
            "--network host would put the container on the lab server's own network: "
            "the lab refuses it. On your own machine it shares the host's interfaces."
        )
    return find_network(sandbox, network)["Name"]
