"""The engine watcher tells open lab sockets when the engine stops and returns.

The watcher's pings are given as a list of answers here (the watcher's
logic: one pinger, changes only, the last socket out stops it); the browser
tier's fault test stops and restarts a real engine under an open page.
"""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import InMemoryChannelLayer
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model

from engine import client
from sandboxes import health
from sandboxes.consumers import LabConsumer


class Answers:
    """A ping that answers from a script, then repeats its last answer."""

    def __init__(self, *answers: bool):
        self.answers = list(answers)
        self.calls = 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


async def _frames(layer, channel, count: int, timeout: float = 2.0) -> list[dict]:
    frames = []
    for _ in range(count):
        message = await asyncio.wait_for(layer.receive(channel), timeout)
        frames.append(message["frame"])
    return frames


async def _nothing(layer, channel, wait: float = 0.1) -> bool:
    try:
        await asyncio.wait_for(layer.receive(channel), wait)
    except TimeoutError:
        return True
    return False


async def test_it_says_nothing_while_the_engine_answers():
    layer = InMemoryChannelLayer()
    watcher = health.EngineWatcher(Answers(True), interval=0.01)
    channel = await layer.new_channel()
    await watcher.join(layer, channel)
    try:
        assert await _nothing(layer, channel, 0.1)
        assert watcher.up is True
    finally:
        await watcher.leave(layer, channel)


async def test_every_socket_hears_each_change_once():
    layer = InMemoryChannelLayer()
    watcher = health.EngineWatcher(Answers(True, False, False, False, True), interval=0.01)
    alice, bob = await layer.new_channel(), await layer.new_channel()
    await watcher.join(layer, alice)
    await watcher.join(layer, bob)
    try:
        for channel in (alice, bob):
            down, up = await _frames(layer, channel, 2)
            assert down == {"type": "engine", "state": "down", "message": health.DOWN_MESSAGE}
            assert up["state"] == "up" and up["message"] == health.UP_MESSAGE
            assert await _nothing(layer, channel)
    finally:
        await watcher.leave(layer, alice)
        await watcher.leave(layer, bob)


async def test_a_socket_joining_while_the_engine_is_down_is_told_at_once():
    layer = InMemoryChannelLayer()
    watcher = health.EngineWatcher(Answers(False), interval=0.01)
    first, late = await layer.new_channel(), await layer.new_channel()
    await watcher.join(layer, first)
    try:
        assert (await _frames(layer, first, 1))[0]["state"] == "down"
        await watcher.join(layer, late)
        assert (await _frames(layer, late, 1))[0]["state"] == "down"
        assert await _nothing(layer, late)
    finally:
        await watcher.leave(layer, first)
        await watcher.leave(layer, late)


async def test_one_pinger_runs_for_many_sockets_and_stops_with_the_last():
    layer = InMemoryChannelLayer()
    ping = Answers(True)
    watcher = health.EngineWatcher(ping, interval=0.05)
    channels = [await layer.new_channel() for _ in range(20)]
    for channel in channels:
        await watcher.join(layer, channel)
    await asyncio.sleep(0.22)
    # About one ping per interval, not one per socket.
    assert 2 <= ping.calls <= 8
    for channel in channels[:-1]:
        await watcher.leave(layer, channel)
    assert watcher.watching == 1
    await watcher.leave(layer, channels[-1])
    assert watcher.watching == 0
    calls = ping.calls
    await asyncio.sleep(0.15)
    assert ping.calls == calls


async def test_leaving_twice_or_unknown_sockets_is_harmless():
    layer = InMemoryChannelLayer()
    watcher = health.EngineWatcher(Answers(True), interval=0.01)
    channel = await layer.new_channel()
    await watcher.leave(layer, channel)
    await watcher.leave(layer, None)
    await watcher.join(layer, channel)
    await watcher.leave(layer, channel)
    await watcher.leave(layer, channel)
    assert watcher.watching == 0


def test_a_missing_engine_does_not_answer_the_ping(settings, tmp_path):
    settings.DOCKERLAB_ENGINE_URL = f"unix://{tmp_path}/no-engine.sock"
    client.reset()
    try:
        assert health.ping_engine() is False
    finally:
        client.reset()


@pytest.fixture
def alice(transactional_db):
    return get_user_model().objects.create_user("alice", password="a-long-Passphrase-9")


@pytest.mark.django_db(transaction=True)
async def test_a_lab_socket_forwards_the_engine_frame_to_its_page(alice, monkeypatch):
    monkeypatch.setattr(health.watcher, "ping", Answers(False))
    communicator = WebsocketCommunicator(LabConsumer.as_asgi(), "/ws/lab/")
    communicator.scope["user"] = alice
    connected, _ = await communicator.connect()
    assert connected
    try:
        assert (await communicator.receive_json_from(timeout=5))["type"] == "hello"
        frame = await communicator.receive_json_from(timeout=5)
        assert frame == {"type": "engine", "state": "down", "message": health.DOWN_MESSAGE}
    finally:
        await communicator.disconnect()
    assert health.watcher.watching == 0
