"""Per-learner limits across sockets, fair engine pools and the lab's admission, on a real engine.

alice opens several sockets and pushes every limit; bob, beside her, must
not notice. Everything labelled with their sandboxes goes afterwards.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from django.contrib.auth import get_user_model

from sandboxes import services, slots
from sandboxes.models import Sandbox
from sandboxes.services import capacity
from tests.integration.lab_socket import open_lab_socket

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# PID 1 ignores SIGTERM unless it asks for it: `stop` waits its whole timeout.
STUBBORN = "sleep 300"
TICKER = "python -u -c \"import time, itertools; [print(i) or time.sleep(0.5) for i in itertools.count()]\""
SLOW_BUILD = "FROM python:3.12-slim\nRUN sleep 6\n"


@pytest.fixture(autouse=True)
def fresh_slots():
    old = slots.use_store(slots.LocalSlots())
    yield
    slots.use_store(old)


@pytest.fixture
def pair(transactional_db):
    users = get_user_model()
    alice = users.objects.create_user("limits-alice")
    bob = users.objects.create_user("limits-bob")
    yield alice, bob
    for sandbox in Sandbox.objects.filter(user__in=[alice, bob]):
        services.remove_objects(sandbox.sid)


async def _answer(communicator, ref: str, timeout: float = 120.0) -> dict:
    """The first frame carrying `ref` (others are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        frame = await communicator.receive_json_from(timeout=max(0.1, deadline - time.monotonic()))
        if frame.get("ref") == ref:
            return frame


async def _run(communicator, command: str, name: str) -> None:
    await communicator.send_json_to(
        {"action": "run", "ref": f"run-{name}", "image": "python:3.12-slim", "name": name,
         "command": command}
    )
    frame = await _answer(communicator, f"run-{name}")
    assert frame["type"] == "result", frame
    # The run's action ends with the new state.
    while (await communicator.receive_json_from(timeout=60))["type"] != "state":
        pass


async def _close(*communicators) -> None:
    for communicator in communicators:
        await communicator.disconnect()


async def test_streams_are_counted_per_learner_across_her_sockets(pair, settings):
    alice, bob = pair
    assert settings.DOCKERLAB_STREAMS_PER_USER == 8
    tabs = [await open_lab_socket(alice) for _ in range(3)]
    bobs = await open_lab_socket(bob)
    try:
        await _run(tabs[0], TICKER, "ticker")
        await _run(bobs, TICKER, "ticker")
        for i in range(8):
            tab = tabs[i % 3]
            await tab.send_json_to({"action": "logs", "ref": f"f{i}", "container": "ticker"})
            assert (await _answer(tab, f"f{i}"))["type"] == "logs.start"
        await tabs[1].send_json_to({"action": "logs", "ref": "ninth", "container": "ticker"})
        refused = await _answer(tabs[1], "ninth")
        assert refused["code"] == "busy" and "in all your tabs" in refused["message"]
        # bob follows his own as if alice were not there.
        await bobs.send_json_to({"action": "logs", "ref": "b", "container": "ticker"})
        assert (await _answer(bobs, "b"))["type"] == "logs.start"
        # Closing a tab frees the streams it had.
        await tabs[0].disconnect()
        await asyncio.sleep(0.5)
        await tabs[2].send_json_to({"action": "logs", "ref": "again", "container": "ticker"})
        assert (await _answer(tabs[2], "again"))["type"] == "logs.start"
    finally:
        await _close(*tabs[1:], bobs)


async def test_builds_are_counted_per_learner_across_her_sockets(pair, settings):
    alice, bob = pair
    assert settings.DOCKERLAB_BUILDS_PER_USER == 2
    tabs = [await open_lab_socket(alice) for _ in range(3)]
    try:
        for i in range(2):
            await tabs[i].send_json_to(
                {"action": "build", "ref": f"b{i}", "tag": f"slow{i}", "dockerfile": SLOW_BUILD,
                 "no_cache": True}
            )
            assert (await _answer(tabs[i], f"b{i}"))["type"] == "build.start"
        await tabs[2].send_json_to({"action": "build", "ref": "third", "tag": "slow2",
                                    "dockerfile": SLOW_BUILD})
        refused = await _answer(tabs[2], "third")
        assert refused["code"] == "busy" and "2 builds or compose ups" in refused["message"]
        await tabs[2].send_json_to({"action": "compose", "ref": "up", "command": "up"})
        assert (await _answer(tabs[2], "up"))["code"] == "busy"
        # When one build ends, a new one may start.
        while (await tabs[0].receive_json_from(timeout=120))["type"] != "build.done":
            pass
        await tabs[2].send_json_to({"action": "build", "ref": "later", "tag": "slow2",
                                    "dockerfile": SLOW_BUILD})
        assert (await _answer(tabs[2], "later"))["type"] == "build.start"
    finally:
        await _close(*tabs)


async def test_actions_in_flight_are_counted_per_learner_and_others_are_not_held_up(
    pair, settings
):
    alice, bob = pair
    assert settings.DOCKERLAB_ACTIONS_PER_USER == 8
    tabs = [await open_lab_socket(alice) for _ in range(2)]
    bobs = await open_lab_socket(bob)
    try:
        await _run(tabs[0], STUBBORN, "stubborn")
        # Eight stops of a container that makes each wait its 5 s timeout.
        for i in range(8):
            await tabs[i % 2].send_json_to({"action": "stop", "ref": f"s{i}", "container": "stubborn"})
        await tabs[1].send_json_to({"action": "state", "ref": "ninth"})
        refused = await _answer(tabs[1], "ninth", timeout=3)
        assert refused["code"] == "busy"
        # bob's action is answered while alice's stops are all still running:
        # her calls wait behind each other in the pool, not in front of his.
        await bobs.send_json_to({"action": "state", "ref": "bob"})
        assert (await _answer(bobs, "bob", timeout=4))["type"] == "state"
        for tab in tabs:
            while not await tab.receive_nothing(timeout=0.1):
                frame = await tab.receive_json_from()
                assert not str(frame.get("ref", "")).startswith("s"), frame
        for n, tab in enumerate(tabs):
            wanted = {f"s{i}" for i in range(n, 8, 2)}
            while wanted:
                frame = await tab.receive_json_from(timeout=60)
                if frame.get("ref") in wanted:
                    assert frame["type"] == "result", frame
                    wanted.discard(frame["ref"])
    finally:
        await _close(*tabs, bobs)


async def test_a_full_lab_refuses_runs_builds_and_compose_up_with_one_message(pair, settings):
    alice, _ = pair
    settings.DOCKERLAB_LAB_MEMORY_MB = settings.DOCKERLAB_CONTAINER_MEMORY_MB // 2
    tab = await open_lab_socket(alice)
    try:
        requests = [
            {"action": "run", "image": "python:3.12-slim", "command": "true"},
            {"action": "build", "tag": "full"},
            {"action": "compose", "command": "up"},
        ]
        for i, request in enumerate(requests):
            await tab.send_json_to({**request, "ref": f"r{i}"})
            refused = await _answer(tab, f"r{i}")
            assert refused["type"] == "error", refused
            assert refused["code"] == "lab_full"
            assert refused["message"] == "The lab is full right now: try again in a few minutes."
    finally:
        await _close(tab)
    sandbox = await asyncio.to_thread(lambda: Sandbox.objects.get(user=alice))
    assert await asyncio.to_thread(services.list_state, sandbox) == {
        "images": [], "containers": [], "volumes": []
    }


def test_the_container_and_network_budgets_count_every_sandbox_on_the_engine(pair, settings):
    alice, bob = pair
    alices, bobs = services.sandbox_for(alice), services.sandbox_for(bob)
    services.run_container(bobs, "python:3.12-slim", name="held", command="sleep 60", port=None)
    used = capacity.usage(alices)
    assert used.containers >= 1 and used.networks >= 1 and not used.has_network
    # alice holds nothing, so a budget of one refuses her only if the others'
    # containers and networks count (bob's "held" stays to the end). Other
    # sandboxes on the engine (tests beside this one, anyone's) come and go
    # meanwhile: the budgets do not depend on how many they hold, and memory
    # is out of the way.
    settings.DOCKERLAB_LAB_MEMORY_MB = 10**9
    settings.DOCKERLAB_LAB_MAX_CONTAINERS = 1
    with pytest.raises(capacity.LabFull) as full:
        services.run_container(alices, "python:3.12-slim", command="true", port=None)
    assert full.value.code == "lab_full" and "containers" in full.value.reason
    settings.DOCKERLAB_LAB_MAX_CONTAINERS = 10**6
    settings.DOCKERLAB_LAB_MAX_NETWORKS = 1
    with pytest.raises(capacity.LabFull) as full:
        services.run_container(alices, "python:3.12-slim", command="true", port=None)
    assert "networks" in full.value.reason
    # bob's network exists already: his next container needs no new one.
    services.run_container(bobs, "python:3.12-slim", command="true", port=None)
