"""The lab websocket refuses what it cannot use, clearly, and stays usable.

These never reach the engine: every frame here is refused (or answered)
before any engine call.
"""

from __future__ import annotations

import json

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser

from sandboxes.consumers import CLOSE_AUTH_REQUIRED, LabConsumer, ProtocolError, parse_message

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
