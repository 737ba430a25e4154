"""Which pages may open the lab websocket: this site as the browser reached it.

A browser sends a websocket's cookies whatever page opens it, so the Origin
header is what tells the lab's own pages from another site's. Channels'
AllowedHostsOriginValidator compares only the host name: a page served from
another port of the same host (a learner's app published on 127.0.0.1, any
other service on the machine) would pass. Here the Origin must equal the
request's own origin - scheme, host and port, taken from the Host header,
which must itself be an allowed host - or be one of CSRF_TRUSTED_ORIGINS
(DOCKERLAB_CSRF_TRUSTED_ORIGINS; `https://*.example.org` matches its
subdomains, as for Django's CSRF check). A handshake without an Origin is
refused too: every browser sends one.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

Origin = tuple[str, str, int]
_DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_origin(value: str) -> Origin | None:
    """(scheme, host, port) of an origin like https://lab.example:8443; None if unusable."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers") or []:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _allowed_hosts() -> list[str]:
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = [".localhost", "127.0.0.1", "[::1]"]  # as Django's own check does
    return hosts


def _is_https(scope: dict) -> bool:
    proxy_header = settings.SECURE_PROXY_SSL_HEADER
    if proxy_header:
        name, secure = proxy_header
        header = name.removeprefix("HTTP_").lower().replace("_", "-").encode()
        value = _header(scope, header)
        if value is not None:
            return value.split(",")[0].strip() == secure
    return scope.get("scheme") in ("wss", "https")


def request_origin(scope: dict) -> Origin | None:
    """The origin the browser used to reach this socket, if its host is allowed."""
    host = _header(scope, b"host")
    if not host:
        return None
    domain, _ = split_domain_port(host.lower())
    if not domain or not validate_host(domain, _allowed_hosts()):
        return None
    scheme = "https" if _is_https(scope) else "http"
    return parse_origin(f"{scheme}://{host}")


def _trusted(origin: Origin) -> bool:
    scheme, host, port = origin
    for entry in settings.CSRF_TRUSTED_ORIGINS:
        wildcard = "://*." in entry
        trusted = parse_origin(entry.replace("://*.", "://", 1))
        if trusted is None or trusted[0] != scheme or trusted[2] != port:
            continue
        if host == trusted[1] or (wildcard and host.endswith("." + trusted[1])):
            return True
    return False


def origin_allowed(scope: dict) -> bool:
    """Whether a websocket handshake comes from a page of this site."""
    raw = _header(scope, b"origin")
    origin = parse_origin(raw) if raw else None
    if origin is None:
        return False
    return origin == request_origin(scope) or _trusted(origin)


class SameOriginValidator:
    """ASGI middleware: refuse websocket handshakes from other origins (403)."""

    def __init__(self, application: Any):
        self.application = application

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
