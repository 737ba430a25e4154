"""The lab websocket refuses what it cannot use, clearly, and stays usable.

These never reach the engine: every frame here is refused (or answered)
before any engine call.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandboxes import slots
from sandboxes.consumers import (
    ACTIONS,
    CLOSE_AUTH_REQUIRED,
    CLOSE_NOT_READING,
    CLOSE_TOO_MANY_SOCKETS,
    LabConsumer,
    ProtocolError,
    parse_message,
)

# --- parse_message (pure) ---------------------------------------------------


@pytest.mark.parametrize(
    "text, code",
    [
        ("not json", "bad_json"),
        ("[1, 2]", "bad_request"),
        ('"state"', "bad_request"),
        ("{}", "unknown_action"),
        ('{"action": "explode"}', "unknown_action"),
        ('{"action": 7}', "unknown_action"),
        ('{"action": "logs"}', "bad_request"),
        ('{"action": "logs", "container": ""}', "bad_request"),
        ('{"action": "logs", "container": 5}', "bad_request"),
        ('{"action": "logs", "container": "web", "tail": "many"}', "bad_request"),
        ('{"action": "logs", "container": "web", "tail": -1}', "bad_request"),
        ('{"action": "run", "image": "x", "port": true}', "bad_request"),
        ('{"action": "inspect", "kind": "volume", "name": "x"}', "bad_request"),
        ('{"action": "stop", "container": "web", "force": true}', "bad_request"),
        ('{"action": "state", "ref": {"a": 1}}', "bad_request"),
        ('{"action": "run", "image": "x", "env": ["A=1"]}', "bad_request"),
        ('{"action": "run", "image": "x", "publish": "no"}', "bad_request"),
        ('{"action": "run", "image": "x", "command": 7}', "bad_request"),
        ('{"action": "run", "image": "x", "command": "' + "x" * 3000 + '"}', "bad_request"),
        ('{"action": "compose"}', "bad_request"),
        ('{"action": "compose", "command": "rm"}', "bad_request"),
        ('{"action": "compose", "command": "down", "volumes": "yes"}', "bad_request"),
        ('{"action": "tag", "source": "flask-app"}', "bad_request"),
        ('{"action": "push"}', "bad_request"),
        ('{"action": "pull", "image": ""}', "bad_request"),
    ],
)
def test_it_names_what_is_wrong_with_a_message(text, code):
    with pytest.raises(ProtocolError) as info:
        parse_message(text)
    assert info.value.code == code
    assert info.value.message


def test_it_refuses_a_binary_frame():
    with pytest.raises(ProtocolError) as info:
        parse_message(None, b"\x00\x01")
    assert info.value.code == "bad_frame"


def test_it_refuses_a_frame_that_is_too_large():
    with pytest.raises(ProtocolError) as info:
        parse_message(json.dumps({"action": "build", "dockerfile": "x" * 200_000}))
    assert info.value.code == "too_large"


def test_an_error_keeps_the_ref_so_the_page_can_match_it():
    with pytest.raises(ProtocolError) as info:
        parse_message('{"action": "stop", "ref": "r9"}')
    assert info.value.ref == "r9"


def test_a_good_message_comes_back_checked():
    request = parse_message('{"action": "build", "ref": 3, "tag": "flask-app:v2"}')
    assert (request.action, request.ref, request.args) == ("build", 3, {"tag": "flask-app:v2"})


def test_no_cache_must_be_a_boolean():
    request = parse_message('{"action": "build", "no_cache": true}')
    assert request.args == {"no_cache": True}
    with pytest.raises(ProtocolError) as info:
        parse_message('{"action": "build", "no_cache": "yes"}')
    assert info.value.code == "bad_request"
    assert "true or false" in info.value.message


# --- the consumer, with a signed-in user -------------------------------------


async def _connect(user) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(LabConsumer.as_asgi(), "/ws/lab/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    return communicator


@pytest.fixture
def alice(transactional_db):
    return get_user_model().objects.create_user("alice", password="a-long-Passphrase-9")


@pytest.mark.django_db(transaction=True)
async def test_an_anonymous_socket_is_told_to_sign_in_and_closed():
    communicator = await _connect(AnonymousUser())
    try:
        frame = await communicator.receive_json_from(timeout=2)
        assert frame["type"] == "error" and frame["code"] == "auth_required"
        closed = await communicator.receive_output(timeout=2)
        assert closed == {"type": "websocket.close", "code": CLOSE_AUTH_REQUIRED}
    finally:
        await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_signed_in_socket_is_greeted_with_its_sandbox(alice):
    communicator = await _connect(alice)
    try:
        hello = await communicator.receive_json_from(timeout=2)
        assert hello["type"] == "hello"
        assert hello["user"] == "alice"
        assert hello["sandbox"]
    finally:
        await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_garbage_frames_each_get_an_error_and_the_socket_keeps_working(alice):
    communicator = await _connect(alice)
    try:
        assert (await communicator.receive_json_from(timeout=2))["type"] == "hello"
        garbage = [
            ("text", "}{ not json", "bad_json"),
            ("bytes", b"\x89PNG", "bad_frame"),
            ("text", "[]", "bad_request"),
            ("text", '{"action": "self-destruct"}', "unknown_action"),
            ("text", '{"action": "stop"}', "bad_request"),
            ("text", '{"action": "rmi", "image": ["a"]}', "bad_request"),
        ]
        for kind, payload, code in garbage:
            if kind == "bytes":
                await communicator.send_to(bytes_data=payload)
            else:
                await communicator.send_to(text_data=payload)
            frame = await communicator.receive_json_from(timeout=2)
            assert (frame["type"], frame["code"]) == ("error", code), payload
            assert frame["message"]
        # Still usable: a well-formed action is dispatched and answered.
        await communicator.send_json_to({"action": "unfollow", "stream": "l99", "ref": "after"})
        frame = await communicator.receive_json_from(timeout=2)
        assert frame == {
            "type": "error",
            "code": "not_found",
            "ref": "after",
            "message": "No stream 'l99' is open on this connection.",
        }
    finally:
        await communicator.disconnect()


# --- one learner's many sockets ---------------------------------------------------


@pytest.fixture(autouse=True)
def fresh_slots():
    old = slots.use_store(slots.LocalSlots())
    yield
    slots.use_store(old)


@pytest.fixture
def bob(transactional_db):
    return get_user_model().objects.create_user("bob", password="a-long-Passphrase-9")


async def _open(user) -> tuple[WebsocketCommunicator, dict]:
    communicator = WebsocketCommunicator(LabConsumer.as_asgi(), "/ws/lab/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    return communicator, await communicator.receive_json_from(timeout=5)


@pytest.mark.django_db(transaction=True)
async def test_fifty_sockets_of_one_learner_get_eight_and_others_are_unaffected(alice, bob, settings):
    assert settings.DOCKERLAB_WS_SOCKETS_PER_USER == 8
    opened = [await _open(alice) for _ in range(50)]
    try:
        greeted = [c for c, first in opened if first["type"] == "hello"]
        refused = [(c, first) for c, first in opened if first["type"] == "error"]
        assert len(greeted) == 8 and len(refused) == 42
        for communicator, first in refused:
            assert first["code"] == "too_many_sockets"
            assert "8 lab connections" in first["message"]
            closed = await communicator.receive_output(timeout=2)
            assert closed == {"type": "websocket.close", "code": CLOSE_TOO_MANY_SOCKETS}
        # The eight still work.
        for communicator in greeted:
            await communicator.send_json_to({"action": "unfollow", "stream": "l1", "ref": "ok"})
            assert (await communicator.receive_json_from(timeout=2))["code"] == "not_found"
        # Another learner is not affected.
        other, hello = await _open(bob)
        assert hello["type"] == "hello" and hello["user"] == "bob"
        await other.disconnect()
        # Closing one of alice's frees its place.
        await greeted[0].disconnect()
        again, hello = await _open(alice)
        assert hello["type"] == "hello"
        greeted[0] = again
    finally:
        for communicator, _ in opened:
            await communicator.disconnect()
        for communicator in greeted:
            await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_client_that_never_reads_its_errors_is_closed_not_buffered(
    alice, settings, monkeypatch
):
    settings.DOCKERLAB_WS_QUEUE_BYTES = 64 * 1024
    stalled = asyncio.Event()
    send_frame = LabConsumer._send_frame

    async def stalling(self, frame):
        # A client that stopped reading: the server's send waits (dockerlab.serve).
        if stalled.is_set():
            await asyncio.Event().wait()
        await send_frame(self, frame)

    monkeypatch.setattr(LabConsumer, "_send_frame", stalling)
    communicator, hello = await _open(alice)
    try:
        assert hello["type"] == "hello"
        stalled.set()
        for _ in range(2000):  # each answered by an error frame nobody reads
            await communicator.send_to(text_data="}{")
        closed = await communicator.receive_output(timeout=5)
        assert closed == {"type": "websocket.close", "code": CLOSE_NOT_READING}
    finally:
        await communicator.disconnect()


# --- whatever arrives, the answer is a request or our error ----------------------

_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
_ACTION_NAMES = st.sampled_from([*ACTIONS, "explode", ""])
_FIELDS = st.sampled_from(
    sorted({name for spec in ACTIONS.values() for name in spec} | {"ref", "action", "x"})
)
_MESSAGES = st.builds(
    lambda action, extra: {"action": action, **extra},
    _ACTION_NAMES | _JSONISH,
    st.dictionaries(_FIELDS, _JSONISH, max_size=5),
)


def _parsed_or_refused(text: str | None, binary: bytes | None = None) -> None:
    try:
        request = parse_message(text, binary)
    except ProtocolError as exc:
        assert exc.code and exc.message
        return
    assert request.action in ACTIONS
    assert set(request.args) <= set(ACTIONS[request.action])


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200))
def test_any_text_frame_is_a_request_or_our_error(text):
    _parsed_or_refused(text)


@settings(max_examples=500, deadline=None)
@given(_MESSAGES)
def test_any_json_object_is_a_request_or_our_error(message):
    _parsed_or_refused(json.dumps(message))


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=100))
def test_any_binary_frame_is_refused(data):
    with pytest.raises(ProtocolError):
        parse_message(None, data)


def _garbage_frames():
    """Frames the protocol refuses (the unit tier sends nothing to the engine)."""

    def refused(frame) -> bool:
        kind, payload = frame
        if kind == "bytes":
            return True
        try:
            parse_message(payload)
        except ProtocolError:
            return True
        return False

    text = st.text(max_size=80) | _MESSAGES.map(json.dumps) | _JSONISH.map(json.dumps)
    frame = st.tuples(st.just("text"), text) | st.tuples(st.just("bytes"), st.binary(max_size=40))
    return st.lists(frame.filter(refused), min_size=1, max_size=25)


@pytest.mark.django_db(transaction=True)
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(frames=_garbage_frames())
def test_garbage_frames_never_kill_the_consumer(alice, frames):
    async def exchange():
        communicator, hello = await _open(alice)
        try:
            assert hello["type"] == "hello"
            for kind, payload in frames:
                # Straight to the consumer: the test helper would refuse empty frames.
                await communicator.send_input({"type": "websocket.receive", kind: payload})
                answer = await communicator.receive_json_from(timeout=5)
                assert answer["type"] == "error" and answer["message"]
                assert answer["code"] != "internal"
            await communicator.send_json_to({"action": "unfollow", "stream": "l9", "ref": "alive"})
            answer = await communicator.receive_json_from(timeout=5)
            assert (answer["code"], answer["ref"]) == ("not_found", "alive")
        finally:
            await communicator.disconnect()

    async_to_sync(exchange)()
