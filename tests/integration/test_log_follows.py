"""Shared log follows on a real engine: one engine follow per container, whoever watches.

alice follows her containers from several sockets; bob tries to reach her
follows. Containers here print numbered lines, so gaps and repeats show.
Everything labelled with their sandboxes leaves the engine afterwards.
"""

from __future__ import annotations

import asyncio
import functools
import time

import pytest
from django.contrib.auth import get_user_model

from engine import client
from sandboxes import naming, services, slots
from sandboxes.follows import FollowHub
from sandboxes.models import Sandbox
from sandboxes.services import logs
from tests.integration.lab_socket import frames_until, open_lab_socket

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# Prints a number ten times a second; ends with exit code 3 on SIGTERM.
TICKER = (
    "python -u -c \"import itertools, signal, sys, time; "
    "signal.signal(signal.SIGTERM, lambda *a: sys.exit(3)); "
    "[print(i) or time.sleep(0.1) for i in itertools.count()]\""
)
# 0..49 at once, 50..54 four seconds later, then exit code 7.
COUNTER = (
    "python -u -c \"import sys, time; [print(i) for i in range(50)]; time.sleep(4); "
    "[print(i) for i in range(50, 55)]; sys.exit(7)\""
)


@pytest.fixture(autouse=True)
def fresh_slots():
    old = slots.use_store(slots.LocalSlots())
    yield
    slots.use_store(old)


@pytest.fixture
def pair(transactional_db):
    users = get_user_model()
    alice = users.objects.create_user("follows-alice")
    bob = users.objects.create_user("follows-bob")
    yield alice, bob
    for sandbox in Sandbox.objects.filter(user__in=[alice, bob]):
        services.remove_objects(sandbox.sid)


@pytest.fixture
def opens(monkeypatch) -> list[str]:
    """The keys the hub opens engine follows for, in order."""
    opened: list[str] = []
    real = logs.EngineSource.open

    async def counted(self, key, tail, on_entries):
        opened.append(key)
        return await real(self, key, tail, on_entries)

    monkeypatch.setattr(logs.EngineSource, "open", counted)
    return opened


_frames_until = functools.partial(frames_until, timeout=30.0, errors_ok=True)


async def _follow(communicator, container: str, tail: int, ref: str) -> str:
    await communicator.send_json_to(
        {"action": "logs", "ref": ref, "container": container, "tail": tail}
    )
    frames = await _frames_until(communicator, lambda f: f.get("ref") == ref)
    assert frames[-1]["type"] == "logs.start", frames[-1]
    return frames[-1]["stream"]


def _numbers(frames: list[dict], stream: str) -> list[int]:
    return [
        int(line)
        for f in frames
        if f["type"] == "output" and f["stream"] == stream
        for line in f["lines"]
        if line.isdigit()
    ]


def _sandbox(user) -> Sandbox:
    return services.sandbox_for(user)


def _run(user, name: str, command: str) -> str:
    """Run a container in the user's sandbox; its full engine id."""
    sandbox = _sandbox(user)
    services.run_container(sandbox, "python:3.12-slim", name=name, command=command, port=None)
    return services.find_container(sandbox, name)["Id"]


def _printed(user, name: str, needle: str, timeout: float = 30.0) -> None:
    sandbox = _sandbox(user)
    deadline = time.monotonic() + timeout
    while needle not in services.read_logs(sandbox, name, tail=200).split("\n"):
        assert time.monotonic() < deadline, f"{name} did not print {needle!r}"
        time.sleep(0.1)


async def test_two_sockets_share_one_engine_follow_with_their_own_tails_and_hear_the_exit(
    pair, opens
):
    alice, _ = pair
    container = await asyncio.to_thread(_run, alice, "counter", COUNTER)
    await asyncio.to_thread(_printed, alice, "counter", "49")
    first, second = await open_lab_socket(alice), await open_lab_socket(alice)
    try:
        one = await _follow(first, "counter", 5, "a")
        two = await _follow(second, "counter", 20, "b")
        assert opens == [container]
        assert logs.hub().subscribers(container) == 2
        def ends(frame: dict) -> bool:
            return frame["type"] == "logs.end"

        frames_one = await _frames_until(first, ends, timeout=30)
        frames_two = await _frames_until(second, ends, timeout=30)
        assert _numbers(frames_one, one) == list(range(45, 55))
        assert _numbers(frames_two, two) == list(range(30, 55))
        assert frames_one[-1] == {"type": "logs.end", "stream": one, "container": "counter",
                                  "exit_code": 7}
        assert frames_two[-1]["exit_code"] == 7
        assert logs.hub().followed() == []
    finally:
        await first.disconnect()
        await second.disconnect()


async def test_a_socket_leaving_does_not_end_the_others_follow(pair, opens):
    alice, _ = pair
    container = await asyncio.to_thread(_run, alice, "ticker", TICKER)
    leaving, staying = await open_lab_socket(alice), await open_lab_socket(alice)
    try:
        await _follow(leaving, "ticker", 0, "a")
        stream = await _follow(staying, "ticker", 0, "b")
        await leaving.disconnect()
        await asyncio.sleep(0.3)
        assert logs.hub().subscribers(container) == 1
        frames = await _frames_until(
            staying, lambda f: f["type"] == "output" and f["lines"], timeout=10
        )
        seen = _numbers(frames, stream)
        later = await _frames_until(
            staying,
            lambda f: f["type"] == "output" and bool(_numbers([f], stream))
            and _numbers([f], stream)[-1] >= seen[-1] + 10,
            timeout=10,
        )
        numbers = seen + _numbers(later, stream)
        assert numbers == list(range(numbers[0], numbers[-1] + 1))  # no gap, no repeat
        assert not any(f["type"] == "logs.end" for f in later)
        assert opens == [container]

        await staying.send_json_to({"action": "unfollow", "ref": "u", "stream": stream})
        await _frames_until(staying, lambda f: f.get("ref") == "u")
        assert logs.hub().followed() == []
    finally:
        await leaving.disconnect()
        await staying.disconnect()


async def test_a_follow_ends_with_the_exit_code_when_its_container_is_stopped(pair):
    alice, _ = pair
    await asyncio.to_thread(_run, alice, "ticker", TICKER)
    # Its SIGTERM handler is set once it prints: before, as PID 1 it would
    # ignore the stop's SIGTERM and be killed (137) instead of exiting 3.
    await asyncio.to_thread(_printed, alice, "ticker", "0")
    tab = await open_lab_socket(alice)
    try:
        stream = await _follow(tab, "ticker", 0, "f")
        await tab.send_json_to({"action": "stop", "ref": "s", "container": "ticker"})
        frames = await _frames_until(tab, lambda f: f["type"] == "logs.end", timeout=30)
        assert frames[-1] == {"type": "logs.end", "stream": stream, "container": "ticker",
                              "exit_code": 3}
        assert logs.hub().followed() == []
    finally:
        await tab.disconnect()


async def test_another_learner_reaches_no_follow_of_hers_by_any_name_or_id(pair, opens):
    alice, bob = pair
    container = await asyncio.to_thread(_run, alice, "ticker", TICKER)
    sid = (await asyncio.to_thread(_sandbox, alice)).sid
    hers, his = await open_lab_socket(alice), await open_lab_socket(bob)
    try:
        stream = await _follow(hers, "ticker", 0, "a")
        names = [
            "ticker",
            container,
            container[:12],
            naming.engine_container(sid, "ticker"),
            f"/dl-{sid}-ticker",
            "../ticker",
        ]
        for i, name in enumerate(names):
            await his.send_json_to({"action": "logs", "ref": i, "container": name[:256]})
            answer = (await _frames_until(his, lambda f, i=i: f.get("ref") == i))[-1]
            assert answer["type"] == "error", (name, answer)
            assert answer["code"] in ("not_found", "invalid_name"), answer
        await his.send_json_to({"action": "unfollow", "ref": "u", "stream": stream})
        answer = (await _frames_until(his, lambda f: f.get("ref") == "u"))[-1]
        assert answer["code"] == "not_found"
        assert logs.hub().subscribers(container) == 1
        assert opens == [container]
        assert await his.receive_nothing(timeout=0.5)
    finally:
        await hers.disconnect()
        await his.disconnect()


# --- exits the engine does not report by ending the follow -----------------


class Recorder:
    def __init__(self) -> None:
        self.got: list[str] = []
        self.ends: list[tuple] = []

    def start(self) -> None:
        pass

    def lines(self, lines: list[str]) -> None:
        self.got.extend(lines)

    def skipped(self, count: int) -> None:
        pass

    def end(self, exit_code=None, error=None) -> None:
        self.ends.append((exit_code, error))


class HangingSource(logs.EngineSource):
    """The real engine's follows, except that an ended follow is not noticed:
    as the engine's follows once did, they stay open after the container exits."""

    async def open(self, key, tail, on_entries):
        handle = await super().open(key, tail, on_entries)
        closed = asyncio.Event()
        real_close = handle.close

        async def wait() -> None:
            await closed.wait()

        def close() -> None:
            closed.set()
            real_close()

        handle.wait, handle.close = wait, close
        return handle


async def _until(predicate, timeout: float) -> float:
    began = time.monotonic()
    while not predicate():
        assert time.monotonic() - began < timeout, "timed out"
        await asyncio.sleep(0.05)
    return time.monotonic() - began


async def test_the_engines_events_end_a_follow_left_open_after_its_container_stopped(pair):
    alice, _ = pair
    container = await asyncio.to_thread(_run, alice, "ticker", TICKER)
    hub = FollowHub(HangingSource(), watcher=logs.watch_exits)
    sink = Recorder()
    try:
        await hub.subscribe(container, 0, sink)
        await _until(lambda: sink.got, 10)
        await asyncio.sleep(0.5)  # the event stream is being followed by now
        await asyncio.to_thread(lambda: services.stop_container(_sandbox(alice), "ticker"))
        await _until(lambda: sink.ends, 15)
        assert sink.ends == [(3, None)]
        assert hub.followed() == []
    finally:
        hub.close()


async def test_a_missed_exit_is_found_by_comparing_with_the_running_containers(pair):
    alice, _ = pair
    container = await asyncio.to_thread(_run, alice, "ticker", TICKER)
    hub = FollowHub(HangingSource())  # no event stream: every exit is "missed"
    sink = Recorder()
    try:
        await hub.subscribe(container, 0, sink)
        await _until(lambda: sink.got, 10)
        await asyncio.to_thread(lambda: services.stop_container(_sandbox(alice), "ticker"))
        await asyncio.sleep(1)
        assert sink.ends == []
        await logs._reconcile(hub)
        await _until(lambda: sink.ends, 10)
        assert sink.ends == [(3, None)]
    finally:
        hub.close()


async def test_a_follow_the_engine_breaks_off_is_resumed_while_the_container_runs(pair):
    alice, _ = pair
    container = await asyncio.to_thread(_run, alice, "ticker", TICKER)
    hub = FollowHub(logs.EngineSource())
    sink = Recorder()
    try:
        await hub.subscribe(container, 0, sink)
        await _until(lambda: len(sink.got) >= 3, 10)
        # Cut the engine's connection under the follow, as a log rotation race can.
        hub._follows[container]._handle.stream._exchange.transport.abort()
        await _until(lambda: any("was resumed" in line for line in sink.got), 10)
        at = len(sink.got)
        await _until(lambda: len(sink.got) >= at + 5, 10)
        assert sink.ends == []
        assert [line for line in sink.got[at:] if not line.isdigit()] == []
        # Resumed from the newest line taken: none lost, none repeated.
        numbers = [int(line) for line in sink.got if line.isdigit()]
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    finally:
        hub.close()


async def test_following_a_container_that_is_gone_says_so(pair):
    alice, _ = pair
    await asyncio.to_thread(_run, alice, "ticker", TICKER)
    target = await asyncio.to_thread(lambda: services.log_target(_sandbox(alice), "ticker"))
    await asyncio.to_thread(lambda: services.remove_container(_sandbox(alice), "ticker"))
    with pytest.raises(services.NotInSandbox) as info:
        await logs.follow(target, 10, Recorder())
    assert info.value.code == "not_found" and "ticker" in info.value.message
    assert logs.hub().followed() == []


async def test_an_unreachable_engine_is_said_plainly(pair, settings):
    settings.DOCKERLAB_ENGINE_URL = "unix:///nonexistent/docker.sock"
    try:
        with pytest.raises(client.EngineUnavailable) as info:
            await client.async_engine().inspect_container("0" * 64)
        assert "not reachable" in info.value.message
    finally:
        client.reset()


async def test_a_lesson_lines_docker_logs_shows_the_output_and_ends_while_it_runs(pair):
    alice, _ = pair
    await asyncio.to_thread(_run, alice, "ticker", TICKER)
    await asyncio.to_thread(_printed, alice, "ticker", "3")
    tab = await open_lab_socket(alice)
    try:
        await tab.send_json_to({"action": "line", "ref": "once", "text": "docker logs ticker"})
        frames = await _frames_until(tab, lambda f: f["type"] == "logs.end", timeout=30)
        lines = [line for f in frames if f["type"] == "output" for line in f["lines"]]
        assert lines[:4] == ["0", "1", "2", "3"]
        assert "exit_code" not in frames[-1] and "error" not in frames[-1]
        assert logs.hub().followed() == []  # the shared follow ended with its only watcher
    finally:
        await tab.disconnect()
