"""The lab's admission arithmetic: which budget one more container would exceed."""

from __future__ import annotations

from sandboxes.services.capacity import Budget, Usage, pool_networks, shortfall

ROOM = Budget(memory_mb=1024, containers=10, networks=3)


def _usage(running=0, containers=0, networks=0, has_network=False) -> Usage:
    return Usage(running=running, containers=containers, networks=networks,
                 has_network=has_network)


def test_room_for_one_more_is_no_shortfall():
    assert shortfall(ROOM, _usage(running=3, containers=9, networks=2), 256, building=False) is None


def test_memory_counts_every_running_container_at_its_limit():
    assert shortfall(ROOM, _usage(running=4), 256, building=False).startswith("memory")
    assert shortfall(ROOM, _usage(running=4), 256, building=True).startswith("memory")


def test_a_build_needs_memory_only():
    full = _usage(running=0, containers=10, networks=3)
    assert shortfall(ROOM, full, 256, building=True) is None
    assert shortfall(ROOM, full, 256, building=False).startswith("containers")


def test_a_new_network_is_needed_only_by_a_sandbox_without_one():
    assert shortfall(ROOM, _usage(networks=3), 256, building=False).startswith("networks")
    assert shortfall(ROOM, _usage(networks=3, has_network=True), 256, building=False) is None


def test_the_address_pools_give_the_network_budget():
    assert pool_networks([{"Base": "172.20.0.0/14", "Size": 24}]) == 1024
    assert pool_networks([{"Base": "10.0.0.0/16", "Size": 24}, {"Base": "bad", "Size": 24}]) == 256
    assert pool_networks(None) == 31  # the engine's built-in pools
