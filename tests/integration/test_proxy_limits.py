"""The app proxy's limits against a real app that accepts requests and never answers.

alice runs `mute` (it listens on the app port and answers nothing); her
requests through the proxy hold their slots until the deadline. bob, beside
her, must be turned away only by the site-wide limit, never by hers.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.contrib.auth import get_user_model
from django.test import AsyncClient

from sandboxes import services, slots
from sandboxes.models import Sandbox

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

MUTE = (
    "FROM python:3.12-slim\n"
    'CMD ["python", "-c", "import socket, time\\ns = socket.socket()\\n'
    "s.bind(('0.0.0.0', 5002))\\ns.listen(50)\\nheld = []\\n"
    'while True: held.append(s.accept())"]\n'
)


@pytest.fixture(autouse=True)
def fresh_slots():
    old = slots.use_store(slots.LocalSlots())
    yield
    slots.use_store(old)


@pytest.fixture
def learners(transactional_db):
    users = get_user_model()
    alice = users.objects.create_user("proxy-limits-alice")
    bob = users.objects.create_user("proxy-limits-bob")
    sandbox = services.sandbox_for(alice)
    events = list(services.build_image(sandbox, "mute", MUTE))
    assert events[-1]["kind"] == "done", events[-3:]
    services.run_container(sandbox, "mute", name="mute")
    yield alice, bob
    for found in Sandbox.objects.filter(user__in=[alice, bob]):
        services.remove_objects(found.sid)


class Client(AsyncClient):
    """Each request in a context of its own, as the server runs them."""

    async def get(self, *args, **kwargs):
        async with ThreadSensitiveContext():
            return await super().get(*args, **kwargs)


async def _client(user) -> AsyncClient:
    client = Client()
    await client.aforce_login(user)
    return client


async def test_a_request_the_app_never_answers_ends_at_the_deadline_with_a_504(learners, settings):
    alice, _ = learners
    settings.DOCKERLAB_PROXY_DEADLINE = 3.0
    client = await _client(alice)
    started = time.monotonic()
    response = await client.get("/sandbox/app/mute/")
    assert response.status_code == 504
    assert b"did not answer within 3 seconds" in response.content
    assert time.monotonic() - started < 15  # not the 30 s read timeout, nor longer
    assert slots.count("proxy", alice.pk) == 0  # given back once the exchange ended


async def test_a_learners_requests_at_once_are_limited_and_others_are_not(learners, settings):
    alice, bob = learners
    settings.DOCKERLAB_PROXY_DEADLINE = 4.0
    settings.DOCKERLAB_PROXY_PER_USER = 2
    alices, bobs = await _client(alice), await _client(bob)
    waiting = [asyncio.ensure_future(alices.get("/sandbox/app/mute/")) for _ in range(2)]
    await asyncio.sleep(1.0)
    third = await alices.get("/sandbox/app/mute/")
    assert third.status_code == 429
    assert third["Retry-After"] == "5"
    assert b"already have 2 requests" in third.content
    # bob is not held back by alice's limit: his request is looked up (404).
    assert (await bobs.get("/sandbox/app/mute/")).status_code == 404
    assert [r.status_code for r in await asyncio.gather(*waiting)] == [504, 504]


async def test_the_site_wide_limit_turns_others_away_while_it_is_full(learners, settings):
    alice, bob = learners
    settings.DOCKERLAB_PROXY_DEADLINE = 4.0
    settings.DOCKERLAB_PROXY_TOTAL = 1
    alices, bobs = await _client(alice), await _client(bob)
    holding = asyncio.ensure_future(alices.get("/sandbox/app/mute/"))
    await asyncio.sleep(1.0)
    busy = await bobs.get("/sandbox/app/anything/")
    assert busy.status_code == 429 and b"proxy is busy" in busy.content
    assert (await holding).status_code == 504
    assert (await bobs.get("/sandbox/app/anything/")).status_code == 404


async def test_pages_of_the_site_are_served_while_apps_hang(learners, settings):
    """The proxy holds none of Django's shared threads while it waits."""
    alice, _ = learners
    settings.DOCKERLAB_PROXY_DEADLINE = 4.0
    client = await _client(alice)
    hanging = [asyncio.ensure_future(client.get("/sandbox/app/mute/")) for _ in range(3)]
    await asyncio.sleep(0.5)
    page = await client.get("/lessons/")
    assert page.status_code == 200
    assert not any(request.done() for request in hanging)
    await asyncio.gather(*hanging)
    await sync_to_async(lambda: None)()
