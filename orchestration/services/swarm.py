"""Bringing the classroom swarm up, reporting on it, and taking it down.

`up` is idempotent and converges: whatever is missing, stopped, stale (a
node on an older kit image) or out of the swarm is made, started, recreated
or joined again; what is already right costs a handful of inspect calls.
A node's swarm state lives on its data volume, so a restarted or recreated
node container rejoins as the same node. A node whose volume was lost joins
as a new one, and the manager forgets its old entry.

Two `up`s at once (the site and a test run) take turns on a file lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.conf import settings

from engine import client, kit
from orchestration import topology as topo_mod
from orchestration.errors import SwarmError
from orchestration.services import host, nodes
from orchestration.topology import Topology

Say = Callable[[str], None]

ENGINE_WAIT_S = 60  # a node's engine answering after its container starts
SETTLE_WAIT_S = 20  # a node reconnecting to its swarm after a restart
READY_WAIT_S = 90  # every node Ready in the manager's list
JOIN_WAIT_S = 60  # the manager's swarm port accepting joins after `init`
NODE_ROLE = "swarmnode"


@dataclass
class Row:
    """One line of a status report."""

    subject: str
    detail: str
    ok: bool


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    def add(self, subject: str, detail: str, ok: bool = True) -> None:
        self.rows.append(Row(subject, detail, ok))


def _quiet(_line: str) -> None:
    pass


@contextlib.contextmanager
def _lock(topology: Topology) -> Iterator[None]:
    path = settings.VAR_DIR / f"swarm-{topology.name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def node_image() -> str:
    """The kit image the nodes run; SwarmError when the kit has not built it."""
    image = kit.local_image_name(NODE_ROLE)
    if kit.image_state(image) == kit.MISSING:
        raise SwarmError(f"The swarm node image {image} is missing: run `make kit` first.")
    return image


# --- up ----------------------------------------------------------------------


def up(say: Say = _quiet) -> Report:
    """Make the classroom swarm run (or check an existing one); return its status."""
    nodes.check_enabled()
    if nodes.external():
        return status()
    topology = topo_mod.configured()
    with client.translate_errors(), _lock(topology):
        image = node_image()
        registry_image = settings.DOCKERLAB_IMAGES["registry"]
        host.ensure_networks(topology, say)
        host.ensure_registry(topology, registry_image, say)
        done = [host.ensure_node(topology, node, image, say) for node in topology.nodes]
        if "recreated" in done:
            # The nodes left an older kit build; the kit could not remove it while in use.
            kit.remove_superseded(NODE_ROLE, image, say)
        for node in topology.nodes:
            path = host.socket_path(topology, node)
            if not host.wait_for_socket(path, ENGINE_WAIT_S):
                raise SwarmError(
                    f"The engine of swarm node {node.hostname} did not answer within "
                    f"{ENGINE_WAIT_S}s; see `docker logs {node.container}`. (Set "
                    "DOCKERLAB_SWARM=0 to run the site without the classroom swarm.)"
                )
        form(topology, say)
        wait_ready(topology)
    return status()


def _swarm_info(api) -> dict:
    with client.translate_errors():
        return api.info().get("Swarm") or {}


def _settled(api) -> dict:
    """The node's swarm facts once it is no longer reconnecting ("pending")."""
    deadline = time.monotonic() + SETTLE_WAIT_S
    info = _swarm_info(api)
    while info.get("LocalNodeState") == "pending" and time.monotonic() < deadline:
        time.sleep(0.25)
        info = _swarm_info(api)
    return info


def form(topology: Topology, say: Say) -> None:
    """One swarm: the manager initialised, every worker joined to it, stale entries gone."""
    manager = topology.manager
    mapi = nodes.node_api(manager.hostname)
    info = _settled(mapi)
    state = info.get("LocalNodeState")
    if state == "active" and not info.get("ControlAvailable"):
        # Joined to some other swarm as a worker: not ours to keep.
        with client.translate_errors():
            mapi.leave_swarm(force=True)
        state = "inactive"
    if state == "inactive":
        with client.translate_errors():
            mapi.init_swarm(
                advertise_addr=manager.ip,
                listen_addr=f"{manager.ip}:{topo_mod.SWARM_PORT}",
                default_addr_pool=[str(topo_mod.OVERLAY_POOL)],
                subnet_size=24,
            )
        say(f"{manager.hostname}: swarm initialised (advertised on {manager.ip})")
    elif state != "active":
        raise SwarmError(
            f"The swarm manager is in state {state!r} ({info.get('Error') or 'no detail'}); "
            "`manage.py swarm down --volumes` then `up` starts it afresh."
        )
    with client.translate_errors():
        token = mapi.inspect_swarm()["JoinTokens"]["Worker"]
        members = {entry["ID"] for entry in mapi.nodes()}
    live = {_swarm_info(mapi).get("NodeID")}
    for worker in topology.workers:
        live.add(_join(worker, manager, token, members, say))
    _forget_departed(mapi, live, say)


def _join(worker, manager, token: str, members: set[str], say: Say) -> str:
    """Make `worker` a member of the manager's swarm; returns its node id."""
    wapi = nodes.node_api(worker.hostname)
    info = _settled(wapi)
    if info.get("LocalNodeState") == "active" and info.get("NodeID") in members:
        return info["NodeID"]
    deadline = time.monotonic() + JOIN_WAIT_S
    while True:
        try:
            with client.translate_errors():
                if info.get("LocalNodeState") != "inactive":
                    # A member of a swarm that is gone (the manager's state was
                    # lost), or a join that failed half-way.
                    wapi.leave_swarm(force=True)
                wapi.join_swarm(
                    [f"{manager.ip}:{topo_mod.SWARM_PORT}"],
                    token,
                    listen_addr=f"{worker.ip}:{topo_mod.SWARM_PORT}",
                    advertise_addr=worker.ip,
                )
            break
        except SwarmError:
            raise
        except client.EngineError as exc:
            # Just after `init` the manager may not listen on its swarm port
            # yet (a busy machine): the join is refused, and worth another try.
            if not _manager_not_listening(str(exc)) or time.monotonic() >= deadline:
                raise
            say(f"{worker.hostname}: the manager is not accepting joins yet; trying again")
            time.sleep(1.0)
            info = _settled(wapi)
    say(f"{worker.hostname}: joined the swarm")
    return _swarm_info(wapi).get("NodeID")


def _manager_not_listening(message: str) -> bool:
    lowered = message.lower()
    return "connection refused" in lowered or "unavailable" in lowered or "timeout" in lowered


def _forget_departed(mapi, live: set[str], say: Say) -> None:
    """Remove node entries that belong to no node any more.

    An entry is departed when it is not one of the live nodes' ids and its
    hostname is one of ours (that node now runs under another id: its data
    volume was lost), or when it is down. The manager would otherwise list a
    node twice, and keep its tasks until it notices the old one is gone.
    """
    with client.translate_errors():
        entries = mapi.nodes()
    live_hostnames = {
        (entry.get("Description") or {}).get("Hostname") for entry in entries if entry["ID"] in live
    }
    for entry in entries:
        hostname = (entry.get("Description") or {}).get("Hostname", "?")
        down = (entry.get("Status") or {}).get("State") == "down"
        if entry["ID"] in live or not (down or hostname in live_hostnames):
            continue
        with contextlib.suppress(client.NotFound), client.translate_errors():
            mapi.remove_node(entry["ID"], force=True)
        say(f"forgot a departed node entry ({hostname}, {entry['ID'][:12]})")


def _node_states(mapi) -> dict[str, dict]:
    """hostname -> {state, role, availability, id} from the manager's node list."""
    with client.translate_errors():
        entries = mapi.nodes()
    states = {}
    for entry in entries:
        hostname = (entry.get("Description") or {}).get("Hostname", "?")
        fact = {
            "id": entry["ID"],
            "state": (entry.get("Status") or {}).get("State", "?"),
            "role": (entry.get("Spec") or {}).get("Role", "?"),
            "availability": (entry.get("Spec") or {}).get("Availability", "?"),
        }
        # A live entry wins over a departed one of the same hostname.
        if hostname not in states or fact["state"] == "ready":
            states[hostname] = fact
    return states


def wait_ready(topology: Topology) -> None:
    """Return once the manager lists every node as Ready (SwarmError after READY_WAIT_S)."""
    mapi = nodes.node_api(topology.manager.hostname)
    deadline = time.monotonic() + READY_WAIT_S
    while True:
        states = _node_states(mapi)
        waiting = [
            node.hostname
            for node in topology.nodes
            if states.get(node.hostname, {}).get("state") != "ready"
        ]
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise SwarmError(
                f"Swarm node(s) {', '.join(waiting)} not Ready after {READY_WAIT_S}s."
            )
        time.sleep(0.5)


# --- status ------------------------------------------------------------------


def status() -> Report:
    """What runs and answers, like `kit --check`; never changes anything."""
    nodes.check_enabled()
    if nodes.external():
        return _external_status()
    topology = topo_mod.configured()
    report = Report()
    with client.translate_errors():
        _host_rows(topology, report)
        _node_rows(topology, report)
    return report


def _host_rows(topology: Topology, report: Report) -> None:
    api = client.api()
    for name in (topology.network, topology.publish_network):
        net = host.inspect(api.inspect_network, name)
        present = net is not None and host.is_ours(net, topology)
        subnet = ((net or {}).get("IPAM") or {}).get("Config") or [{}]
        report.add(f"network {name}", subnet[0].get("Subnet", "") if present else "MISSING", present)
    facts = host.container_facts(topology, topology.registry_container)
    port = host.registry_host_port(topology) if facts and facts["running"] else None
    if port:
        detail = f"running: push to 127.0.0.1:{port}, nodes pull from {topology.registry_address}"
    else:
        detail = facts["state"] if facts else "MISSING"
    report.add(f"registry {topology.registry_container}", detail, bool(port))
    trusted = host_trusts_loopback_registry()
    report.add(
        "host engine",
        "pushes to a plain-HTTP registry on 127.0.0.1"
        if trusted
        else "does NOT trust a plain-HTTP registry on 127.0.0.1: add 127.0.0.0/8 "
        "to its insecure-registries",
        trusted,
    )


def host_trusts_loopback_registry() -> bool:
    """Whether the host engine talks plain HTTP to registries on 127.0.0.1 (its default)."""
    with client.translate_errors():
        config = client.api().info().get("RegistryConfig") or {}
    loopback = ipaddress.ip_address("127.0.0.1")
    for cidr in config.get("InsecureRegistryCIDRs") or []:
        with contextlib.suppress(ValueError):
            if loopback in ipaddress.ip_network(cidr):
                return True
    return False


def _node_rows(topology: Topology, report: Report) -> None:
    swarm_states: dict[str, dict] = {}
    with contextlib.suppress(SwarmError, client.EngineError):
        swarm_states = _node_states(nodes.node_api(topology.manager.hostname, timeout=5))
    for node in topology.nodes:
        facts = host.container_facts(topology, node.container)
        subject = f"node {node.hostname}"
        if facts is None:
            report.add(subject, f"{node.container} MISSING", False)
            continue
        if not facts["running"]:
            report.add(subject, f"{node.container} {facts['state']}", False)
            continue
        swarm = swarm_states.get(node.hostname)
        if swarm is None:
            report.add(subject, f"{node.ip}: running, not in the swarm", False)
            continue
        ready = swarm["state"] == "ready"
        report.add(
            subject,
            f"{node.ip}: {swarm['role']}, {swarm['state'].upper() if not ready else 'Ready'}, "
            f"{swarm['availability']}",
            ready,
        )


def _external_status() -> Report:
    report = Report()
    url = settings.DOCKERLAB_SWARM_MANAGER_URL
    try:
        mapi = nodes.manager_api(timeout=5)
        info = _swarm_info(mapi)
    except client.EngineError as exc:
        report.add("manager", f"{url}: {exc.message}", False)
        return report
    if not info.get("ControlAvailable"):
        report.add("manager", f"{url}: not a swarm manager", False)
        return report
    report.add("manager", f"{url}: a swarm manager (existing swarm; this site starts none)")
    for hostname, fact in sorted(_node_states(mapi).items()):
        report.add(f"node {hostname}", f"{fact['role']}, {fact['state']}", fact["state"] == "ready")
    registry = settings.DOCKERLAB_SWARM_REGISTRY
    report.add("registry", registry or "DOCKERLAB_SWARM_REGISTRY is not set", bool(registry))
    return report


# --- down ----------------------------------------------------------------------


def down(say: Say = _quiet, volumes: bool = False) -> None:
    """Remove the site's swarm: containers and networks, and with `volumes` its data."""
    nodes.check_enabled()
    if nodes.external():
        say("This site uses an existing swarm (DOCKERLAB_SWARM_MANAGER_URL); it stops nothing.")
        return
    topology = topo_mod.configured()
    with client.translate_errors(), _lock(topology):
        host.remove_all(topology, volumes, say)
