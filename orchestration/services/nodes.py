"""How the site reaches the classroom swarm: engine clients for its nodes, and its registry.

This is the seam later features use (the learners' service lab): ask for
`manager_api()` to create and inspect services, `node_api(hostname)` to act
on one node's containers (a task's container lives on the node running it),
and `registry()` for the names an image is pushed and pulled under.

How the nodes are reached, and why:
- each node's engine listens on a unix socket on a volume of its own
  (`<swarm>-<node>-api`), which the site opens from the host's side of that
  volume (under the engine's data root, so the site must run on the
  engine's machine). The socket belongs to root and to the group of the
  process that ran `swarm up`;
- no node listens for the engine API on a network. The nodes' private
  network is shared with every swarm task (tasks reach it through their
  node), so an API port there, even on the private network only, would be
  a learner's service away from an engine running with SYS_ADMIN;
- with DOCKERLAB_SWARM_MANAGER_URL the site uses that swarm's manager and
  starts nothing. Its nodes are not reachable one by one then.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from engine import client
from orchestration import topology as topo_mod
from orchestration.errors import SwarmDisabled, SwarmError
from orchestration.services import host


@dataclass(frozen=True)
class Registry:
    """The swarm's registry, under the two names it answers to."""

    push: str  # host:port the site's engine pushes to (on its 127.0.0.1)
    pull: str  # host:port the swarm's nodes pull from

    def push_name(self, reference: str) -> str:
        """`flask-app:v1` as the host engine tags and pushes it."""
        return f"{self.push}/{reference}"

    def pull_name(self, reference: str) -> str:
        """`flask-app:v1` as a service's image on the swarm."""
        return f"{self.pull}/{reference}"


def check_enabled() -> None:
    if not settings.DOCKERLAB_SWARM:
        raise SwarmDisabled("Orchestration is switched off (DOCKERLAB_SWARM=0).")


def external() -> bool:
    """True when the site uses an existing swarm (DOCKERLAB_SWARM_MANAGER_URL)."""
    return bool(settings.DOCKERLAB_SWARM_MANAGER_URL)


def manager_api(timeout: float | None = None):
    """A client for the swarm's manager engine; use it inside client.translate_errors().

    Raises SwarmError (or an EngineError) when the manager cannot be reached.
    """
    check_enabled()
    if external():
        with client.translate_errors():
            return client.api_for(
                settings.DOCKERLAB_SWARM_MANAGER_URL,
                timeout=timeout,
                cert_path=settings.DOCKERLAB_SWARM_MANAGER_CERT_PATH,
            )
    topology = topo_mod.configured()
    return node_api(topology.manager.hostname, timeout=timeout)


def node_api(hostname: str, timeout: float | None = None):
    """A client for one node of the site's own swarm, by hostname (manager, worker1, ...)."""
    check_enabled()
    if external():
        raise SwarmError(
            "This site uses an existing swarm (DOCKERLAB_SWARM_MANAGER_URL); "
            "only its manager is reachable."
        )
    topology = topo_mod.configured()
    try:
        node = topology.node(hostname)
    except KeyError:
        raise SwarmError(f"The swarm has no node called {hostname!r}.") from None
    url = f"unix://{host.socket_path(topology, node)}"
    with client.translate_errors():
        return client.api_for(url, timeout=timeout)


def hostnames() -> list[str]:
    """The nodes of the site's own swarm, manager first (empty for an existing swarm)."""
    if external():
        return []
    return [node.hostname for node in topo_mod.configured().nodes]


def registry() -> Registry:
    """Where images for the swarm go: pushed by the site's engine, pulled by the nodes."""
    check_enabled()
    if external():
        address = settings.DOCKERLAB_SWARM_REGISTRY
        if not address:
            raise SwarmError(
                "DOCKERLAB_SWARM_MANAGER_URL names an existing swarm but "
                "DOCKERLAB_SWARM_REGISTRY names no registry for it."
            )
        return Registry(push=address, pull=address)
    topology = topo_mod.configured()
    port = host.registry_host_port(topology)
    if port is None:
        raise SwarmError("The swarm registry is not running; run `manage.py swarm up`.")
    return Registry(push=f"127.0.0.1:{port}", pull=topology.registry_address)
