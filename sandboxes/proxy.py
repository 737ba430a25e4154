"""The learner's running app, reached through the site under their own login.

Containers publish their port on 127.0.0.1 only, so this view is the one way
a browser gets to them. It looks the container up in the caller's sandbox
(by label), connects to 127.0.0.1 and that container's published port, and
nothing else: the host and port never come from the request. Another
learner's container gets the same 404 as a name that never existed.

The app's page is served from this site's origin, so the response carries a
sandboxing Content-Security-Policy (the page gets an opaque origin: its
scripts cannot read this site's cookies or call its pages as the learner),
and the app's own cookies are dropped. Plain HTTP only: no websockets.
"""

from __future__ import annotations

import http.client
import logging
import socket
import time
from html import escape
from urllib.parse import quote, urlsplit

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from sandboxes import services

log = logging.getLogger(__name__)

MAX_REQUEST_BODY = 1024 * 1024
MAX_RESPONSE_BODY = 8 * 1024 * 1024
CONNECT_TIMEOUT = 3.0
# A learner clicks "Open app" right after Run, while the app is still starting:
# an idempotent request is retried this long before the "not answering" page.
STARTUP_WAIT = 8.0
STARTUP_RETRY = 0.2
READ_TIMEOUT = 30.0
APP_PORT = 5002
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

# Request headers passed on to the app; cookies and credentials for this site are not.
_FORWARD = {
    "HTTP_ACCEPT": "Accept",
    "HTTP_ACCEPT_LANGUAGE": "Accept-Language",
    "HTTP_USER_AGENT": "User-Agent",
    "HTTP_IF_NONE_MATCH": "If-None-Match",
    "HTTP_IF_MODIFIED_SINCE": "If-Modified-Since",
    "HTTP_CACHE_CONTROL": "Cache-Control",
    "CONTENT_TYPE": "Content-Type",
}
# Response headers taken from the app; everything else (cookies, hop-by-hop,
# framing) is the site's business.
_KEEP = {
    "content-type",
    "cache-control",
    "etag",
    "last-modified",
    "expires",
    "content-language",
    "content-disposition",
    "vary",
}
_CSP = "sandbox allow-scripts allow-forms allow-popups allow-modals"


def _page(status: int, title: str, text: str) -> HttpResponse:
    body = (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        f"<title>{escape(title)}</title>"
        "<body style='font-family:sans-serif;max-width:40em;margin:3em auto'>"
        f"<h1>{escape(title)}</h1><p>{escape(text)}</p>"
        "<p><a href='/sandbox/'>Back to your sandbox</a></p></body></html>"
    )
    return HttpResponse(body, status=status, content_type="text/html; charset=utf-8")


def _not_found(container: str) -> HttpResponse:
    return _page(
        404, "No such app", f"There is no container {container!r} in your sandbox."
    )


def _target_path(path: str, query: str) -> str:
    # Django hands over the decoded path; quoting it again keeps spaces and
    # control characters out of the request line.
    target = "/" + quote(path, safe="/:@!$&'()*+,;=-._~")
    if query:
        target += "?" + quote(query, safe="=&%+/:@!$'()*,;-._~?")
    return target


def _rewrite_location(location: str, container: str, port: int) -> str | None:
    """A redirect from the app, pointed back through the proxy; None if it leaves."""
    base = f"/sandbox/app/{quote(container)}"
    parts = urlsplit(location)
    if parts.scheme or parts.netloc:
        if parts.scheme not in ("http", "https") or parts.hostname not in (
            "127.0.0.1",
            "localhost",
            "0.0.0.0",
        ):
            return None
        if parts.port not in (None, port, APP_PORT):
            return None
    elif not location.startswith("/"):
        return location  # relative: the browser resolves it under the proxy path
    target = base + (parts.path or "/")
    if parts.query:
        target += "?" + parts.query
    if parts.fragment:
        target += "#" + parts.fragment
    return target


# What a port gives while nothing listens behind it yet: refused, or (through
# the engine's port proxy) accepted and then dropped before any answer.
_NOT_LISTENING = (ConnectionRefusedError, ConnectionResetError, http.client.RemoteDisconnected)


def _exchange(
    port: int, method: str, target: str, body: bytes, headers: dict
) -> tuple[http.client.HTTPResponse, bytes]:
    """Send the request to 127.0.0.1:port; return the response and its body.

    While the app is still starting, an idempotent request is retried for
    STARTUP_WAIT seconds; others are sent once.
    """
    deadline = time.monotonic() + STARTUP_WAIT
    while True:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=CONNECT_TIMEOUT)
        try:
            connection.connect()
            connection.sock.settimeout(READ_TIMEOUT)
            connection.request(method, target, body=body or None, headers=headers)
            upstream = connection.getresponse()
            return upstream, upstream.read(MAX_RESPONSE_BODY + 1)
        except _NOT_LISTENING:
            if method not in ("GET", "HEAD", "OPTIONS") or time.monotonic() >= deadline:
                raise
        finally:
            connection.close()
        time.sleep(STARTUP_RETRY)


@csrf_exempt
@login_required
def app_proxy(request: HttpRequest, container: str, path: str = "") -> HttpResponse:
    if request.method not in METHODS:
        return _page(
            405, "Method not allowed", f"The proxy does not pass on {request.method}."
        )
    try:
        sandbox = services.sandbox_for(request.user)
        port = services.published_port(sandbox, container, APP_PORT)
    except (services.NotInSandbox, services.InvalidName):
        return _not_found(container)
    except services.SandboxError as exc:
        if exc.code == "engine_unavailable":
            return _page(503, "The Docker engine is not answering", exc.message)
        return _page(502, "The app cannot be reached", exc.message)
    if port is None:
        return _page(
            502,
            "The app is not running",
            f"The container {container!r} is not running or publishes no port: "
            "start it and try again.",
        )

    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_REQUEST_BODY:
        return _page(413, "Request too large", "The proxy passes on at most 1 MiB.")
    body = (
        request.read(MAX_REQUEST_BODY + 1)
        if length or request.method in ("POST", "PUT", "PATCH")
        else b""
    )
    if len(body) > MAX_REQUEST_BODY:
        return _page(413, "Request too large", "The proxy passes on at most 1 MiB.")

    headers = {
        name: request.META[key]
        for key, name in _FORWARD.items()
        if request.META.get(key)
    }
    headers["Host"] = f"127.0.0.1:{port}"
    headers["X-Forwarded-Prefix"] = f"/sandbox/app/{container}"
    headers["Connection"] = "close"
    target = _target_path(path, request.META.get("QUERY_STRING", ""))

    try:
        upstream, data = _exchange(port, request.method, target, body, headers)
        if len(data) > MAX_RESPONSE_BODY:
            return _page(
                502, "Response too large", "The app answered with more than 8 MiB."
            )
    except (OSError, http.client.HTTPException) as exc:
        log.info("proxy to %s failed: %s", container, exc)
        reason = (
            "timed out"
            if isinstance(exc, socket.timeout)
            else "refused or dropped the connection"
        )
        return _page(
            502,
            "The app is not answering",
            f"The container {container!r} is running, but its app {reason}. "
            f"Is it still starting, or listening on another port than {APP_PORT} "
            "or on 127.0.0.1 instead of 0.0.0.0?",
        )

    response = HttpResponse(data, status=upstream.status)
    for name, value in upstream.getheaders():
        if name.lower() in _KEEP:
            response[name] = value
    location = upstream.getheader("Location")
    if location:
        rewritten = _rewrite_location(location, container, port)
        if rewritten is None:
            return _page(
                502,
                "Redirect outside the sandbox",
                f"The app redirected to {location}; the proxy only shows your own app.",
            )
        response["Location"] = rewritten
    response["Content-Security-Policy"] = _CSP
    response["X-Frame-Options"] = "SAMEORIGIN"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = response.get("Cache-Control", "no-store")
    return response
