"""Container start timing on a real engine: bounded, labelled, cleaned up.

alice times container starts in her sandbox; every container the timing
made is gone afterwards, and so is the network it needed.
"""

from __future__ import annotations

import threading

import pytest
from django.conf import settings

from engine import client
from sandboxes import labels, services
from sandboxes.services import timing
from tests.integration.learners import two_learners

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture(scope="module")
def users(django_db_setup, django_db_blocker):
    with two_learners(django_db_blocker, "timing") as (pair, _):
        yield pair


def _timing_containers(sandbox) -> list[dict]:
    with client.translate_errors():
        return client.api().containers(
            all=True,
            filters={"label": [f"{labels.SANDBOX}={sandbox.sid}", f"{labels.TIMING}=1"]},
        )


def _networks(sandbox) -> list[dict]:
    with client.translate_errors():
        return client.api().networks(filters=sandbox.label_filter())


def test_each_run_is_timed_and_nothing_is_left_behind(users):
    sandbox = users[0].sandbox
    result = timing.time_starts(sandbox, 3)
    assert [run["run"] for run in result["runs"]] == [1, 2, 3]
    assert result["skipped"] == 0
    for run in result["runs"]:
        assert run["output"] == timing.GREETING
        assert run["create_ms"] > 0 and run["start_ms"] > 0 and run["output_ms"] >= 0
        parts = run["create_ms"] + run["start_ms"] + run["output_ms"]
        assert parts <= run["total_ms"] < timing.RUN_SECONDS * 1000
        assert run["remove_ms"] > 0
    assert result["median_total_ms"] == sorted(r["total_ms"] for r in result["runs"])[1]
    assert result["image"] == settings.DOCKERLAB_IMAGES["python"]
    assert {boot["source"] for boot in result["vm_boots"]}
    assert _timing_containers(sandbox) == []
    assert _networks(sandbox) == []  # made for the runs, dropped after them
    print("\n" + ", ".join(f"{r['total_ms']:.0f} ms" for r in result["runs"]))


def test_a_second_timing_at_once_is_refused_as_busy(users):
    sandbox = users[0].sandbox
    outcome = {}

    def first():
        outcome["first"] = timing.time_starts(sandbox, 4)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        for _ in range(200):
            if sandbox.sid in timing._running:
                break
            threading.Event().wait(0.01)
        with pytest.raises(services.SandboxError) as info:
            timing.time_starts(sandbox, 1)
        assert info.value.code == "busy"
    finally:
        thread.join(60)
    assert len(outcome["first"]["runs"]) == 4
    assert _timing_containers(sandbox) == []


def test_the_run_count_is_bounded(users):
    sandbox = users[0].sandbox
    for runs in (0, timing.MAX_RUNS + 1, True, "5"):
        with pytest.raises(services.BadRequest):
            timing.time_starts(sandbox, runs)


def test_a_timing_leaves_the_learners_own_containers_and_network_alone(users):
    bob = users[1].sandbox
    services.run_container(bob, "python:3.12-slim", name="sleeper", command="sleep 60", port=None)
    network = [n["Id"] for n in _networks(bob)]
    timing.time_starts(bob, 1)
    assert [n["Id"] for n in _networks(bob)] == network
    assert services.find_container(bob, "sleeper")["State"] == "running"
    assert _timing_containers(bob) == []

