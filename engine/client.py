"""The engine seam: the only module of dockerlab that imports `docker`.

Everything else asks this module for a client and calls it inside
`translate_errors()`, so SDK exceptions arrive as the small hierarchy below,
each with a message fit to show a learner.

Log follows and the event stream are the exception to docker-py: they last
as long as a container, and a blocking read each would cost a thread each.
`async_engine()` speaks the same engine API over asyncio for them (the few
endpoints the follow path needs), raising the same hierarchy.
`follow_log_chunks` remains the blocking follow, for code that already runs
in a thread of its own (the lesson runner's `docker logs`).
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import json
import logging
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

import docker
import docker.errors
import docker.tls
import docker.types
import requests.exceptions
from django.conf import settings

from engine import pool

log = logging.getLogger(__name__)

ENGINE_DOWN = (
    "The Docker engine is not reachable. Start it with `make engine` "
    "(or check DOCKER_HOST / DOCKERLAB_ENGINE_URL)."
)

class EngineError(Exception):
    """Something went wrong talking to the Docker engine."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.status = status


class EngineUnavailable(EngineError):
    """The engine cannot be reached at all."""


class NotFound(EngineError):
    """The engine has no such object (image, container, network, volume)."""


class Conflict(EngineError):
    """The object is in a state that forbids the action (in use, already exists)."""


class BuildFailed(EngineError):
    """A build stopped on an error in the Dockerfile or its context."""


class PullFailed(EngineError):
    """An image could not be pulled from its registry."""


_lock = threading.Lock()
_clients: dict[str, docker.APIClient] = {}


def _engine() -> pool.Engine:
    """The engine the current work talks to (engine/pool.py)."""
    try:
        return pool.current()
    except pool.UnknownEngine as exc:
        raise EngineUnavailable(
            f"This sandbox lives on the engine {exc.args[0]!r}, which the lab no longer has: "
            "ask the trainer to add it back (DOCKERLAB_ENGINES)."
        ) from None


def _base_url() -> str | None:
    return _engine().url or None


def _tls():
    cert_path = _engine().cert_path
    return _tls_config(cert_path) if cert_path else False


def engine_name() -> str:
    """The name of the engine the current work talks to."""
    return _engine().name


def engine_key() -> str:
    """A key for facts cached per engine (quotas, cgroup support, ...)."""
    return _engine().key


def publish_host() -> str:
    """The address ports are published on, where this server reaches them."""
    return _engine().publish_host


def _tls_config(cert_path: str):
    return docker.tls.TLSConfig(
        client_cert=(f"{cert_path}/cert.pem", f"{cert_path}/key.pem"),
        ca_cert=f"{cert_path}/ca.pem",
        verify=True,
    )


def api(timeout: float | None = None) -> docker.APIClient:
    """The low-level client for the current engine (shared, thread-safe).

    A client is created per engine and distinct timeout; streaming callers ask
    for a long one so a quiet log follow is not cut by the HTTP read timeout.
    """
    timeout = settings.DOCKERLAB_ENGINE_TIMEOUT if timeout is None else timeout
    engine = _engine()
    key = f"{engine.url}|{timeout}|{engine.cert_path}"
    with _lock:
        client = _clients.get(key)
        if client is None:
            if engine.url:
                tls = _tls_config(engine.cert_path) if engine.cert_path else False
                client = docker.APIClient(
                    base_url=engine.url, version="auto", timeout=timeout, tls=tls
                )
            else:
                # DOCKER_HOST, DOCKER_TLS_VERIFY and friends, else the default socket.
                client = docker.APIClient(
                    **{**docker.utils.kwargs_from_env(), "version": "auto", "timeout": timeout}
                )
            _clients[key] = client
        return client


def api_for(url: str, timeout: float | None = None, cert_path: str = "") -> docker.APIClient:
    """A low-level client for another engine than the configured one (a swarm
    node's), shared like api()'s. `cert_path` holds ca.pem, cert.pem and
    key.pem for a tcp:// engine that wants TLS; empty means none.
    """
    timeout = settings.DOCKERLAB_ENGINE_TIMEOUT if timeout is None else timeout
    key = f"{url}|{timeout}|{cert_path}"
    with _lock:
        client = _clients.get(key)
        if client is None:
            tls = _tls_config(cert_path) if cert_path else False
            client = docker.APIClient(base_url=url, version="auto", timeout=timeout, tls=tls)
            _clients[key] = client
        return client


def reset() -> None:
    """Forget cached clients (after the settings changed, or in tests)."""
    with _lock:
        for client in _clients.values():
            with contextlib.suppress(Exception):
                client.close()
        _clients.clear()
        _async_engines.clear()


def _explain(exc: docker.errors.APIError) -> str:
    explanation = exc.explanation
    if isinstance(explanation, bytes):
        explanation = explanation.decode("utf-8", "replace")
    return str(explanation or exc).strip()


@contextlib.contextmanager
def translate_errors() -> Iterator[None]:
    """Turn SDK and transport exceptions into EngineError subclasses."""
    try:
        yield
    except EngineError:
        raise
    except docker.errors.NotFound as exc:
        raise NotFound(_explain(exc), status=404) from exc
    except docker.errors.APIError as exc:
        status = exc.status_code
        message = _explain(exc)
        if status == 409:
            raise Conflict(message, status=status) from exc
        raise EngineError(message, status=status) from exc
    except docker.errors.BuildError as exc:
        raise BuildFailed(str(exc.msg)) from exc
    except (requests.exceptions.ConnectionError, FileNotFoundError, ConnectionError) as exc:
        raise EngineUnavailable(ENGINE_DOWN) from exc
    except docker.errors.DockerException as exc:
        message = str(exc)
        if "Error while fetching server API version" in message or "Connection" in message:
            raise EngineUnavailable(ENGINE_DOWN) from exc
        raise EngineError(message) from exc
    except requests.exceptions.RequestException as exc:
        raise EngineError(f"Talking to the Docker engine failed: {exc}") from exc


def volume_mount(
    target: str,
    source: str | None = None,
    labels: dict | None = None,
    driver_opts: dict | None = None,
):
    """A volume mount for a container's host config: `source` names a volume;
    None makes an anonymous one, labelled with `labels` and given the local
    driver's `driver_opts` (such as a size) when the engine creates it."""
    driver = docker.types.DriverConfig("local", driver_opts) if driver_opts else None
    return docker.types.Mount(
        target, source, type="volume", labels=labels, driver_config=driver
    )


def is_local() -> bool:
    """Whether the engine runs on this machine (a unix socket), as settings say."""
    return _engine().local


def info() -> dict:
    """The engine's system facts (`docker info`): cgroup driver and version too."""
    with translate_errors():
        return api().info()


def ping(timeout: float = 5) -> dict:
    """The engine's version facts; raises EngineUnavailable when it is down."""
    with translate_errors():
        client = api(timeout=timeout)
        client.ping()
        version = client.version()
    return {"version": version.get("Version", "?"), "api_version": version.get("ApiVersion", "?")}


def running_containers(timeout: float = 2) -> int:
    """How many containers the engine runs now (its load, for placement)."""
    with translate_errors():
        return int(api(timeout=timeout).info().get("ContainersRunning") or 0)


class LogChunks:
    """A container's followed output, read in bulk: iterate for bytes blocks.

    The engine sends every log line as its own HTTP chunk, and both docker-py's
    log stream and the HTTP client's own chunked reading return one chunk (about
    one line) per read; under a flood that per-line work caps throughput well
    below what the engine sends. This reads whatever the connection has (up to
    64 KiB), undoes the chunked transfer coding and the stream multiplexing in
    bulk, and yields the payloads of every whole frame at once, joined.
    Blocks are not line-aligned. `close()` from any thread ends iteration.
    """

    READ_SIZE = 64 * 1024

    def __init__(self, response, tty: bool):
        self._response = response
        self._tty = tty
        self._closed = threading.Event()

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        shutdown_response(self._response)

    def __iter__(self) -> Iterator[bytes]:
        # The buffered socket file under the HTTP response: bytes not yet read
        # as body are in it or in the socket, nowhere else.
        body = self._response.raw._fp.fp
        chunked = ChunkedDecoder() if self._response.raw.chunked else None
        pending = b""
        try:
            while not self._closed.is_set():
                with translate_errors():
                    data = body.read1(self.READ_SIZE)
                if not data:
                    return
                if chunked is not None:
                    data = chunked.feed(data)
                if self._tty:
                    if data:
                        yield data
                else:
                    pending += data
                    payloads, pending = _demux(pending)
                    if payloads:
                        yield payloads
                if chunked is not None and chunked.done:
                    return
        except (OSError, ValueError, AttributeError):
            # A read on a socket closed under it: the follow was stopped.
            if not self._closed.is_set():
                raise
        finally:
            self.close()


class ChunkedDecoder:
    """Undo HTTP/1.1 chunked transfer coding on bytes fed in any pieces."""

    def __init__(self) -> None:
        self._buffer = b""
        self._left = 0  # bytes of the current chunk's data still to come
        self._crlf = False  # the CRLF after a chunk's data is still to come
        self.done = False

    def feed(self, data: bytes) -> bytes:
        """The body bytes that `data` completes (possibly none)."""
        buffer, i, out = self._buffer + data, 0, []
        while not self.done:
            if self._left:
                piece = buffer[i : i + self._left]
                out.append(piece)
                self._left -= len(piece)
                i += len(piece)
                if self._left:
                    break
                self._crlf = True
            if self._crlf:
                if len(buffer) - i < 2:
                    break
                i += 2
                self._crlf = False
            end = buffer.find(b"\r\n", i)
            if end < 0:
                break
            size = int(buffer[i:end].split(b";", 1)[0], 16)
            i = end + 2
            if size == 0:
                self.done = True
            self._left = size
        self._buffer = buffer[i:]
        return b"".join(out)


def _frames(buffer: bytes) -> tuple[list[bytes], bytes]:
    """The payloads of the whole multiplexed frames at the start of `buffer`
    (one per log entry: the engine writes each entry as a frame), and the rest.
    """
    payloads = []
    offset, size = 0, len(buffer)
    while size - offset >= 8:
        length = int.from_bytes(buffer[offset + 4 : offset + 8], "big")
        end = offset + 8 + length
        if end > size:
            break
        payloads.append(buffer[offset + 8 : end])
        offset = end
    return payloads, buffer[offset:]


def _demux(buffer: bytes) -> tuple[bytes, bytes]:
    """The payloads of the whole frames at the start of `buffer`, joined, and the rest."""
    payloads, rest = _frames(buffer)
    return b"".join(payloads), rest


def _socket_of(response):
    """The socket under a streaming HTTP response, where it can be found."""
    raw = getattr(response, "raw", None)
    fp = getattr(getattr(raw, "_fp", None), "fp", None)
    inner = getattr(fp, "raw", None)
    return getattr(inner, "_sock", None) or getattr(inner, "sock", None) or getattr(fp, "_sock", None)


def shutdown_response(response) -> None:
    """Close a streaming HTTP response from any thread, waking a blocked reader.

    Closing the file object alone does not interrupt a read blocked in another
    thread; shutting the socket down does.
    """
    sock = _socket_of(response)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(Exception):
        response.close()


# --- asyncio: log follows and the event stream, without a thread each -------
#
# A followed log is an HTTP response that lasts as long as its container.
# docker-py reads it with a blocking socket, which costs a thread per follow;
# what follows speaks HTTP/1.1 to the same engine API on the event loop
# instead (its unix socket, or TCP with TLS as the settings say), one
# connection per request. Only the endpoints the follow path needs are here.


class Endpoint:
    """Where the engine's API answers: a unix socket path, or a host and port
    (with TLS when `ssl` is set)."""

    def __init__(
        self,
        *,
        path: str | None = None,
        host: str = "localhost",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ):
        self.path = path
        self.host = host
        self.port = port
        self.ssl = ssl_context

    async def connect(self, factory: Callable[[], asyncio.Protocol]) -> None:
        loop = asyncio.get_running_loop()
        if self.path is not None:
            await loop.create_unix_connection(factory, self.path)
        else:
            await loop.create_connection(
                factory,
                self.host,
                self.port,
                ssl=self.ssl,
                server_hostname=self.host if self.ssl is not None else None,
            )


def _ssl_context(tls) -> ssl.SSLContext:
    """An SSL context from docker-py's TLSConfig (client certificate, CA)."""
    verify = getattr(tls, "verify", True)
    cafile = getattr(tls, "ca_cert", None) or (verify if isinstance(verify, str) else None)
    context = ssl.create_default_context(cafile=cafile if verify else None)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if getattr(tls, "cert", None):
        context.load_cert_chain(*tls.cert)
    return context


def _endpoint() -> Endpoint:
    """The configured engine's endpoint, read the way api() reads it."""
    base_url, tls = _base_url(), None
    if base_url:
        tls = _tls() or None
    else:
        env = docker.utils.kwargs_from_env()
        base_url = env.get("base_url") or docker.constants.DEFAULT_UNIX_SOCKET
        tls = env.get("tls") or None
    url = docker.utils.parse_host(base_url, tls=bool(tls))
    if url.startswith("http+unix://"):
        return Endpoint(path=url[len("http+unix://") :])
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EngineError(
            f"Following logs needs an engine reached over a unix socket or TCP, not {url!r}."
        )
    context = _ssl_context(tls) if parts.scheme == "https" else None
    return Endpoint(
        host=parts.hostname,
        port=parts.port or (2376 if context else 2375),
        ssl_context=context,
    )


def _status_error(status: int, body: bytes) -> EngineError:
    try:
        message = str(json.loads(body).get("message") or "").strip()
    except (ValueError, AttributeError):
        message = body.decode("utf-8", "replace").strip()
    message = message or f"The engine answered with HTTP status {status}."
    if status == 404:
        return NotFound(message, status=status)
    if status == 409:
        return Conflict(message, status=status)
    return EngineError(message, status=status)


_buffers = threading.local()


def _read_buffer() -> memoryview:
    """This thread's buffer for socket reads (see _Exchange.get_buffer)."""
    buffer = getattr(_buffers, "view", None)
    if buffer is None:
        buffer = _buffers.view = memoryview(bytearray(64 * 1024))
    return buffer


class _Exchange(asyncio.BufferedProtocol):
    """One HTTP/1.1 request and its response, on a connection of its own.

    `head` resolves with the status once the response's header has arrived;
    the body then goes to `on_body` piece by piece as it arrives (or is kept,
    without one), and `finished` resolves when it has ended: with the kept
    body, or None after `close()`; with an EngineError when the connection
    broke first.

    Reads go into one buffer per thread, copied out at once: a follow gets a
    few dozen bytes at a time, and the loop's own reads would allocate
    256 KiB for each (a quarter of a busy server's time, measured).
    """

    MAX_HEAD = 64 * 1024

    def __init__(self, request: bytes, on_body: Callable[[bytes], None] | None):
        loop = asyncio.get_running_loop()
        self.head: asyncio.Future[int] = loop.create_future()
        self.finished: asyncio.Future[bytes | None] = loop.create_future()
        self._request = request
        self._on_body = on_body
        self._kept: list[bytes] = []
        self._raw = b""  # the header while it is incomplete
        self._chunked: ChunkedDecoder | None = None
        self._left: int | None = None  # Content-Length still to come
        self._closing = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self._request)

    def get_buffer(self, sizehint: int) -> memoryview:
        return _read_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(_read_buffer()[:nbytes]))

    def data_received(self, data: bytes) -> None:
        if self.finished.done():
            return
        if not self.head.done():
            data = self._read_head(data)
            if data is None:
                return
        try:
            self._read_body(data)
        except Exception as exc:  # a garbled body, or the consumer of the body failed
            log.warning("an engine stream could not be read", exc_info=True)
            self._end(exc if isinstance(exc, EngineError) else EngineError(str(exc)))

    def _read_head(self, data: bytes) -> bytes | None:
        self._raw += data
        end = self._raw.find(b"\r\n\r\n")
        if end < 0:
            if len(self._raw) > self.MAX_HEAD:
                self._end(EngineError("The engine's answer could not be read."))
            return None
        lines = self._raw[:end].decode("latin-1").split("\r\n")
        rest, self._raw = self._raw[end + 4 :], b""
        try:
            status = int(lines[0].split()[1])
        except (IndexError, ValueError):
            self._end(EngineError("The engine's answer could not be read."))
            return None
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._chunked = ChunkedDecoder()
        elif "content-length" in headers:
            self._left = int(headers["content-length"])
        if status >= 400:
            self._on_body = None  # the body is the engine's error message: keep it
        self.head.set_result(status)
        return rest

    def _read_body(self, data: bytes) -> None:
        if self._chunked is not None:
            data = self._chunked.feed(data)
        elif self._left is not None:
            data = data[: self._left]
            self._left -= len(data)
        if data:
            if self._on_body is not None:
                self._on_body(data)
            else:
                self._kept.append(data)
        if (self._chunked is not None and self._chunked.done) or self._left == 0:
            self._end(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._closing or (exc is None and self.head.done() and self._chunked is None
                             and self._left is None):
            self._end(None)  # closed by us, or a body that lasts until the end
        else:
            self._end(EngineError("The engine's connection broke off."))

    def _end(self, error: BaseException | None) -> None:
        if not self.head.done():
            self.head.set_exception(error or EngineError("The engine closed the connection."))
            self.head.exception()  # retrieved here; awaiting it raises again
        if not self.finished.done():
            if error is None:
                self.finished.set_result(None if self._on_body else b"".join(self._kept))
            else:
                self.finished.set_exception(error)
                self.finished.exception()
        if self.transport is not None:
            self.transport.close()

    def close(self) -> None:
        """End the exchange now (from the loop); `finished` resolves with None."""
        self._closing = True
        if self.transport is not None:
            self.transport.abort()
        self._end(None)


class EngineStream:
    """A long-lived engine response (a log follow, the event stream).

    `wait()` returns when the engine ends it or `close()` was called, and
    raises the EngineError that broke it otherwise. Loop-only, like its
    callbacks.
    """

    def __init__(self) -> None:
        self._exchange: _Exchange | None = None

    def _body(self, data: bytes) -> None:
        raise NotImplementedError

    def _rest(self) -> None:
        """The stream ended: hand on anything still held."""

    async def wait(self) -> None:
        try:
            await asyncio.shield(self._exchange.finished)
        finally:
            self._rest()

    def close(self) -> None:
        if self._exchange is not None:
            self._exchange.close()


class LogFollow(EngineStream):
    """A container's followed log: whole entries go to `on_entries` as they come.

    An entry is b"<timestamp> <text>" as the engine stored it: a line with its
    "\\n", or a piece of a longer line without. Timestamps are the engine's
    (RFC 3339, nanoseconds, fixed width), so the same entry read twice (here
    and in `log_entries`) is the same bytes.
    """

    def __init__(self, tty: bool, on_entries: Callable[[list[bytes]], None]):
        super().__init__()
        self._tty = tty
        self._on_entries = on_entries
        self._held = b""

    def _body(self, data: bytes) -> None:
        entries, self._held = _entries(self._held + data, self._tty)
        if entries:
            self._on_entries(entries)

    def _rest(self) -> None:
        if self._held and self._tty:
            held, self._held = self._held, b""
            self._on_entries([held])


def _entries(data: bytes, tty: bool) -> tuple[list[bytes], bytes]:
    """Whole log entries at the start of `data`, and the rest.

    Without a TTY every entry is a multiplexed frame. With one the entries
    are only concatenated; each ends at its newline (a piece of a very long
    line has none and stays joined to the next entry: a TTY's price).
    """
    if not tty:
        return _frames(data)
    cut = data.rfind(b"\n") + 1
    return data[:cut].splitlines(keepends=True), data[cut:]


class EventStream(EngineStream):
    """The engine's event stream: each event (a dict) goes to `on_event`."""

    def __init__(self, on_event: Callable[[dict], None]):
        super().__init__()
        self._on_event = on_event
        self._held = b""

    def _body(self, data: bytes) -> None:
        *lines, self._held = (self._held + data).split(b"\n")
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                self._on_event(event)


def unix_time(stamp: bytes) -> str:
    """An entry's stamp (RFC 3339, UTC, nanoseconds) as the engine's `since`
    takes it: seconds since the epoch, a dot, nine digits."""
    text = stamp.decode("ascii")
    whole, _, rest = text.rstrip("Z").partition(".")
    seconds = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    return f"{seconds}.{(rest + '0' * 9)[:9]}"


class AsyncEngine:
    """The configured engine over asyncio, for the follow path.

    Holds no connection and no event loop: every call connects on the loop
    that awaits it (a unix socket connects in microseconds), so one instance
    serves the server's loop and a test's alike.
    """

    def __init__(self, endpoint: Endpoint, timeout: float):
        self.endpoint = endpoint
        self.timeout = timeout
        self._version: str | None = None

    async def _exchange(
        self,
        path: str,
        params: dict | None = None,
        on_body: Callable[[bytes], None] | None = None,
        *,
        versioned: bool = True,
    ) -> _Exchange:
        """Send a GET and wait for the answer's header; raise if it is an error."""
        if versioned:
            path = f"/v{await self.api_version()}{path}"
        if params:
            path += "?" + urllib.parse.urlencode(params)
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {self.endpoint.host}\r\n"
            "User-Agent: dockerlab\r\nConnection: close\r\n\r\n"
        ).encode()
        exchange = _Exchange(request, on_body)
        try:
            async with asyncio.timeout(self.timeout):
                await self.endpoint.connect(lambda: exchange)
                status = await exchange.head
                if status >= 400:
                    raise _status_error(status, await exchange.finished or b"")
        except EngineError:
            exchange.close()
            raise
        except (OSError, ssl.SSLError) as exc:  # refused, no socket, timed out
            exchange.close()
            raise EngineUnavailable(ENGINE_DOWN) from exc
        except BaseException:
            exchange.close()
            raise
        return exchange

    async def _json(self, path: str, params: dict | None = None, *, versioned: bool = True):
        exchange = await self._exchange(path, params, versioned=versioned)
        try:
            async with asyncio.timeout(self.timeout):
                body = await exchange.finished
        except TimeoutError as exc:
            exchange.close()
            raise EngineUnavailable(ENGINE_DOWN) from exc
        try:
            return json.loads(body)
        except ValueError as exc:
            raise EngineError("The engine's answer could not be read.") from exc

    async def api_version(self) -> str:
        """The engine's API version, as docker-py's "auto" picks it (asked once)."""
        if self._version is None:
            version = await self._json("/version", versioned=False)
            self._version = str(version.get("ApiVersion") or "1.41")
        return self._version

    async def inspect_container(self, container_id: str) -> dict:
        return await self._json(f"/containers/{urllib.parse.quote(container_id, safe='')}/json")

    async def containers(self, *, filters: dict, all: bool = True) -> list[dict]:
        return await self._json(
            "/containers/json", {"all": int(all), "filters": json.dumps(filters)}
        )

    def _logs_path(self, container_id: str) -> str:
        return f"/containers/{urllib.parse.quote(container_id, safe='')}/logs"

    async def log_entries(self, container_id: str, *, tail: int, tty: bool) -> list[bytes]:
        """The last `tail` log entries, timestamped as a follow's are (no follow)."""
        exchange = await self._exchange(
            self._logs_path(container_id),
            {"stdout": 1, "stderr": 1, "tail": tail, "timestamps": 1},
        )
        try:
            async with asyncio.timeout(self.timeout):
                body = await exchange.finished
        except TimeoutError as exc:
            exchange.close()
            raise EngineUnavailable(ENGINE_DOWN) from exc
        entries, rest = _entries(body, tty)
        return entries + ([rest] if rest and tty else [])

    async def follow_log(
        self,
        container_id: str,
        *,
        tail: int,
        tty: bool,
        on_entries: Callable[[list[bytes]], None],
        since: bytes | None = None,
    ) -> LogFollow:
        """Follow a container's stdout and stderr: the last `tail` entries, then
        every new one (timestamped), until it stops or `close()`.

        With `since` (an entry's stamp), instead every entry the engine still
        has from that time on, that entry included, then every new one.
        """
        follow = LogFollow(tty, on_entries)
        params: dict = {"stdout": 1, "stderr": 1, "follow": 1, "tail": tail, "timestamps": 1}
        if since is not None:
            params.update(tail="all", since=unix_time(since))
        follow._exchange = await self._exchange(self._logs_path(container_id), params, follow._body)
        return follow

    async def events(
        self, *, filters: dict, on_event: Callable[[dict], None], since: float | None = None
    ) -> EventStream:
        """Follow the engine's events matching `filters` (from `since`, a Unix time)."""
        stream = EventStream(on_event)
        params = {"filters": json.dumps(filters)}
        if since is not None:
            params["since"] = f"{since:.9f}"
        stream._exchange = await self._exchange("/events", params, stream._body)
        return stream


_async_engines: dict[str, AsyncEngine] = {}


def async_engine() -> AsyncEngine:
    """The asyncio client for the configured engine (shared; see AsyncEngine)."""
    timeout = settings.DOCKERLAB_ENGINE_TIMEOUT
    key = "|".join(
        str(part)
        for part in (_base_url(), _engine().cert_path, timeout)
    )
    with _lock:
        engine = _async_engines.get(key)
        if engine is None:
            with translate_errors():
                endpoint = _endpoint()
            engine = _async_engines[key] = AsyncEngine(endpoint, timeout)
        return engine
def follow_log_chunks(container_id: str, *, tail: int, since: int | None = None) -> LogChunks:
    """Start following a container's stdout and stderr (see LogChunks).

    `since` (a UNIX time) leaves out lines logged before it (`docker logs --since`).
    """
    with translate_errors():
        api_client = api()
        tty = bool((api_client.inspect_container(container_id).get("Config") or {}).get("Tty"))
        response = api_client._get(
            api_client._url("/containers/{0}/logs", container_id),
            params={
                "stdout": 1, "stderr": 1, "follow": 1, "tail": tail, "timestamps": 0,
                **({"since": int(since)} if since is not None else {}),
            },
            stream=True,
        )
        api_client._raise_for_status(response)
    # A followed container may stay quiet for longer than any request timeout.
    sock = _socket_of(response)
    if sock is not None:
        sock.settimeout(None)
    return LogChunks(response, tty)


@dataclass(frozen=True)
class BuildLimits:
    """What every container a build makes for its steps gets."""

    memory: int  # bytes, swap included
    cpus: float  # a hard CPU quota, in CPUs
    network: str  # network mode of RUN steps: "none", "default" ...
    cgroup_parent: str | None = None  # the cgroup the step containers are made under


class BuildOutput:
    """A running build's messages, decoded: iterate once for dicts.

    `close()` from any thread stops it: the connection is shut down, and the
    engine cancels a build whose client went away (it kills and removes the
    step container).
    """

    def __init__(self, api_client: docker.APIClient, response):
        self._api = api_client
        self._response = response
        self._closed = threading.Event()

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        shutdown_response(self._response)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def __iter__(self) -> Iterator[dict]:
        try:
            with translate_errors():
                for message in self._api._stream_helper(self._response, decode=True):
                    if self.closed:
                        return
                    if isinstance(message, dict):
                        yield message
        except Exception:
            # A read on a connection shut down under it: the build was stopped.
            if not self.closed:
                raise
        finally:
            self.close()


def build(
    context: IO[bytes],
    *,
    tag: str,
    limits: BuildLimits,
    no_cache: bool = False,
    target: str | None = None,
) -> BuildOutput:
    """Start a classic-builder build of a tar `context` (with its Dockerfile) as `tag`.

    Nothing is pulled; step containers are removed even when a step fails;
    `limits` apply to every step container.
    """
    period = 100_000  # microseconds: the quota below is a share of this
    params = {
        "t": tag,
        "q": "0",
        "nocache": "1" if no_cache else "0",
        "rm": "1",
        "forcerm": "1",
        "pull": "0",
        "memory": limits.memory,
        "memswap": limits.memory,
        "cpuperiod": period,
        "cpuquota": max(1000, round(limits.cpus * period)),
        "networkmode": limits.network,
    }
    if limits.cgroup_parent:
        params["cgroupparent"] = limits.cgroup_parent
    if target:
        params["target"] = target  # `docker build --target`: stop after that stage
    with translate_errors():
        api_client = api()
        response = api_client._post(
            api_client._url("/build"),
            data=context,
            params=params,
            headers={"Content-Type": "application/x-tar"},
            stream=True,
        )
        api_client._raise_for_status(response)
    # A step may stay quiet for longer than any request timeout (RUN sleep 90).
    sock = _socket_of(response)
    if sock is not None:
        sock.settimeout(None)
    return BuildOutput(api_client, response)
