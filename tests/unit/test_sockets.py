"""The lab socket's user comes from the session cookie; its send is the server's own."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore

from dockerlab.sockets import SocketAuthStack


class _Inner:
    """An app that notes the scope's user and the send it was given."""

    def __init__(self):
        self.seen: dict = {}

    async def __call__(self, scope, receive, send):
        user = scope["user"]
        self.seen = {
            "user": await sync_to_async(lambda: user.get_username() or None)(),
            "send": send,
        }


def _signed_in_cookie(user) -> str:
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    return store.session_key


async def _call(scope_type: str, cookie: str | None):
    inner = _Inner()
    headers = [(b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode())] if cookie else []

    async def send(message):
        pass

    scope = {"type": scope_type, "path": "/ws/lab/", "headers": headers}
    await SocketAuthStack(inner)(scope, None, send)
    return inner.seen, send


@pytest.mark.django_db(transaction=True)
async def test_a_socket_with_a_signed_in_session_gets_its_user_and_the_servers_own_send():
    user = await sync_to_async(get_user_model().objects.create_user)(
        "carol", password="a-long-Passphrase-9"
    )
    cookie = await sync_to_async(_signed_in_cookie)(user)
    seen, send = await _call("websocket", cookie)
    assert seen["user"] == "carol"
    # Nothing between the consumer's frames and the server.
    assert seen["send"] is send


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("cookie", [None, "not-a-session", "x" * 400])
async def test_a_socket_without_a_good_session_is_anonymous(cookie):
    seen, _ = await _call("websocket", cookie)
    assert seen["user"] is None


@pytest.mark.django_db(transaction=True)
async def test_other_scopes_keep_channels_session_saving():
    seen, send = await _call("http", None)
    assert seen["send"] is not send
