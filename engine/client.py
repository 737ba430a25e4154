"""The engine seam: the only module of dockerlab that imports `docker`.

Everything else asks this module for a client and calls it inside
`translate_errors()`, so SDK exceptions arrive as the small hierarchy below,
each with a message fit to show a learner.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import docker
import docker.errors
import docker.tls
import docker.types
import requests.exceptions
from django.conf import settings


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


def _base_url() -> str | None:
    return settings.DOCKERLAB_ENGINE_URL or None


def _tls():
    if not settings.DOCKERLAB_ENGINE_TLS_VERIFY:
        return False
    return _tls_config(settings.DOCKERLAB_ENGINE_CERT_PATH)


def _tls_config(cert_path: str):
    return docker.tls.TLSConfig(
        client_cert=(f"{cert_path}/cert.pem", f"{cert_path}/key.pem"),
        ca_cert=f"{cert_path}/ca.pem",
        verify=True,
    )


def api(timeout: float | None = None) -> docker.APIClient:
    """The low-level client for the configured engine (shared, thread-safe).

    A client is created per distinct timeout; streaming callers ask for a long
    one so a quiet log follow is not cut by the HTTP read timeout.
    """
    timeout = settings.DOCKERLAB_ENGINE_TIMEOUT if timeout is None else timeout
    key = f"{_base_url()}|{timeout}"
    with _lock:
        client = _clients.get(key)
        if client is None:
            base_url = _base_url()
            kwargs = {"version": "auto", "timeout": timeout}
            if base_url:
                kwargs["base_url"] = base_url
                kwargs["tls"] = _tls()
                client = docker.APIClient(**kwargs)
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
        raise EngineUnavailable(
            "The Docker engine is not reachable. Start it with `make engine` "
            "(or check DOCKER_HOST / DOCKERLAB_ENGINE_URL)."
        ) from exc
    except docker.errors.DockerException as exc:
        message = str(exc)
        if "Error while fetching server API version" in message or "Connection" in message:
            raise EngineUnavailable(
                "The Docker engine is not reachable. Start it with `make engine` "
                "(or check DOCKER_HOST / DOCKERLAB_ENGINE_URL)."
            ) from exc
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
    url = _base_url() or os.environ.get("DOCKER_HOST") or ""
    return not url or url.startswith("unix://")


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


def _demux(buffer: bytes) -> tuple[bytes, bytes]:
    """Payloads of the whole frames at the start of `buffer`, and the rest."""
    payloads = []
    offset, size = 0, len(buffer)
    while size - offset >= 8:
        length = int.from_bytes(buffer[offset + 4 : offset + 8], "big")
        end = offset + 8 + length
        if end > size:
            break
        payloads.append(buffer[offset + 8 : end])
        offset = end
    return b"".join(payloads), buffer[offset:]


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
