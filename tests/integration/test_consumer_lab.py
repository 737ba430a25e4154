"""The lab websocket end to end on a real engine: build, run, follow, clean up.

Each test works in a fresh learner's sandbox and removes everything labelled
with it afterwards.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model

from dockerlab.asgi import application
from sandboxes import services
from sandboxes.models import Sandbox
from sandboxes.services import logs
from sandboxes.streaming import THREAD_PREFIX
from tests.integration.http import ok, wait_for_answer
from tests.integration.lab_socket import frames_until, open_lab_socket

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# Threads that read engine streams on a socket's behalf (builds; log follows
# once had a reader and an exit watcher each, and must have none).
READER_PREFIXES = (THREAD_PREFIX, "logs-watch-")


def _readers() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(READER_PREFIXES)]


async def _readers_gone(before: list[str], timeout: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        extra = [name for name in _readers() if name not in before]
        if not extra or time.monotonic() > deadline:
            return extra
        await asyncio.sleep(0.1)


@pytest.fixture
def learner(transactional_db):
    user = get_user_model().objects.create_user("lab-learner", password="a-long-Passphrase-9")
    yield user
    for sandbox in Sandbox.objects.filter(user=user):
        services.remove_objects(sandbox.sid)


def _full_id(user, name: str) -> str:
    return services.find_container(Sandbox.objects.get(user=user), name)["Id"]


_until = functools.partial(frames_until, timeout=180.0)


async def _build(communicator) -> list[dict]:
    await communicator.send_json_to({"action": "build", "ref": "b", "tag": "flask-app"})
    return await _until(communicator, lambda f: f["type"] == "build.done")


async def test_a_build_streams_its_steps_and_output_and_ends_ok(learner):
    communicator = await open_lab_socket(learner)
    try:
        frames = await _build(communicator)
        start = frames[0]
        assert start["type"] == "build.start" and start["ref"] == "b"
        assert start["steps"] >= 5
        steps = [f for f in frames if f["type"] == "build.step"]
        assert [s["step"] for s in steps] == list(range(1, start["steps"] + 1))
        outputs = [f for f in frames if f["type"] == "output"]
        assert len(outputs) >= 3
        assert all(f["stream"] == start["stream"] and f["skipped"] == 0 for f in outputs)
        assert any(line.strip() for f in outputs for line in f["lines"])
        done = frames[-1]
        assert done["ok"] is True, done
        assert done["image"] == "flask-app:latest"
        # The new image shows up in the state sent after the build.
        state = await _until(communicator, lambda f: f["type"] == "state", timeout=30)
        names = [image["name"] for image in state[-1]["images"]]
        assert "flask-app:latest" in names
    finally:
        await communicator.disconnect()
    assert await _readers_gone([]) == []


async def test_a_running_apps_requests_arrive_in_a_log_follow_until_unfollowed(learner):
    before = _readers()
    communicator = await open_lab_socket(learner)
    try:
        done = (await _build(communicator))[-1]
        assert done["ok"], done
        await communicator.send_json_to(
            {"action": "run", "ref": "run", "image": "flask-app", "name": "web"}
        )
        frames = await _until(communicator, lambda f: f["type"] == "result", timeout=60)
        container = frames[-1]["data"]
        assert container["name"] == "web" and container["state"] == "running"
        host_port = container["ports"][0]["host"]
        state = await _until(communicator, lambda f: f["type"] == "state", timeout=30)
        assert [c["name"] for c in state[-1]["containers"]] == ["web"]

        await communicator.send_json_to({"action": "logs", "ref": "lg", "container": "web"})
        start = (await _until(communicator, lambda f: f["type"] == "logs.start", timeout=30))[-1]
        _, body = await asyncio.to_thread(
            wait_for_answer, f"http://127.0.0.1:{host_port}/?probe=lab", ok, 30
        )
        assert body
        frames = await _until(
            communicator,
            lambda f: f["type"] == "output" and any("/?probe=lab" in line for line in f["lines"]),
            timeout=30,
        )
        assert frames[-1]["stream"] == start["stream"]
        # Followed on the loop: no thread reads it.
        assert await _readers_gone(before, timeout=0) == []
        full_id = (await asyncio.to_thread(_full_id, learner, "web"))
        assert logs.hub().subscribers(full_id) == 1

        await communicator.send_json_to(
            {"action": "unfollow", "ref": "u", "stream": start["stream"]}
        )
        frames = await _until(communicator, lambda f: f["type"] == "logs.end", timeout=30)
        assert frames[-1]["stream"] == start["stream"]
        assert "exit_code" not in frames[-1] and "error" not in frames[-1]
        if not any(f.get("ref") == "u" for f in frames):
            await _until(communicator, lambda f: f.get("ref") == "u", timeout=30)
        assert logs.hub().followed() == []

        await communicator.send_json_to({"action": "stop", "ref": "s", "container": "web"})
        stopped = (await _until(communicator, lambda f: f.get("ref") == "s", timeout=60))[-1]
        assert stopped["action"] == "stop"
        await communicator.send_json_to({"action": "remove", "ref": "r", "container": "web"})
        await _until(communicator, lambda f: f.get("ref") == "r", timeout=60)
        state = await _until(communicator, lambda f: f["type"] == "state", timeout=30)
        assert state[-1]["containers"] == []
    finally:
        await communicator.disconnect()


async def test_disconnecting_while_following_logs_leaves_no_reader_behind(learner):
    before = _readers()
    communicator = await open_lab_socket(learner)
    try:
        done = (await _build(communicator))[-1]
        assert done["ok"], done
        await communicator.send_json_to({"action": "run", "image": "flask-app"})
        container = (await _until(communicator, lambda f: f["type"] == "result", timeout=60))[-1][
            "data"
        ]
        for _ in range(3):
            await communicator.send_json_to({"action": "logs", "container": container["name"]})
            await _until(communicator, lambda f: f["type"] == "logs.start", timeout=30)
        # Three follows of one container: one engine follow, three subscribers.
        full_id = await asyncio.to_thread(_full_id, learner, container["name"])
        assert logs.hub().followed() == [full_id]
        assert logs.hub().subscribers(full_id) == 3
    finally:
        await communicator.disconnect()
    assert logs.hub().followed() == []
    assert await _readers_gone(before) == []


async def test_garbage_frames_are_refused_and_the_socket_still_reaches_the_engine(learner):
    communicator = await open_lab_socket(learner)
    try:
        for payload in ["nonsense", "[1]", '{"action": "rmi"}', '{"action": "launch-missiles"}']:
            await communicator.send_to(text_data=payload)
            frame = await communicator.receive_json_from(timeout=5)
            assert frame["type"] == "error" and frame["message"]
        await communicator.send_to(bytes_data=b"\x00\xff")
        assert (await communicator.receive_json_from(timeout=5))["code"] == "bad_frame"
        await communicator.send_json_to({"action": "state", "ref": "ok"})
        state = await communicator.receive_json_from(timeout=30)
        assert state["type"] == "state" and state["ref"] == "ok"
        await communicator.send_json_to({"action": "stop", "ref": "x", "container": "nobody"})
        error = await communicator.receive_json_from(timeout=30)
        assert (error["type"], error["code"], error["ref"]) == ("error", "not_found", "x")
    finally:
        await communicator.disconnect()


async def test_the_real_route_refuses_an_anonymous_socket():
    communicator = WebsocketCommunicator(
        application,
        "/ws/lab/",
        headers=[(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")],
    )
    try:
        connected, _ = await communicator.connect()
        assert connected
        frame = await communicator.receive_json_from(timeout=5)
        assert frame["code"] == "auth_required"
        assert await communicator.receive_output(timeout=5) == {
            "type": "websocket.close",
            "code": 4401,
        }
    finally:
        await communicator.disconnect()


async def test_a_change_made_in_one_tab_reaches_the_learners_other_tabs(learner):
    lesson_tab = await open_lab_socket(learner)
    sandbox_tab = await open_lab_socket(learner)
    try:
        await lesson_tab.send_json_to({"action": "prune", "ref": "p"})
        frames = await _until(lesson_tab, lambda f: f["type"] == "state", timeout=60)
        assert any(f["type"] == "result" and f["ref"] == "p" for f in frames)
        pushed = await sandbox_tab.receive_json_from(timeout=10)
        assert pushed["type"] == "state" and "ref" not in pushed
        assert pushed["containers"] == [] and pushed["images"] == []
        # Asking for the state is not a change: the other tab hears nothing.
        await lesson_tab.send_json_to({"action": "state"})
        await _until(lesson_tab, lambda f: f["type"] == "state", timeout=30)
        assert await sandbox_tab.receive_nothing(timeout=0.5)
    finally:
        await lesson_tab.disconnect()
        await sandbox_tab.disconnect()


async def test_a_one_off_command_prints_its_output_and_ends_with_its_exit_code(learner):
    communicator = await open_lab_socket(learner)
    try:
        await communicator.send_json_to(
            {
                "action": "run",
                "ref": "c",
                "image": "python:3.12-slim",
                "command": "python -c \"import sys; print('six times seven', 6 * 7); sys.exit(3)\"",
            }
        )
        result = (await _until(communicator, lambda f: f["type"] == "result"))[-1]
        name = result["data"]["name"]
        assert result["data"]["ports"] == []  # a one-off publishes nothing
        await communicator.send_json_to(
            {"action": "logs", "ref": "l", "container": name, "tail": 10000}
        )
        frames = await _until(communicator, lambda f: f["type"] == "logs.end", timeout=30)
        lines = [line for f in frames if f["type"] == "output" for line in f["lines"]]
        assert "six times seven 42" in lines
        assert frames[-1]["exit_code"] == 3
        assert "error" not in frames[-1]

        # A quote never closed is the learner's mistake, told plainly.
        await communicator.send_json_to(
            {"action": "run", "ref": "q", "image": "python:3.12-slim", "command": "echo 'oops"}
        )
        while True:
            frame = await communicator.receive_json_from(timeout=30)
            if frame.get("ref") == "q":
                break
        assert frame["type"] == "error" and frame["code"] == "bad_request"
        assert "quote" in frame["message"]
        await communicator.send_json_to({"action": "remove", "ref": "rm", "container": name})
        await _until(communicator, lambda f: f.get("ref") == "rm", timeout=30)
    finally:
        await communicator.disconnect()


async def test_compose_up_streams_its_steps_then_ps_and_down_answer(learner):
    communicator = await open_lab_socket(learner)
    try:
        await communicator.send_json_to({"action": "compose", "ref": "up", "command": "up"})
        frames = await _until(communicator, lambda f: f["type"] == "compose.done")
        start = frames[0]
        assert start["type"] == "compose.start" and start["project"] == "flaskapp"
        steps = [f for f in frames if f["type"] == "compose.step"]
        assert [s["step"] for s in steps] == list(range(1, start["steps"] + 1))
        lines = [line for f in frames if f["type"] == "output" for line in f["lines"]]
        assert any("db is healthy" in line for line in lines)
        done = frames[-1]
        assert done["ok"] is True, done
        assert {s["service"] for s in done["services"]} == {"db", "web"}

        await communicator.send_json_to({"action": "compose", "ref": "ps", "command": "ps"})
        ps = (await _until(communicator, lambda f: f.get("ref") == "ps"))[-1]
        assert [s["name"] for s in ps["data"]["services"]] == ["flaskapp-db-1", "flaskapp-web-1"]

        await communicator.send_json_to(
            {"action": "compose", "ref": "down", "command": "down", "volumes": True}
        )
        down = (await _until(communicator, lambda f: f.get("ref") == "down"))[-1]
        assert down["data"] == {
            "removed": ["flaskapp-web-1", "flaskapp-db-1"],
            "volumes": ["flaskapp_db-data"],
        }

        await communicator.send_json_to({"action": "compose", "ref": "x", "command": "rm"})
        while True:
            frame = await communicator.receive_json_from(timeout=10)
            if frame.get("ref") == "x":
                break
        assert frame["type"] == "error" and "up, ps, down" in frame["message"]
    finally:
        await communicator.disconnect()
    assert await _readers_gone([]) == []
