"""A learner's service on the classroom swarm, end to end: create, heal, scale, update, roll back, remove.

Against the real swarm (`make swarm`): the image is built on the lab's
engine, pushed to the swarm's registry and run on the nodes. Another
learner sees none of it and can touch none of it. Everything the tests
make leaves the swarm afterwards (tests/integration/learners.py removes
each sandbox's objects, the swarm's included).
"""

from __future__ import annotations

import time

import pytest

from orchestration.services import cleanup, learner, stacks
from sandboxes import services
from sandboxes.errors import SandboxError
from tests.integration.learners import two_learners

# The classroom swarm is one for the whole run: its tests take turns on one worker.
pytestmark = [
    pytest.mark.integration, pytest.mark.django_db, pytest.mark.xdist_group("classroom-swarm")
]

WAIT_S = 120


@pytest.fixture(scope="module")
def learners(django_db_setup, django_db_blocker):
    with two_learners(django_db_blocker, "swarm") as (_, sandboxes):
        yield sandboxes


def _until(what: str, probe, timeout: float = WAIT_S):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen in {timeout:.0f}s; last: {last!r}")


def _service(sandbox, name: str) -> dict | None:
    return next((s for s in learner.list_services(sandbox) if s["name"] == name), None)


def _tagged(image: str) -> str:
    return image if ":" in image else f"{image}:latest"


def _running(sandbox, name: str, replicas: int, image: str | None = None) -> list[dict]:
    tasks = [
        t for t in learner.list_tasks(sandbox, name)
        if t["state"] == "running" and t["desired"] == "running"
        and (image is None or _tagged(t["image"]) == _tagged(image))
    ]
    return tasks if len(tasks) == replicas else []


def _done(events) -> dict:
    events = list(events)
    assert events and events[-1]["kind"] == "done", events[-3:]
    return events[-1]


def test_a_service_runs_heals_scales_updates_rolls_back_and_goes(learners):
    alice, bob = learners
    assert _done(services.build_image(alice, "flask-app"))
    assert _done(services.build_image(alice, "flask-app:v2"))

    wanted = learner.wanted_service(alice, "web", "flask-app", replicas=3, publish="8080:5002")
    done = _done(learner.create(alice, wanted))
    assert done["service"]["name"] == "web"
    tasks = _until("three running tasks", lambda: _running(alice, "web", 3))
    assert len({t["node"] for t in tasks}) >= 2, tasks  # spread over the nodes
    assert [s["name"] for s in learner.list_services(alice)] == ["web"]
    assert learner.list_services(bob) == []  # nothing of alice's in bob's listing

    # Bob can neither kill alice's task nor scale or remove her service.
    with pytest.raises(SandboxError):
        learner.kill_task(bob, "web.1")
    with pytest.raises(SandboxError):
        learner.scale(bob, "web", 0)

    # Kill a task: the swarm starts a new one in the same slot.
    killed = learner.kill_task(alice, "web.1")
    assert killed["killed"] == "web.1"

    def replaced():
        slot = [t for t in learner.list_tasks(alice, "web") if t["slot"] == 1]
        new = [t for t in slot if t["id"] != killed["task"] and t["state"] == "running"]
        old = [t for t in slot if t["id"] == killed["task"]]
        return new if new and old and old[0]["state"] != "running" else []

    _until("a replacement of web.1", replaced)
    _until("three running tasks again", lambda: _running(alice, "web", 3))

    assert learner.scale(alice, "web", 5)["replicas"] == 5
    _until("five running tasks", lambda: _running(alice, "web", 5))

    _done(learner.update(alice, "web", image="flask-app:v2", parallelism=2, delay=1))
    _until("five tasks of v2", lambda: _running(alice, "web", 5, "flask-app:v2"))

    learner.rollback(alice, "web")
    _until("five tasks of flask-app again", lambda: _running(alice, "web", 5, "flask-app"))

    assert learner.remove(alice, "web") == {"removed": "web"}
    _until("the service gone", lambda: _service(alice, "web") is None)


def test_an_update_to_an_image_the_learner_lacks_changes_nothing(learners):
    alice, _ = learners
    assert _done(services.build_image(alice, "flask-app"))
    _done(learner.create(alice, learner.wanted_service(alice, "api", "flask-app", replicas=1)))
    before = _service(alice, "api")
    with pytest.raises(SandboxError):
        list(learner.update(alice, "api", image="flask-app:nope"))
    assert _service(alice, "api")["image"] == before["image"]
    assert _tagged(before["image"]) == "flask-app:latest"
    learner.remove(alice, "api")


def test_hostile_names_are_refused_before_the_swarm_is_asked(learners):
    alice, _ = learners
    for name in ("../web", "web;rm", "A" * 80, "web\nx", ""):
        with pytest.raises(SandboxError):
            learner.wanted_service(alice, name, "flask-app")
    with pytest.raises(SandboxError):
        learner.kill_task(alice, "nothing.1")


def test_cleanup_leaves_nothing_of_the_sandbox_on_the_swarm(learners):
    alice, _ = learners
    assert _done(services.build_image(alice, "flask-app"))
    _done(learner.create(alice, learner.wanted_service(alice, "gone", "flask-app", replicas=1)))
    cleanup.remove_sandbox(alice.sid)
    assert learner.list_services(alice) == []
    assert alice.sid not in cleanup.labelled_sids()


SHOP = """services:
  web:
    image: flask-app
    ports:
      - "8081:5002"
"""


def test_a_stack_removed_and_deployed_again_at_once_comes_up_each_time(learners):
    """`docker stack rm` then `deploy` straight away: the stack's network is
    still on its way out of the swarm (it is listed, and a service create on
    it is refused), so the deploy makes a new one."""
    alice, _ = learners
    assert _done(services.build_image(alice, "flask-app"))

    def web_running():
        return [t for t in stacks.list_tasks(alice, "shop")
                if t["state"] == "running" and t["desired"] == "running"]

    for _ in range(3):
        done = _done(stacks.deploy(alice, "shop", text=SHOP))
        assert done["stack"] == {"name": "shop", "services": 1}
        _until("the stack's web task running", web_running)
        assert stacks.remove(alice, "shop", wait=0)["removed"] == ["shop_web"]
        # The network's removal asked for, not waited for (`stack rm` waits
        # up to 15 s; a learner's next deploy may come sooner).
        learner.drop_idle_networks(alice)
    _until("the stack gone", lambda: stacks.list_stacks(alice) == [])
