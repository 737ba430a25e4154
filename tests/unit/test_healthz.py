"""GET /healthz: the database, the cache and the channel layer, each named."""

import socket

import pytest
from django.core.cache import caches


@pytest.mark.django_db
def test_it_answers_200_when_every_part_works(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "checks": {"database": "ok", "cache": "ok", "channel_layer": "ok"},
    }
    assert "no-store" in response["Cache-Control"]


@pytest.fixture
def unreachable_redis_cache(settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://:not-shown@127.0.0.1:{port}/0",
        }
    }
    yield
    caches["default"].close()


@pytest.mark.django_db
def test_it_answers_503_naming_the_part_that_fails_and_nothing_more(client, unreachable_redis_cache):
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False
    assert body["checks"] == {"database": "ok", "cache": "failing", "channel_layer": "ok"}
    assert b"not-shown" not in response.content
    assert b"Connection" not in response.content
