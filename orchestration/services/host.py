"""The swarm's objects on the host engine: networks, volumes, node and registry containers.

Every function here is idempotent: it compares what the host engine has with
the topology and changes only what differs. An object that has the swarm's
name but not its labels is someone else's: it is reported, never reused or
removed.

The node containers are the only containers the project runs with extra
capabilities. What they get, and why (each was needed for an engine to run
its own containers inside; nothing more):
- SYS_ADMIN: mount the node's cgroup hierarchies, overlay2 layers and its
  containers' filesystems;
- NET_ADMIN: the node's bridges, veths, VXLAN (overlay networks) and
  iptables rules, all inside the node's own network namespace;
- SYS_PTRACE: runc joins a container's namespaces through /proc/<pid>/ns
  for every exec, health checks included; when the container's process
  changed its user itself (mariadbd --user=mysql) the kernel lets only a
  holder of SYS_PTRACE open them, so without it such a task never turns
  healthy;
- seccomp unconfined: the default profile refuses the session keyring runc
  makes for every container;
- /proc paths unmasked (the CLI's `systempaths=unconfined`): the engine sets
  its networks' sysctls under /proc/sys, read-only by default;
- AppArmor unconfined: on hosts that have it, its default profile refuses
  mounts;
- a private cgroup namespace: the node sees its own cgroup as the root
  (and the host's cgroup roots, with their release agents, stay out of reach).
Not privileged (the default device list, no other capabilities), memory, CPU
and process limits always on, and nothing published except the registry on
127.0.0.1.

A node is not a security boundary of its own: a root process in a node
holds SYS_ADMIN in the host's user namespace without seccomp, which is
enough to reach the host. Only the project's code runs as root there.
Learners' code runs in task containers, which the node's engine confines as
the host engine confines sandbox containers (default capabilities, seccomp
and masked /proc), provided that the site only ever sends service specs it
wrote itself: no added capabilities, bind mounts, devices or host
namespaces. The node image's entrypoint also keeps tasks from opening
connections to anything beyond their node.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from engine import client
from orchestration import topology as topo_mod
from orchestration.errors import SwarmError
from orchestration.topology import Node, Topology

Say = Callable[[str], None]

NODE_CAPS = ["SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE"]
NODE_SECURITY_OPT = ["seccomp=unconfined", "apparmor=unconfined"]
NODE_PIDS = 4096
# Room for a node's engine to stop its containers before it is killed.
NODE_STOP_TIMEOUT = 20
ROLE_LABEL = "org.dockerlab.swarm.role"


def _labels(topology: Topology, role: str) -> dict[str, str]:
    return {**topo_mod.labels(topology.name), ROLE_LABEL: role}


def is_ours(obj: dict | None, topology: Topology) -> bool:
    labels = (obj or {}).get("Labels") or {}
    if "Config" in (obj or {}):  # a container's inspect keeps labels in Config
        labels = obj["Config"].get("Labels") or {}
    return (
        labels.get(topo_mod.SWARM_LABEL) == "1"
        and labels.get(topo_mod.NAME_LABEL) == topology.name
    )


def _not_ours(kind: str, name: str) -> SwarmError:
    return SwarmError(
        f"A {kind} called {name} exists on the engine but is not this swarm's "
        f"(it lacks the {topo_mod.SWARM_LABEL} labels). Remove or rename it, or "
        "set DOCKERLAB_SWARM_NAME to another name."
    )


def inspect(call, name: str) -> dict | None:
    try:
        with client.translate_errors():
            return call(name)
    except client.NotFound:
        return None


# --- networks and volumes ----------------------------------------------------


def ensure_networks(topology: Topology, say: Say) -> None:
    """The nodes' internal network and the registry's publishing network."""
    _ensure_network(
        topology, topology.network, topology.bridge, topology.subnet, topology.gateway,
        internal=True, say=say,
    )
    publish_gateway = str(next(ipaddress.ip_network(topology.publish_subnet).hosts()))
    _ensure_network(
        topology, topology.publish_network, topology.publish_bridge,
        topology.publish_subnet, publish_gateway, internal=False, say=say,
    )


def _ensure_network(
    topology: Topology, name: str, bridge: str, subnet: str, gateway: str,
    *, internal: bool, say: Say,
) -> None:
    api = client.api()
    net = inspect(api.inspect_network, name)
    if net is not None:
        if not is_ours(net, topology):
            raise _not_ours("network", name)
        configs = (net.get("IPAM") or {}).get("Config") or [{}]
        if configs[0].get("Subnet") != subnet:
            raise SwarmError(
                f"The swarm's network {name} has the subnet {configs[0].get('Subnet')}, "
                f"not {subnet} (DOCKERLAB_SWARM_SUBNET changed?): `manage.py swarm down` "
                "first, then `up` makes it anew."
            )
        return
    # The SDK's IPAMConfig is this dict; only engine/client.py imports docker.
    ipam = {"Driver": "default", "Config": [{"Subnet": subnet, "Gateway": gateway}]}
    try:
        with client.translate_errors():
            api.create_network(
                name,
                driver="bridge",
                internal=internal,
                ipam=ipam,
                options={"com.docker.network.bridge.name": bridge},
                labels=_labels(topology, "network"),
                check_duplicate=True,
            )
    except client.Conflict:
        return  # made meanwhile by another `swarm up`
    except client.EngineError as exc:
        if "overlap" in exc.message.lower():
            raise SwarmError(
                f"The swarm's network {subnet} overlaps a network the engine already has "
                f"({exc.message}). Set DOCKERLAB_SWARM_SUBNET to a free /24."
            ) from None
        raise
    say(f"network {name} ({subnet}, bridge {bridge}{', internal' if internal else ''}): created")


def ensure_volume(topology: Topology, name: str, role: str) -> None:
    api = client.api()
    volume = inspect(api.inspect_volume, name)
    if volume is not None:
        if not is_ours(volume, topology):
            raise _not_ours("volume", name)
        return
    with client.translate_errors():
        api.create_volume(name, labels=_labels(topology, role))


# --- containers ----------------------------------------------------------------


def _container_state(
    topology: Topology,
    name: str,
    image: str,
    command: list[str] | None,
    env: tuple[str, ...] = (),
    caps: tuple[str, ...] = (),
) -> str:
    """"running", "stopped", "stale" (another image, command, environment or
    fewer capabilities) or "missing"."""
    info = inspect(client.api().inspect_container, name)
    if info is None:
        return "missing"
    if not is_ours(info, topology):
        raise _not_ours("container", name)
    config = info.get("Config") or {}
    if config.get("Image") != image or (command is not None and config.get("Cmd") != command):
        return "stale"
    if not set(env) <= set(config.get("Env") or []):
        return "stale"
    if not set(caps) <= set((info.get("HostConfig") or {}).get("CapAdd") or []):
        return "stale"
    return "running" if (info.get("State") or {}).get("Running") else "stopped"


def _start(name: str) -> None:
    try:
        with client.translate_errors():
            client.api().start(name)
    except client.Conflict:
        pass  # the engine's restart policy is starting it already


def _remove(name: str) -> None:
    with contextlib.suppress(client.NotFound), client.translate_errors():
        client.api().remove_container(name, force=True)


def ensure_container(
    topology: Topology,
    name: str,
    image: str,
    command: list[str] | None,
    create,
    say: Say,
    env: tuple[str, ...] = (),
    caps: tuple[str, ...] = (),
) -> str:
    """Make container `name` run `image` with `command`; returns what was done.

    "running" (nothing), "started" (it had stopped or died), "created", or
    "recreated" (its image, command or capabilities changed; its volumes stay).
    """
    state = _container_state(topology, name, image, command, env, caps)
    if state == "running":
        return state
    if state == "stopped":
        _start(name)
        say(f"{name}: started again")
        return "started"
    if state == "stale":
        _remove(name)
    try:
        create()
    except client.Conflict:
        pass  # made meanwhile by another `swarm up`: start it below
    _start(name)
    done = "recreated" if state == "stale" else "created"
    say(f"{name}: {done}")
    return done


def node_command(topology: Topology) -> list[str]:
    # The site's own group may read the node's socket on the host.
    return topo_mod.dockerd_args(topology, socket_gid=os.getgid())


def ensure_node(topology: Topology, node: Node, image: str, say: Say) -> str:
    """The node's volumes and container, running."""
    ensure_volume(topology, node.data_volume, "node-data")
    ensure_volume(topology, node.api_volume, "node-api")
    command = node_command(topology)
    return ensure_container(
        topology, node.container, image, command,
        lambda: _create_node(topology, node, image, command), say, caps=tuple(NODE_CAPS),
    )


def _create_node(topology: Topology, node: Node, image: str, command: list[str]) -> None:
    api = client.api()
    host_config = api.create_host_config(
        cap_add=NODE_CAPS,
        security_opt=NODE_SECURITY_OPT,
        cgroupns="private",
        # Fresh on every start: a pid file or socket left by a killed engine
        # must not stop the next one.
        tmpfs={"/run": "rw,nosuid,nodev,mode=755"},
        mounts=[
            client.volume_mount("/var/lib/docker", node.data_volume),
            client.volume_mount(topo_mod.API_DIR, node.api_volume),
        ],
        mem_limit=f"{settings.DOCKERLAB_SWARM_NODE_MEMORY_MB}m",
        nano_cpus=int(settings.DOCKERLAB_SWARM_NODE_CPUS * 1e9),
        pids_limit=NODE_PIDS,
        restart_policy={"Name": "unless-stopped"},
        log_config={"type": "json-file", "config": {"max-size": "5m", "max-file": "2"}},
    )
    # `--security-opt systempaths=unconfined`: the engine writes sysctls
    # under /proc/sys in the node's own namespaces.
    host_config["MaskedPaths"] = []
    host_config["ReadonlyPaths"] = []
    networking = api.create_networking_config(
        {topology.network: api.create_endpoint_config(ipv4_address=node.ip)}
    )
    with client.translate_errors():
        api.create_container(
            image,
            command=command,
            name=node.container,
            hostname=node.hostname,
            labels=_labels(topology, node.role),
            host_config=host_config,
            networking_config=networking,
            stop_timeout=NODE_STOP_TIMEOUT,
        )


# The reaper deletes a sandbox's manifests from the registry when it goes.
REGISTRY_ENV = ("REGISTRY_STORAGE_DELETE_ENABLED=true",)


def ensure_registry(topology: Topology, image: str, say: Say) -> str:
    """The registry every node pulls from, published on the host's 127.0.0.1."""
    ensure_volume(topology, topology.registry_volume, "registry-data")
    try:
        return ensure_container(
            topology, topology.registry_container, image, None,
            lambda: _create_registry(topology, image), say, env=REGISTRY_ENV,
        )
    except client.EngineError as exc:
        if "allocated" in exc.message or "address already in use" in exc.message:
            raise SwarmError(
                f"The swarm registry cannot publish on 127.0.0.1:{topology.registry_host_port}: "
                "something else uses that port. Set DOCKERLAB_SWARM_REGISTRY_PORT to a free "
                "one (0 lets the engine pick)."
            ) from None
        raise


def _create_registry(topology: Topology, image: str) -> None:
    api = client.api()
    host_config = api.create_host_config(
        port_bindings={
            topo_mod.REGISTRY_PORT: ("127.0.0.1", topology.registry_host_port or None)
        },
        mounts=[client.volume_mount("/var/lib/registry", topology.registry_volume)],
        mem_limit="256m",
        nano_cpus=int(0.5e9),
        pids_limit=256,
        restart_policy={"Name": "unless-stopped"},
        log_config={"type": "json-file", "config": {"max-size": "1m", "max-file": "2"}},
    )
    # Publishing needs the non-internal network as the container's first;
    # the private one is joined right after, at its fixed address.
    networking = api.create_networking_config(
        {topology.publish_network: api.create_endpoint_config()}
    )
    with client.translate_errors():
        created = api.create_container(
            image,
            name=topology.registry_container,
            labels=_labels(topology, "registry"),
            ports=[topo_mod.REGISTRY_PORT],
            environment=list(REGISTRY_ENV),
            host_config=host_config,
            networking_config=networking,
        )
        api.connect_container_to_network(
            created["Id"], topology.network, ipv4_address=topology.registry_ip
        )


def registry_host_port(topology: Topology) -> int | None:
    """The port the registry answers on at the host's 127.0.0.1, if it runs."""
    info = inspect(client.api().inspect_container, topology.registry_container)
    if not info or not is_ours(info, topology):
        return None
    ports = ((info.get("NetworkSettings") or {}).get("Ports") or {}).get(
        f"{topo_mod.REGISTRY_PORT}/tcp"
    ) or []
    for binding in ports:
        if binding.get("HostIp") == "127.0.0.1" and binding.get("HostPort"):
            return int(binding["HostPort"])
    return None


def container_facts(topology: Topology, name: str) -> dict | None:
    """{"state": ..., "image": ...} of one of the swarm's containers, None when missing."""
    info = inspect(client.api().inspect_container, name)
    if info is None or not is_ours(info, topology):
        return None
    state = info.get("State") or {}
    return {
        "state": state.get("Status", "?"),
        "running": bool(state.get("Running")),
        "image": (info.get("Config") or {}).get("Image"),
    }


# --- a node's engine socket -------------------------------------------------------


def socket_path(topology: Topology, node: Node) -> Path:
    """Where the node's engine socket is on this machine (its api volume)."""
    volume = inspect(client.api().inspect_volume, node.api_volume)
    if volume is None or not is_ours(volume, topology):
        raise SwarmError(f"The swarm node {node.hostname} has no api volume; run `manage.py swarm up`.")
    path = Path(volume["Mountpoint"]) / topo_mod.API_SOCKET
    if not Path(volume["Mountpoint"]).is_dir():
        raise SwarmError(
            f"The swarm nodes' engine sockets are on the engine's machine "
            f"({volume['Mountpoint']}), which this site cannot read: run the site on that "
            "machine, or set DOCKERLAB_SWARM_MANAGER_URL to a swarm it can reach."
        )
    return path


def wait_for_socket(path: Path, timeout: float) -> bool:
    """True once the engine behind `path` answers a ping (False after `timeout` s)."""
    deadline = time.monotonic() + timeout
    while True:
        if path.exists():
            try:
                with client.translate_errors():
                    client.api_for(f"unix://{path}", timeout=5).ping()
                return True
            except client.EngineError:
                pass
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)


# --- removal -------------------------------------------------------------------------


def remove_all(topology: Topology, volumes: bool, say: Say) -> None:
    """Remove the swarm's containers and networks (and volumes: its images and state)."""
    api = client.api()
    flt = topo_mod.label_filter(topology.name)
    with client.translate_errors():
        containers = api.containers(all=True, filters=flt)
    for container in containers:
        _remove(container["Id"])
        say(f"{container['Names'][0].lstrip('/')}: removed")
    with client.translate_errors():
        networks = api.networks(filters=flt)
    for net in networks:
        with contextlib.suppress(client.NotFound), client.translate_errors():
            api.remove_network(net["Id"])
        say(f"network {net['Name']}: removed")
    if not volumes:
        return
    with client.translate_errors():
        found = (api.volumes(filters=flt) or {}).get("Volumes") or []
    for volume in found:
        with contextlib.suppress(client.NotFound), client.translate_errors():
            api.remove_volume(volume["Name"], force=True)
        say(f"volume {volume['Name']}: removed")
