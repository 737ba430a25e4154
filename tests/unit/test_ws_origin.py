"""The lab websocket opens only from this site's own pages: scheme, host and port."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator

from dockerlab.asgi import application
from dockerlab.origins import origin_allowed, parse_origin


def _scope(origin: str | None, host: str = "127.0.0.1:8000", scheme: str = "ws", **extra) -> dict:
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    headers += [(name.encode(), value.encode()) for name, value in extra.items()]
    return {"type": "websocket", "scheme": scheme, "headers": headers}


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
        ("http://localhost:8000", "localhost:8000", True),
        ("http://127.0.0.1", "127.0.0.1", True),
        ("http://127.0.0.1:80", "127.0.0.1", True),  # the default port either way
        ("http://[::1]:8000", "[::1]:8000", True),
        # The right host on another port: a learner's app, another service.
        ("http://127.0.0.1:49153", "127.0.0.1:8000", False),
        ("http://127.0.0.1", "127.0.0.1:8000", False),
        ("https://127.0.0.1:8000", "127.0.0.1:8000", False),
        ("http://evil.example:8000", "127.0.0.1:8000", False),
        ("http://localhost:8000", "127.0.0.1:8000", False),
        # A Host that is not one of the site's is never "same origin".
        ("http://evil.example:8000", "evil.example:8000", False),
        ("null", "127.0.0.1:8000", False),
        ("", "127.0.0.1:8000", False),
        (None, "127.0.0.1:8000", False),
        ("http://127.0.0.1:8000/path", "127.0.0.1:8000", False),
        ("http://127.0.0.1:99999", "127.0.0.1:8000", False),
    ],
)
def test_the_origin_must_match_the_sites_scheme_host_and_port(origin, host, allowed):
    assert origin_allowed(_scope(origin, host)) is allowed


def test_a_trusted_origin_may_open_it_with_its_exact_port(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://lab.example.org", "https://*.school.example"]
    assert origin_allowed(_scope("https://lab.example.org", "127.0.0.1:8000"))
    assert origin_allowed(_scope("https://room1.school.example", "127.0.0.1:8000"))
    assert not origin_allowed(_scope("https://lab.example.org:8443", "127.0.0.1:8000"))
    assert not origin_allowed(_scope("http://lab.example.org", "127.0.0.1:8000"))
    assert not origin_allowed(_scope("https://school.example.evil", "127.0.0.1:8000"))


def test_behind_a_tls_proxy_the_origin_is_https(settings):
    settings.ALLOWED_HOSTS = ["lab.example.org"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    scope = _scope("https://lab.example.org", "lab.example.org", **{"x-forwarded-proto": "https"})
    assert origin_allowed(scope)
    assert not origin_allowed(_scope("https://lab.example.org", "lab.example.org"))


def test_origins_are_compared_in_normal_form():
    assert parse_origin("HTTP://LocalHost:8000") == ("http", "localhost", 8000)
    assert parse_origin("https://a.example") == ("https", "a.example", 443)
    assert parse_origin("ftp://a.example") is None


async def test_the_real_route_refuses_a_foreign_port_before_the_consumer_runs():
    communicator = WebsocketCommunicator(
        application,
        "/ws/lab/",
        headers=[(b"origin", b"http://127.0.0.1:49153"), (b"host", b"127.0.0.1:8000")],
    )
    connected, _ = await communicator.connect()
    assert not connected
    await communicator.disconnect()
