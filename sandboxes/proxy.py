"""The learner's running app, reached through the site under their own login.

Containers publish their port on 127.0.0.1 only, so this view is the one way
a browser gets to them. It looks the container up in the caller's sandbox
(by label), connects to 127.0.0.1 (with a pool of engines, the publish
address of the sandbox's engine) and that container's published port, and
nothing else: the host and port never come from the request. Another
learner's container gets the same 404 as a name that never existed. A
service of the classroom swarm (/sandbox/service/<name>/) is reached the
same way at one of its running tasks: the node's address and the port its
engine published, both read from the swarm's manager (see below).

The app's page is served from this site's origin, so the response carries a
sandboxing Content-Security-Policy (the page gets an opaque origin: its
scripts cannot read this site's cookies or call its pages as the learner),
and the app's own cookies are dropped. Plain HTTP only: no websockets.

An app is the learner's code and may answer slowly or never. The view is
asynchronous and the exchange runs in a pool of its own (a sync view would
hold a server thread per waiting request, with no bound), and it is bounded
three ways: requests at once per learner
(DOCKERLAB_PROXY_PER_USER) and in all (DOCKERLAB_PROXY_TOTAL), both answered
with a 429 page when full, and a deadline for the whole request - connect,
send, response - (DOCKERLAB_PROXY_DEADLINE), answered with a 504 page. At the
deadline a watchdog shuts the connection, so no thread outlives it for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import logging
import random
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from html import escape
from urllib.parse import quote, urlsplit

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from engine import client, pool
from sandboxes import services, slots, workers

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


def _rewrite_location(
    location: str, container: str, port: int, prefix: str = "/sandbox/app"
) -> str | None:
    """A redirect from the app, pointed back through the proxy; None if it leaves."""
    base = f"{prefix}/{quote(container)}"
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


class DeadlineExceeded(Exception):
    """The app did not answer the whole request within the proxy's deadline."""


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


def _cut(connection: http.client.HTTPConnection) -> None:
    # From the watchdog's thread: a blocked connect, send or read returns now.
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _exchange(
    port: int, method: str, target: str, body: bytes, headers: dict, deadline: float,
    host: str = "127.0.0.1",
) -> Answer:
    """Send the request to 127.0.0.1:port and read the answer, all before `deadline`.

    While the app is still starting, an idempotent request is retried for
    STARTUP_WAIT seconds; others are sent once. Blocking: runs in the pool.
    """
    starting = time.monotonic() + STARTUP_WAIT
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded()
        connection = http.client.HTTPConnection(
            host, port, timeout=min(CONNECT_TIMEOUT, left)
        )
        watchdog = threading.Timer(left, _cut, (connection,))
        watchdog.daemon = True
        watchdog.start()
        try:
            connection.connect()
            connection.sock.settimeout(min(READ_TIMEOUT, left))
            connection.request(method, target, body=body or None, headers=headers)
            upstream = connection.getresponse()
            data = upstream.read(MAX_RESPONSE_BODY + 1)
            if time.monotonic() >= deadline:
                raise DeadlineExceeded()
            return Answer(upstream.status, upstream.getheaders(), data)
        except _NOT_LISTENING:
            if method not in ("GET", "HEAD", "OPTIONS") or time.monotonic() >= starting:
                raise
        except (OSError, http.client.HTTPException):
            if time.monotonic() >= deadline:
                raise DeadlineExceeded() from None
            raise
        finally:
            watchdog.cancel()
            connection.close()
        time.sleep(max(0.0, min(STARTUP_RETRY, deadline - time.monotonic())))


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _exchanges() -> ThreadPoolExecutor:
    """The proxy's own threads: as many as requests may be in flight in all."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                settings.DOCKERLAB_PROXY_TOTAL, thread_name_prefix="dockerlab-proxy"
            )
        return _pool


def _busy(text: str) -> HttpResponse:
    response = _page(429, "Too many requests at once", text)
    response["Retry-After"] = "5"
    return response


def _slots(user_id: int) -> list[slots.Slot] | HttpResponse:
    """The learner's and the site's proxy slots, or the 429 page saying which is full."""
    mine = slots.take("proxy", user_id, settings.DOCKERLAB_PROXY_PER_USER)
    if mine is None:
        return _busy(
            f"Your apps already have {settings.DOCKERLAB_PROXY_PER_USER} requests waiting "
            "for an answer: wait for them, then reload."
        )
    everyone = slots.take("proxy", "site", settings.DOCKERLAB_PROXY_TOTAL)
    if everyone is None:
        mine.release()
        return _busy("The lab's app proxy is busy right now: reload in a few seconds.")
    return [mine, everyone]


@csrf_exempt
@login_required
async def app_proxy(request: HttpRequest, container: str, path: str = "") -> HttpResponse:
    if request.method not in METHODS:
        return _page(
            405, "Method not allowed", f"The proxy does not pass on {request.method}."
        )
    user = await request.auser()
    held = _slots(user.pk)
    if isinstance(held, HttpResponse):
        return held
    try:
        return await _proxy(request, user, container, path, held)
    finally:
        # Slots still held here were not handed to an exchange (it frees its own).
        for slot in held:
            slot.release()


async def _find_port(user, container: str) -> tuple[str, int] | HttpResponse:
    """Where the app's port is published (its sandbox's engine's publish
    address, engine/pool.py, and the port), or the page saying why not."""
    try:
        sandbox = await sync_to_async(services.sandbox_for)(user)
        with pool.using(sandbox.engine):
            port = await workers.engine(
                user.pk, services.published_port, sandbox, container, APP_PORT
            )
            host = client.publish_host()
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
    return host, port


async def _proxy(
    request: HttpRequest, user, container: str, path: str, held: list[slots.Slot],
    find=None, prefix: str = "/sandbox/app",
) -> HttpResponse:
    deadline = time.monotonic() + settings.DOCKERLAB_PROXY_DEADLINE
    # A container's loopback port, or (for a swarm service) a task's node and port.
    found = await (find or _find_port)(user, container)
    if isinstance(found, HttpResponse):
        return found
    host, port = found

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
    headers["Host"] = f"{host}:{port}"
    headers["X-Forwarded-Prefix"] = f"{prefix}/{container}"
    headers["Connection"] = "close"
    target = _target_path(path, request.META.get("QUERY_STRING", ""))

    job = _exchanges().submit(
        _exchange, port, request.method, target, body, headers, deadline, host
    )
    # From here the exchange holds the slots until its thread is done, even
    # if this view gives up on it first.
    handed, held[:] = list(held), []
    job.add_done_callback(lambda _: [slot.release() for slot in handed])
    try:
        answer = await asyncio.wait_for(
            asyncio.wrap_future(job), max(0.0, deadline - time.monotonic()) + 1.0
        )
        if len(answer.body) > MAX_RESPONSE_BODY:
            return _page(
                502, "Response too large", "The app answered with more than 8 MiB."
            )
    except (DeadlineExceeded, asyncio.TimeoutError):
        return _page(
            504,
            "The app took too long",
            f"The container {container!r} did not answer within "
            f"{settings.DOCKERLAB_PROXY_DEADLINE:.0f} seconds.",
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
    return _response(answer, container, port, prefix)


def _response(
    answer: Answer, container: str, port: int, prefix: str = "/sandbox/app"
) -> HttpResponse:
    """The app's answer as this site sends it on: kept headers, sandboxing CSP."""
    response = HttpResponse(answer.body, status=answer.status)
    for name, value in answer.headers:
        if name.lower() in _KEEP:
            response[name] = value
    location = answer.header("Location")
    if location:
        rewritten = _rewrite_location(location, container, port, prefix)
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


# --- a learner's swarm service -------------------------------------------------------
# The same proxy for a service of the classroom swarm: the site picks one of
# the service's running tasks and connects to the node running it, at the
# port that node's engine published for the task. Both come from the
# manager (the node address checked against the swarm's own), found among
# the caller's own services only; another learner's service is the same
# 404 as one that never existed. Each request may reach another task.


async def _find_task_endpoint(user, service: str) -> tuple[str, int] | HttpResponse:
    from orchestration.services import learner  # deferred: orchestration imports sandboxes

    try:
        sandbox = await sync_to_async(services.sandbox_for)(user)
        _, reachable = await workers.engine(user.pk, learner.endpoints, sandbox, service)
    except (services.NotInSandbox, services.InvalidName):
        return _page(404, "No such service", f"There is no service {service!r} in your sandbox.")
    except services.SandboxError as exc:
        return _page(503 if exc.code == "swarm_unavailable" else 502,
                     "The service cannot be reached", exc.message)
    if not reachable:
        return _page(
            502,
            "The service is not running",
            f"The service {service!r} has no running task that publishes a port: "
            "create it with -p (like -p 8080:5002), wait for a task to run, and try again.",
        )
    host, port, _task = random.choice(reachable)
    return host, port


@csrf_exempt
@login_required
async def service_proxy(request: HttpRequest, service: str, path: str = "") -> HttpResponse:
    if request.method not in METHODS:
        return _page(405, "Method not allowed", f"The proxy does not pass on {request.method}.")
    user = await request.auser()
    held = _slots(user.pk)
    if isinstance(held, HttpResponse):
        return held
    try:
        return await _proxy(
            request, user, service, path, held, find=_find_task_endpoint,
            prefix="/sandbox/service",
        )
    finally:
        for slot in held:
            slot.release()
