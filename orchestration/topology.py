"""The classroom swarm's layout: names, addresses and each node's engine flags.

Pure data from the settings, with no engine calls, so the layout is the same
on every run and `swarm up` can compare what exists with what should.

Invariants:
- Every object is named `<DOCKERLAB_SWARM_NAME>-...` and carries the labels
  of `labels()`; nothing carries `org.dockerlab.sandbox`, so the sandbox
  reaper never touches the swarm.
- The nodes and the registry sit on an internal bridge network (no route
  out of it; the host reaches it as its gateway) whose addresses are the
  first half of DOCKERLAB_SWARM_SUBNET, with fixed addresses: gateway .1,
  registry .2, manager .10, workers .11 and up.
- The registry alone is also on a small second network (the subnet's last
  /28), only so that the host engine can push to it on 127.0.0.1: an
  internal network cannot publish ports.
- A node's engine API is a unix socket on a volume of its own; no node
  listens for the engine API on any network.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass

from django.conf import settings

SWARM_LABEL = "org.dockerlab.swarm"
NAME_LABEL = "org.dockerlab.swarm.name"
DEPLOYMENT_LABEL = "org.dockerlab.deployment"

# Inside each node: its own bridges (docker0, docker_gwbridge) and the swarm's
# overlay networks come from these, never from the private network's range.
NODE_LOCAL_POOL = ipaddress.ip_network("172.16.0.0/12")
OVERLAY_POOL = ipaddress.ip_network("10.214.0.0/16")

REGISTRY_PORT = 5000  # the registry's port inside the private network
SWARM_PORT = 2377  # managers listen for nodes and joins here
API_DIR = "/run/dockerlab"  # where a node's engine socket lives (its api volume)
API_SOCKET = "docker.sock"

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


class SwarmConfigError(Exception):
    """The swarm settings describe a layout that cannot work."""


@dataclass(frozen=True)
class Node:
    """One engine-in-a-container of the swarm."""

    hostname: str  # what `docker node ls` shows: manager, worker1, ...
    role: str  # "manager" or "worker"
    container: str
    ip: str
    data_volume: str  # /var/lib/docker of the node: images, containers, swarm state
    api_volume: str  # holds the node's engine socket


@dataclass(frozen=True)
class Topology:
    """Everything `swarm up` makes on the host engine, by name and address."""

    name: str
    network: str
    bridge: str
    subnet: str
    gateway: str
    publish_network: str
    publish_bridge: str
    publish_subnet: str
    registry_container: str
    registry_volume: str
    registry_ip: str
    registry_host_port: int  # on the host's 127.0.0.1; 0 lets the engine pick
    nodes: tuple[Node, ...]

    @property
    def manager(self) -> Node:
        return self.nodes[0]

    @property
    def workers(self) -> tuple[Node, ...]:
        return self.nodes[1:]

    @property
    def registry_address(self) -> str:
        """host:port of the registry as the nodes see it (image names start with it)."""
        return f"{self.registry_ip}:{REGISTRY_PORT}"

    def node(self, hostname: str) -> Node:
        for node in self.nodes:
            if node.hostname == hostname:
                return node
        raise KeyError(hostname)


def labels(name: str | None = None) -> dict[str, str]:
    """The labels on every object of the swarm called `name` (default: the configured one)."""
    return {
        SWARM_LABEL: "1",
        NAME_LABEL: name or settings.DOCKERLAB_SWARM_NAME,
        DEPLOYMENT_LABEL: settings.DOCKERLAB_DEPLOYMENT,
    }


def label_filter(name: str | None = None) -> dict[str, list[str]]:
    """An engine list filter matching only this swarm's objects."""
    return {"label": [f"{SWARM_LABEL}=1", f"{NAME_LABEL}={name or settings.DOCKERLAB_SWARM_NAME}"]}


def bridge_name(name: str, kind: str) -> str:
    """A Linux bridge name (at most 15 characters) for one of the swarm's networks.

    Never `dl-...`: that prefix belongs to sandboxes. The digest keeps two
    swarms on one host apart whatever their names' length.
    """
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    return f"swarm{digest}{kind}"


def check_name(name: str) -> str:
    if not NAME_RE.match(name) or name.startswith("dl-"):
        raise SwarmConfigError(
            f"DOCKERLAB_SWARM_NAME must be 1-40 lower-case letters, digits or dashes, "
            f"starting with a letter and not with 'dl-' (sandboxes' prefix); got {name!r}"
        )
    return name


def split_subnet(subnet: str) -> tuple[ipaddress.IPv4Network, ipaddress.IPv4Network]:
    """The nodes' private network (first half) and the registry's publishing
    network (last /28) of the configured /24."""
    try:
        block = ipaddress.ip_network(subnet, strict=True)
    except ValueError:
        raise SwarmConfigError(
            f"DOCKERLAB_SWARM_SUBNET must be an IPv4 network like 10.213.0.0/24; got {subnet!r}"
        ) from None
    if block.version != 4 or block.prefixlen != 24:
        raise SwarmConfigError(f"DOCKERLAB_SWARM_SUBNET must be an IPv4 /24; got {subnet}")
    for other, used_for in (
        (NODE_LOCAL_POOL, "the nodes' own bridges and the sandboxes' address pool"),
        (OVERLAY_POOL, "the swarm's overlay networks"),
    ):
        if block.overlaps(other):
            raise SwarmConfigError(
                f"DOCKERLAB_SWARM_SUBNET {subnet} overlaps {other}, used for {used_for}."
            )
    private = next(block.subnets(new_prefix=25))
    publish = list(block.subnets(new_prefix=28))[-1]
    return private, publish


def build(
    name: str,
    subnet: str,
    workers: int,
    registry_host_port: int,
) -> Topology:
    """The layout for a swarm called `name` on `subnet` with one manager and `workers`."""
    check_name(name)
    private, publish = split_subnet(subnet)
    if not 0 <= workers <= 100:
        raise SwarmConfigError(f"DOCKERLAB_SWARM_WORKERS must be 0-100; got {workers}")
    if not 0 <= registry_host_port <= 65535:
        raise SwarmConfigError(
            f"DOCKERLAB_SWARM_REGISTRY_PORT must be a port (0-65535); got {registry_host_port}"
        )
    base = private.network_address
    hostnames = [("manager", "manager")] + [(f"worker{i}", "worker") for i in range(1, workers + 1)]
    nodes = tuple(
        Node(
            hostname=hostname,
            role=role,
            container=f"{name}-{hostname}",
            ip=str(base + 10 + index),
            data_volume=f"{name}-{hostname}-data",
            api_volume=f"{name}-{hostname}-api",
        )
        for index, (hostname, role) in enumerate(hostnames)
    )
    return Topology(
        name=name,
        network=name,
        bridge=bridge_name(name, "n"),
        subnet=str(private),
        gateway=str(base + 1),
        publish_network=f"{name}-publish",
        publish_bridge=bridge_name(name, "p"),
        publish_subnet=str(publish),
        registry_container=f"{name}-registry",
        registry_volume=f"{name}-registry-data",
        registry_ip=str(base + 2),
        registry_host_port=registry_host_port,
        nodes=nodes,
    )


def configured() -> Topology:
    """The layout the settings describe."""
    return build(
        settings.DOCKERLAB_SWARM_NAME,
        settings.DOCKERLAB_SWARM_SUBNET,
        settings.DOCKERLAB_SWARM_WORKERS,
        settings.DOCKERLAB_SWARM_REGISTRY_PORT,
    )


def dockerd_args(topology: Topology, socket_gid: int) -> list[str]:
    """The command line of every node's engine.

    - its API only on unix sockets: the usual one inside the node (for
      `docker exec NODE docker ...`) and one on the api volume, readable by
      group `socket_gid` (the site's) on the host;
    - overlay2 on the node's data volume (ext4 or xfs on the host, so no
      overlay-on-overlay);
    - the swarm registry trusted over plain HTTP (it is reachable only on
      the private network);
    - its own bridges from a pool that cannot shadow the private network.
    """
    return [
        "dockerd",
        "--host=unix:///var/run/docker.sock",
        f"--host=unix://{API_DIR}/{API_SOCKET}",
        f"--group={socket_gid}",
        "--data-root=/var/lib/docker",
        "--storage-driver=overlay2",
        f"--insecure-registry={topology.registry_address}",
        f"--default-address-pool=base={NODE_LOCAL_POOL},size=24",
        "--log-driver=json-file",
        "--log-opt=max-size=1m",
        "--log-opt=max-file=2",
    ]
