"""A pool of two real engines: the host's and a private dockerd of the test's own.

Sandboxes are placed on the engine with the least load among those that
answer and stay there; every action of a learner (run, state, logs, stop,
remove, checks, the app proxy) reaches their own sandbox's engine and no
other; the reaper sweeps every engine; and an engine that stops leaves the
other engine's learners working while its own learners are told so.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import urllib.request

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.test import AsyncClient
from django.utils import timezone

from checks.base import validate
from checks.evaluation import evaluate
from engine import client, pool
from sandboxes import services
from sandboxes.models import Sandbox
from sandboxes.services import placement
from tests.engines import private_engine
from tests.integration.lab_socket import frames_until, open_lab_socket

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

IMAGE = django_settings.DOCKERLAB_IMAGES["python"]
# An app on port 5002 that logs every request (to stderr) and prints a tick.
SERVER = "python -u -m http.server 5002"
HOST_URL = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


@pytest.fixture(scope="module")
def second():
    with private_engine(IMAGE, name=f"pool{os.getpid() % 10000}") as engine:
        yield engine


@pytest.fixture
def two_engines(second, settings):
    settings.DOCKERLAB_ENGINES = f"main={HOST_URL} second={second.url}"
    client.reset()
    yield second
    client.reset()


def _learner(name: str, engine: str | None):
    user = get_user_model().objects.create_user(name, password="a-long-Passphrase-9")
    if engine is not None:
        # Placed as if chosen at creation (placement itself is tested below).
        Sandbox.objects.create(user=user, engine=engine)
    return user


@pytest.fixture
def learners(two_engines):
    alice = _learner("pool-alice", "main")
    bob = _learner("pool-bob", "second")
    yield alice, bob
    for sandbox in Sandbox.objects.filter(user__in=[alice, bob]):
        with pool.using(sandbox.engine):
            if sandbox.engine == "main" or two_engines.answers():
                services.remove_objects(sandbox.sid)


def _names_on(engine_cli, sid: str) -> list[str]:
    out = engine_cli("ps", "-a", "--filter", f"label=org.dockerlab.sandbox={sid}",
                     "--format", "{{.Names}}")
    return sorted(out.split())


def _host_cli(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout


def _second_cli(engine):
    return lambda *args: engine.docker(*args).stdout.decode()


async def _run_server(communicator, name: str) -> int:
    await communicator.send_json_to({
        "action": "run", "ref": f"run-{name}", "image": IMAGE, "name": name,
        "command": SERVER, "port": 5002,
    })
    frames = await frames_until(
        communicator, lambda f: f["type"] == "result" and f.get("ref") == f"run-{name}"
    )
    view = frames[-1]["data"]
    assert view["name"] == name and view["state"] == "running", view
    return int(view["ports"][0]["host"])


def _get(port: int, path: str, timeout: float = 20) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as answer:
                return answer.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


# -- placement --------------------------------------------------------------------


def test_a_new_sandbox_goes_to_the_least_loaded_engine_and_stays_there(two_engines):
    loads = placement.loads()
    assert set(loads) == {"main", "second"}
    assert all(isinstance(load, int) for load in loads.values()), loads
    least = min(loads, key=lambda name: (loads[name], name != "main"))
    user = get_user_model().objects.create_user("pool-new", password="a-long-Passphrase-9")
    sandbox = services.sandbox_for(user)
    assert sandbox.engine == least
    # Sticky: whatever the loads become, the sandbox keeps its engine.
    other = "main" if least == "second" else "second"
    for _ in range(3):
        Sandbox.objects.create(
            user=get_user_model().objects.create_user(
                f"pool-filler-{time.monotonic_ns()}", password="a-long-Passphrase-9"
            ),
            engine=least,
        )
    assert placement.loads()[least] >= loads[least] + 3
    assert services.sandbox_for(user).engine == least
    assert Sandbox.objects.get(user=user).engine != other


def test_an_engine_that_does_not_answer_gets_no_new_sandbox(two_engines, settings):
    settings.DOCKERLAB_ENGINES = f"main={HOST_URL} gone=unix:///nonexistent/docker.sock"
    loads = placement.loads()
    assert loads["gone"] is None and isinstance(loads["main"], int)
    for i in range(3):
        user = get_user_model().objects.create_user(f"pool-{i}", password="a-long-Passphrase-9")
        assert services.sandbox_for(user).engine == "main"


def test_a_sandbox_on_an_engine_the_pool_no_longer_has_says_so(two_engines):
    user = _learner("pool-orphan", "retired")
    sandbox = services.sandbox_for(user)
    with pytest.raises(services.SandboxError) as info:
        services.list_state(sandbox)
    assert info.value.code == "engine_unavailable"
    assert "'retired'" in info.value.message


# -- each learner's actions reach their own engine ----------------------------------


async def test_each_learners_actions_go_to_their_own_engine(learners, two_engines):
    alice, bob = learners
    a, b = await open_lab_socket(alice), await open_lab_socket(bob)
    try:
        a_port = await _run_server(a, "web")
        b_port = await _run_server(b, "web")
        a_sid, b_sid = [
            (await Sandbox.objects.aget(user=u)).sid for u in (alice, bob)
        ]
        on_second = _second_cli(two_engines)
        # Each container is on its learner's engine, and only there.
        assert await asyncio.to_thread(_names_on, _host_cli, a_sid) == [f"dl-{a_sid}-web"]
        assert await asyncio.to_thread(_names_on, on_second, a_sid) == []
        assert await asyncio.to_thread(_names_on, on_second, b_sid) == [f"dl-{b_sid}-web"]
        assert await asyncio.to_thread(_names_on, _host_cli, b_sid) == []

        # Logs follow from the right engine: a request to bob's app shows in his follow.
        await b.send_json_to({"action": "logs", "ref": "lg", "container": "web"})
        await frames_until(b, lambda f: f["type"] == "logs.start")
        await asyncio.to_thread(_get, b_port, "/?probe=second-engine")
        await frames_until(
            b,
            lambda f: f["type"] == "output"
            and any("probe=second-engine" in line for line in f["lines"]),
        )
        await asyncio.to_thread(_get, a_port, "/?probe=main-engine")

        # The app proxy reaches each learner's app on its engine.
        for user, probe in ((alice, "main-proxy"), (bob, "second-proxy")):
            http = AsyncClient()
            await http.aforce_login(user)
            answer = await http.get(f"/sandbox/app/web/?{probe}")
            assert answer.status_code == 200, answer.content[:300]
            assert b"Directory listing" in answer.content

        # A check of bob's work reads bob's engine.
        spec = validate({"check": "http_answers", "with": {"container": "web", "timeout": 5}})
        result = (await asyncio.to_thread(evaluate, [spec], user=bob))[0]
        assert result.passed, result

        # Stop and remove go to the right engine too.
        await b.send_json_to({"action": "remove", "ref": "rm", "container": "web"})
        await frames_until(b, lambda f: f["type"] == "result" and f.get("ref") == "rm")
        assert await asyncio.to_thread(_names_on, on_second, b_sid) == []
        assert await asyncio.to_thread(_names_on, _host_cli, a_sid) == [f"dl-{a_sid}-web"]
    finally:
        await a.disconnect()
        await b.disconnect()


def test_the_reaper_sweeps_every_engine_of_the_pool(learners, two_engines):
    alice, bob = learners
    sandboxes = []
    for user in (alice, bob):
        sandbox = services.sandbox_for(user)
        services.run_container(sandbox, IMAGE, name="idle", command="sleep 300", port=None)
        sandboxes.append(sandbox)
    Sandbox.objects.filter(pk__in=[s.pk for s in sandboxes]).update(
        expires_at=timezone.now() - timezone.timedelta(minutes=1)
    )
    swept = services.reap(only={s.sid for s in sandboxes})
    assert {sid: removed["containers"] for sid, removed in swept.items()} == {
        s.sid: 1 for s in sandboxes
    }
    assert _names_on(_host_cli, sandboxes[0].sid) == []
    assert _names_on(_second_cli(two_engines), sandboxes[1].sid) == []


# -- one engine stops -----------------------------------------------------------------


async def test_an_engine_that_stops_leaves_the_other_engines_learners_working(
    learners, two_engines
):
    alice, bob = learners
    a, b = await open_lab_socket(alice), await open_lab_socket(bob)
    try:
        await _run_server(b, "web")
        await asyncio.to_thread(two_engines.stop)
        # Bob's page hears that his engine stopped answering.
        frames = await frames_until(
            b, lambda f: f["type"] == "engine" and f["state"] == "down", timeout=20,
            errors_ok=True,
        )
        assert "not answering" in frames[-1]["message"]
        # Bob's actions say so, in words, and nothing crashes.
        await b.send_json_to({"action": "state", "ref": "st"})
        frames = await frames_until(
            b, lambda f: f["type"] == "error" and f.get("ref") == "st", errors_ok=True
        )
        assert frames[-1]["code"] == "engine_unavailable"
        # Alice, on the other engine, works on and hears of no outage.
        port = await _run_server(a, "web")
        assert b"Directory listing" in await asyncio.to_thread(_get, port, "/")
        await a.send_json_to({"action": "state", "ref": "st"})
        frames = await frames_until(a, lambda f: f["type"] == "state" and f.get("ref") == "st")
        assert not any(f["type"] == "engine" for f in frames), frames
        assert [c["name"] for c in frames[-1]["containers"]] == ["web"]
        # The reaper sweeps what it can reach and does not stop at the engine that is away.
        await asyncio.to_thread(services.reap, only=set())
        # The engine comes back: bob's page hears it, and his container is still there.
        await asyncio.to_thread(two_engines.start)
        await frames_until(
            b, lambda f: f["type"] == "engine" and f["state"] == "up", timeout=30,
            errors_ok=True,
        )
        await b.send_json_to({"action": "state", "ref": "st2"})
        frames = await frames_until(
            b, lambda f: f["type"] == "state" and f.get("ref") == "st2", errors_ok=True
        )
        assert [c["name"] for c in frames[-1]["containers"]] == ["web"]
    finally:
        await a.disconnect()
        await b.disconnect()
        if not two_engines.answers():
            await asyncio.to_thread(two_engines.start)
