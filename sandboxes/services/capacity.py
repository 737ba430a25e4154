"""Admission for the whole lab: is there room on the box for one more container?

Every learner's sandbox has its own quota (containers, images), but a full
room of learners can still fill the machine: memory for their running
containers, the engine's list of containers, the address pools that every
sandbox network takes a /24 of. Past that point the engine fails in ways a
learner cannot read ("could not find an available, non-overlapping IPv4
address pool", an OOM-killed database). So before a run, a build or a compose
up, `admit` compares what the lab holds with its budget and refuses with one
stable answer, code "lab_full": "The lab is full right now: try again in a
few minutes." The log says which budget ran out.

What counts: every container and network carrying the sandbox label on the
engine (all dockerlab sites sharing it), each running container at this
site's container memory limit. Budgets come from settings; where a setting is
0 it is derived from the engine's own machine (`docker info`): 75% of its
memory, 50 containers per CPU, and its address pools' networks less a few
for everyone else. The check and the action are not atomic: two learners
admitted at the same moment may pass a budget by one container each.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings

from engine import client
from sandboxes.errors import SandboxError
from sandboxes import labels
from sandboxes.models import Sandbox
from sandboxes.services.common import engine_call

log = logging.getLogger(__name__)

SANDBOX_LABEL = labels.SANDBOX
MESSAGE = "The lab is full right now: try again in a few minutes."
# Derived budgets: a share of the engine's memory, containers per CPU, and
# networks kept free in the address pools for everyone else.
MEMORY_SHARE = 0.75
CONTAINERS_PER_CPU = 50
NETWORKS_SPARE = 8
# The engine's built-in pools when it reports none: 15 /16s and 192.168/16 in /20s.
DEFAULT_POOL_NETWORKS = 31
INFO_TTL = 300.0


class LabFull(SandboxError):
    """The box has no room for what was asked; try again later."""

    code = "lab_full"

    def __init__(self, reason: str):
        super().__init__(MESSAGE)
        self.reason = reason


@dataclass(frozen=True)
class Budget:
    memory_mb: int
    containers: int
    networks: int


@dataclass(frozen=True)
class Usage:
    running: int  # learner containers running (each holding its memory limit)
    containers: int  # learner containers in any state
    networks: int  # sandbox networks
    has_network: bool  # this sandbox's network exists already


# `docker info` by engine (client.engine_key()): when it was read, and what it said.
_info: dict[str, tuple[float, dict]] = {}
_info_lock = threading.Lock()


def _engine_info() -> dict:
    """`docker info` of the current engine (engine/pool.py), kept for a few
    minutes (the machine rarely changes)."""
    key = client.engine_key()
    with _info_lock:
        found = _info.get(key)
        if found is not None and time.monotonic() - found[0] < INFO_TTL:
            return found[1]
    with engine_call():
        info = client.api().info() or {}
    with _info_lock:
        _info[key] = (time.monotonic(), info)
    return info


def pool_networks(pools: list[dict] | None) -> int:
    """How many networks the engine's default address pools can hand out."""
    total = 0
    for pool in pools or []:
        try:
            base = ipaddress.ip_network(pool.get("Base", ""), strict=False)
            size = int(pool.get("Size", 0))
        except ValueError:
            continue
        if size >= base.prefixlen:
            total += 2 ** (size - base.prefixlen)
    return total or DEFAULT_POOL_NETWORKS


def budget() -> Budget:
    """The lab's budgets: the settings, or what the engine's machine allows."""
    memory = settings.DOCKERLAB_LAB_MEMORY_MB
    containers = settings.DOCKERLAB_LAB_MAX_CONTAINERS
    networks = settings.DOCKERLAB_LAB_MAX_NETWORKS
    if not (memory and containers and networks):
        info = _engine_info()
        if not memory:
            memory = int((info.get("MemTotal") or 0) / 2**20 * MEMORY_SHARE)
        if not containers:
            containers = max(10, CONTAINERS_PER_CPU * int(info.get("NCPU") or 1))
        if not networks:
            networks = max(1, pool_networks(info.get("DefaultAddressPools")) - NETWORKS_SPARE)
    return Budget(memory_mb=memory, containers=containers, networks=networks)


def usage(sandbox: Sandbox) -> Usage:
    """What every sandbox on the engine holds now."""
    labelled = {"label": [SANDBOX_LABEL]}
    with engine_call(sandbox):
        api = client.api()
        containers = api.containers(all=True, filters=labelled) or []
        networks = api.networks(filters=labelled) or []
    return Usage(
        running=sum(1 for c in containers if c.get("State") == "running"),
        containers=len(containers),
        networks=len(networks),
        has_network=any(n.get("Name") == sandbox.network for n in networks),
    )


def shortfall(budget: Budget, usage: Usage, container_mb: int, *, building: bool) -> str | None:
    """Which budget one more container (or build) would exceed; None if it fits."""
    committed = (usage.running + 1) * container_mb
    if committed > budget.memory_mb:
        return f"memory: {committed} MB of {budget.memory_mb} MB committed"
    if building:
        return None  # a build's containers come and go; they need memory only
    if usage.containers + 1 > budget.containers:
        return f"containers: {usage.containers} of {budget.containers}"
    if not usage.has_network and usage.networks + 1 > budget.networks:
        return f"networks: {usage.networks} of {budget.networks}"
    return None


def admit(sandbox: Sandbox, *, building: bool = False) -> None:
    """Raise LabFull if the box has no room for one more container (or build)."""
    reason = shortfall(
        budget(), usage(sandbox), settings.DOCKERLAB_CONTAINER_MEMORY_MB, building=building
    )
    if reason is not None:
        log.warning("lab full, refusing sandbox %s: %s", sandbox.sid, reason)
        raise LabFull(reason)


def admit_network(sandbox: Sandbox) -> None:
    """Raise LabFull if the engine's address pools have no room for one more network.

    Each network a learner creates takes a pool, like the sandbox's own.
    """
    limit = budget().networks
    now = usage(sandbox).networks
    if now + 1 > limit:
        reason = f"networks: {now} of {limit}"
        log.warning("lab full, refusing a network to sandbox %s: %s", sandbox.sid, reason)
        raise LabFull(reason)
