"""Change the app, see the change: a learner's app.py built through the lab socket.

A learner builds the sample, then builds it again with their own app.py: the
layers before `COPY . .` come from the cache, the new greeting answers
through the site's proxy, and nothing in the repository changed. The same
socket answers `history` and `timing`. Bad app.py texts get a learner's
message, and the text can only ever be app.py.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.test import Client

from sandboxes import services
from sandboxes.models import Sandbox
from sandboxes.services.builds import MAX_APP, sample_dir
from tests.integration.lab_socket import open_lab_socket

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

GREETING = "Hello from my own image!"


@pytest.fixture
def learner(transactional_db):
    user = get_user_model().objects.create_user("app-editor", password="a-long-Passphrase-9")
    yield user
    for sandbox in Sandbox.objects.filter(user=user):
        services.remove_objects(sandbox.sid)


async def _until(communicator, ref: str, last: str, timeout: float = 300.0) -> list[dict]:
    """Frames of request `ref` (and its stream) until one of type `last`."""
    frames, stream = [], None
    deadline = time.monotonic() + timeout
    while True:
        frame = await communicator.receive_json_from(timeout=deadline - time.monotonic())
        if frame.get("ref") == ref and frame["type"].endswith(".start"):
            stream = frame["stream"]
        if frame.get("ref") == ref or (stream and frame.get("stream") == stream):
            frames.append(frame)
            assert frame["type"] != "error", frame
            if frame["type"] == last:
                return frames


def _lines(frames: list[dict]) -> list[str]:
    out = []
    for frame in frames:
        out += frame.get("lines") or ([frame["text"]] if "text" in frame else [])
    return out


def _proxied(user, name: str) -> bytes:
    browser = Client()
    browser.force_login(user)
    deadline = time.monotonic() + 30
    while True:
        response = browser.get(f"/sandbox/app/{name}/")
        body = b"".join(response.streaming_content) if response.streaming else response.content
        if response.status_code == 200 or time.monotonic() > deadline:
            return body
        time.sleep(0.5)


async def test_an_edited_greeting_is_built_from_cache_and_answers_through_the_proxy(learner):
    sample = sample_dir() / "app.py"
    original = sample.read_text()
    edited = original.replace('GREETING = "Hello from Docker!"', f'GREETING = "{GREETING}"')
    assert edited != original
    communicator = await open_lab_socket(learner)
    try:
        await communicator.send_json_to({"action": "build", "ref": "b1", "tag": "flask-app"})
        await _until(communicator, "b1", "build.done")
        await communicator.send_json_to(
            {"action": "build", "ref": "b2", "tag": "flask-app", "app": edited}
        )
        frames = await _until(communicator, "b2", "build.done")
        assert frames[-1]["ok"] is True, frames[-1]
        lines = _lines(frames)
        assert lines[0].startswith("Building with your edited app.py")
        copy_all = next(i for i, line in enumerate(lines) if "COPY . ." in line)
        # Every step before COPY . . came from the cache, the compile included.
        assert sum("Using cache" in line for line in lines[:copy_all]) >= 5
        assert "Using cache" not in " ".join(lines[copy_all : copy_all + 2])
        await communicator.send_json_to(
            {"action": "run", "ref": "r", "image": "flask-app", "name": "edited"}
        )
        await _until(communicator, "r", "result")
        body = await sync_to_async(_proxied)(learner, "edited")
        assert body.startswith(GREETING.encode()), body[:200]
        assert b"from the compiled part" in body
    finally:
        await communicator.disconnect()
    assert sample.read_text() == original


@pytest.mark.parametrize(
    ("app", "message"),
    [
        ("x" * (MAX_APP + 1), "at most"),
        ("print('hi')\x00\n", "control characters"),
        ("print('hi')\x1b[31m\n", "control characters"),
        ("   \n", "empty"),
        (7, "must be a string"),
    ],
)
async def test_bad_app_texts_get_a_learners_message(learner, app, message):
    communicator = await open_lab_socket(learner)
    try:
        await communicator.send_json_to({"action": "build", "ref": "bad", "app": app})
        frame = await communicator.receive_json_from(timeout=30)
        assert frame["type"] == "error" and frame["ref"] == "bad", frame
        assert frame["code"] == "bad_request"
        assert message in frame["message"]
    finally:
        await communicator.disconnect()


async def test_history_and_timing_answer_on_the_socket(learner):
    communicator = await open_lab_socket(learner)
    try:
        await communicator.send_json_to({"action": "history", "ref": "h", "image": "python:3.12-slim"})
        frame = (await _until(communicator, "h", "result"))[-1]
        assert frame["action"] == "history" and frame["data"]["rows"]
        await communicator.send_json_to({"action": "history", "ref": "n", "image": "nope:1"})
        frame = await communicator.receive_json_from(timeout=30)
        assert frame["type"] == "error" and frame["code"] == "not_found"
        await communicator.send_json_to({"action": "timing", "ref": "t", "runs": 2})
        frame = (await _until(communicator, "t", "result", timeout=60))[-1]
        assert [run["run"] for run in frame["data"]["runs"]] == [1, 2]
        await communicator.send_json_to({"action": "timing", "ref": "x", "runs": 99})
        frame = await communicator.receive_json_from(timeout=10)
        assert frame["type"] == "error" and frame["code"] == "bad_request"
    finally:
        await communicator.disconnect()
    await asyncio.sleep(0)
