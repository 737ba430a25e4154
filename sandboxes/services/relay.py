"""The registry relay: code of ours between the engine and a learner's registry.

The engine never talks to a learner's container. For each push or pull the
server opens a relay on a short-lived port of DOCKERLAB_REGISTRY_RELAY_HOST,
names the image after it, and relays the engine's registry requests to the
one registry the learner named (their container's published loopback port),
and to nothing else. Whatever that registry answers:

- No other place. The relay's one upstream address is fixed before the first
  request, and no URL from an answer is ever fetched. Any redirect (3xx) is
  refused: the lesson's registry never redirects (only registries that keep
  blobs in cloud storage do), and following one within "the same registry"
  would still mean trusting the learner's idea of where that is. A
  `Location` naming the next step of an upload must point back at the same
  registry and is rewritten into a path on the relay. A Bearer challenge is
  refused (its realm is where the engine would fetch a token); Basic passes,
  as our own `Basic realm="registry"`.
- Only the registry API of one repository: `/v2/`, and the blobs, uploads
  and manifests of the image being moved, under the engine-side repository
  (rewritten to the learner's name upstream). Anything else is a 404 of ours.
- The engine sees only what we produced: status codes, framing, a short
  list of headers whose values are checked, error bodies re-made from our
  parse, and no body at all where the protocol needs none.
- A pull takes back only an image the sandbox owns. The manifest is parsed,
  must be one image manifest whose config digest the app recorded for the
  sandbox, and is re-emitted from our parse (so no manifest list and no
  foreign-layer `urls` reach the engine). The config blob must hash to that
  digest, carry the sandbox's label and no ONBUILD trigger. A layer is
  relayed only if the vetted manifest names it, and only once the config has
  passed, so a refused pull leaves no layer behind.
- Bounded: header size and count (http.client's and http.server's limits),
  the bodies we parse, all bytes of the operation both ways, a deadline,
  and the connections open at once.
- The first refusal ends the operation: later requests get a registry
  DENIED error (which the engine does not retry), and `refusal` holds the
  message for the learner.

The decisions live in sandboxes/services/relay_rules.py; this module is the
server that applies them. Django-free: the caller passes what it knows
(sandbox id, owned image ids, limits) in an `Operation`.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from sandboxes.services.relay_rules import (
    Manifest,
    NotRelayed,
    Operation,
    Refused,
    Route,
    answer_headers,
    denied_body,
    error_body,
    relay_repository,
    route,
    unrelayed_body,
    upstream_headers,
    vet_config,
    vet_manifest,
)

log = logging.getLogger(__name__)

_LENGTH_RE = re.compile(r"^[0-9]{1,19}$")
MAX_MANIFEST = 4 * 1024 * 1024
MAX_CONFIG = 4 * 1024 * 1024
MAX_ERROR_BODY = 64 * 1024
# The engine opens a few at once (five uploads or three downloads, and keeps some idle).
MAX_CONNECTIONS = 32
# Quiet time allowed on one connection, either side, before it is dropped.
IDLE_SECONDS = 60.0
BLOCK = 64 * 1024
_HOP = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class _EngineGone(Exception):
    """The engine's side of a connection broke (not the learner's doing)."""


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 parsing of the engine's requests; the relay does the rest."""

    protocol_version = "HTTP/1.1"
    server_version = "dockerlab-relay"
    sys_version = ""
    timeout = IDLE_SECONDS

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def do_GET(self):
        self.server.exchange(self)

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET


@dataclass
class _Answer:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | None = b""


class Relay:
    """One push's or pull's relay; use as a context manager, or start() and close().

    `engine_name` is the image repository the engine uses
    (`127.0.0.1:41234/dl-relay-<sid>-<deadline>/flask-app`); `refusal` is the
    learner's message once the relay refused something.
    """

    def __init__(self, op: Operation, upstream: tuple[str, int], listen_host: str):
        ip = ipaddress.ip_address(listen_host)
        if ip.version != 4 or ip.is_unspecified:
            raise ValueError("the relay listens on one IPv4 address")
        self.op = op
        self.upstream = upstream
        self._deadline = time.monotonic() + op.seconds
        self.engine_repository = relay_repository(
            op.sid, int(time.time() + op.seconds), op.repository
        )
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((listen_host, 0))
        self._sock.listen(MAX_CONNECTIONS)
        self.address = f"{listen_host}:{self._sock.getsockname()[1]}"
        self.engine_name = f"{self.address}/{self.engine_repository}"
        self.requests = 0
        # (method, path, status) of the first requests, for logs and tests.
        self.seen: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._closed = threading.Event()
        self._refusal: str | None = None
        self._bytes = 0
        self._manifest: Manifest | None = None
        self._config_verdict = threading.Event()
        self._config_ok = False
        self._timer = threading.Timer(op.seconds, self._expire)
        self._timer.daemon = True

    # -- life -------------------------------------------------------------------

    def start(self) -> Relay:
        threading.Thread(target=self._accept, name=f"relay {self.address}", daemon=True).start()
        self._timer.start()
        return self

    def __enter__(self) -> Relay:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def refusal(self) -> str | None:
        return self._refusal

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def refuse(self, message: str) -> None:
        """Remember the first refusal; every later request is denied."""
        with self._lock:
            if self._refusal is None:
                self._refusal = message
        self._config_verdict.set()  # a layer waiting for the config gives up

    def close(self) -> None:
        """Stop listening and drop every connection, from any thread."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._timer.cancel()
        self._config_verdict.set()
        for sock in [self._sock, *self._connections()]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def _connections(self) -> list[socket.socket]:
        with self._lock:
            return list(self._conns)

    def _expire(self) -> None:
        self.refuse(
            f"The {self.op.kind} took longer than {int(self.op.seconds)} seconds, "
            "the most the lab allows: it stopped."
        )
        self.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                full = len(self._conns) >= MAX_CONNECTIONS or self._closed.is_set()
                if not full:
                    self._conns.add(conn)
            if full:
                conn.close()
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(IDLE_SECONDS)
            first = conn.recv(1, socket.MSG_PEEK)
            if first == b"\x16":
                # A TLS handshake: the engine tries https first. Answer as a
                # plain HTTP server does, and it goes on with plain HTTP.
                conn.sendall(_HOP)
            elif first:
                _Handler(conn, ("engine", 0), self)
        except (OSError, _EngineGone):
            pass
        except Exception:  # a fault of ours: the operation stops, and says so
            log.exception("registry relay %s failed", self.address)
            self.refuse("The lab's registry relay failed; it has been logged. Try again.")
        finally:
            with self._lock:
                self._conns.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()

    # -- one request ------------------------------------------------------------

    def exchange(self, h: _Handler) -> None:
        """Relay one engine request (called by the handler, in its thread)."""
        with self._lock:
            self.requests += 1
        if self._refusal is not None or self._closed.is_set():
            h.close_connection = True
            return self._send(h, _Answer(403, body=denied_body()))
        try:
            found = route(self.op, self.engine_repository, h.command, h.path)
        except NotRelayed:
            h.close_connection = True
            return self._send(h, _Answer(404, body=unrelayed_body()))
        if self.op.kind == "pull" and found.kind == "manifest" and found.digest:
            return self._send(h, self._own_manifest(found.digest))
        try:
            self._before(found)
            self._relay(h, found, self.address)
        except Refused as exc:
            self.refuse(exc.message)
            h.close_connection = True
            with contextlib.suppress(OSError, ValueError):
                self._send(h, _Answer(403, body=denied_body()))

    def _before(self, found: Route) -> None:
        """A pull's blob must be named by the vetted manifest; layers wait for the config."""
        if self.op.kind != "pull" or found.kind != "blob":
            return
        manifest = self._manifest
        if manifest is None:
            raise Refused("The engine asked for a blob before any manifest: the pull stopped.")
        if found.digest == manifest.config.digest:
            return
        if found.digest not in {layer.digest for layer in manifest.layers}:
            raise Refused("A blob the manifest does not name was asked for: the pull stopped.")
        self._config_verdict.wait(max(0.0, self._deadline - time.monotonic()))
        if not self._config_ok:
            raise Refused(self._refusal or "The image's config never arrived: the pull stopped.")

    def _own_manifest(self, digest: str) -> _Answer:
        """A pull's manifest asked for by digest: ours, if it is the one we served."""
        manifest = self._manifest
        if manifest is None or manifest.digest() != digest:
            return _Answer(404, body=unrelayed_body())
        return self._manifest_answer_of(manifest)

    def _relay(self, h: _Handler, found: Route, host: str) -> None:
        conn = http.client.HTTPConnection(*self.upstream, timeout=IDLE_SECONDS)
        # A pull's HEAD of its manifest is a GET upstream: the answer's digest
        # is that of our re-emission, which needs the body.
        method = "GET" if self.op.kind == "pull" and found.kind == "manifest" else h.command
        try:
            answer = self._ask(conn, h, found, host, method)
            self._answer(h, found, host, answer)
        finally:
            conn.close()

    def _ask(
        self, conn, h: _Handler, found: Route, host: str, method: str
    ) -> http.client.HTTPResponse:
        """Send the request upstream; the learner's registry failing is Refused."""
        chunks, length = self._request_body(h)
        try:
            conn.putrequest(method, found.upstream, skip_host=True, skip_accept_encoding=True)
            for name, value in upstream_headers(h.headers, host):
                conn.putheader(name, value)
            if length is not None:
                conn.putheader("Content-Length", str(length))
            elif chunks is not None:
                conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            for chunk in chunks or ():
                self._count(len(chunk))
                conn.send(chunk if length is not None else b"%x\r\n%s\r\n" % (len(chunk), chunk))
            if chunks is not None and length is None:
                conn.send(b"0\r\n\r\n")
            return conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            raise self._broken(exc) from None

    def _broken(self, exc: BaseException) -> Refused:
        if self._closed.is_set():
            return Refused(self._refusal or f"The {self.op.kind} was stopped.")
        return Refused(
            "Your registry stopped answering, or answered with something that is not "
            f"a registry's HTTP answer, so the {self.op.kind} stopped."
        )

    def _request_body(self, h: _Handler) -> tuple[Iterator[bytes] | None, int | None]:
        encoding = (h.headers.get("Transfer-Encoding") or "").strip().lower()
        length = (h.headers.get("Content-Length") or "").strip()
        if encoding == "chunked":
            return self._chunked(h), None
        if encoding:
            raise Refused("The engine sent a body the relay cannot read.")
        if length:
            if not _LENGTH_RE.match(length):
                raise Refused("The engine sent a body the relay cannot read.")
            return self._fixed(h, int(length)), int(length)
        return None, None

    def _read(self, h: _Handler, size: int, line: bool = False) -> bytes:
        try:
            data = h.rfile.readline(size) if line else h.rfile.read(size)
        except OSError as exc:
            raise _EngineGone() from exc
        if not data:
            raise _EngineGone()
        return data

    def _fixed(self, h: _Handler, length: int) -> Iterator[bytes]:
        while length > 0:
            data = self._read(h, min(BLOCK, length))
            length -= len(data)
            yield data

    def _chunked(self, h: _Handler) -> Iterator[bytes]:
        while True:
            line = self._read(h, 1024, line=True).split(b";", 1)[0].strip()
            size = int(line, 16) if re.fullmatch(rb"[0-9a-fA-F]{1,15}", line) else -1
            if size < 0:
                raise _EngineGone()
            if size == 0:
                while self._read(h, 1024, line=True) not in (b"\r\n", b"\n"):
                    pass  # trailers: none expected, none passed on
                return
            while size > 0:
                data = self._read(h, min(BLOCK, size))
                size -= len(data)
                yield data
            self._read(h, 2)

    def _count(self, size: int) -> None:
        with self._lock:
            self._bytes += size
            over = self._bytes > self.op.max_bytes
        if over:
            raise Refused(
                f"The {self.op.kind} moved more than {self.op.max_bytes // 1024**2} MB, "
                "the most the lab allows: it stopped."
            )

    def _limited(self, resp: http.client.HTTPResponse, limit: int, what: str) -> bytes:
        try:
            data = resp.read(limit + 1)
        except (OSError, http.client.HTTPException) as exc:
            raise self._broken(exc) from None
        if len(data) > limit:
            raise Refused(f"Your registry sent a {what} larger than the lab accepts.")
        self._count(len(data))
        return data

    # -- answers ----------------------------------------------------------------

    def _answer(self, h: _Handler, found: Route, host: str, resp: http.client.HTTPResponse) -> None:
        status = resp.status
        headers = answer_headers(self.op, status, resp.msg, host, self.engine_repository)
        if status >= 400:
            body = error_body(status, self._limited(resp, MAX_ERROR_BODY, "error"))
            return self._send(h, _Answer(status, headers, body))
        if self.op.kind == "pull" and found.kind == "manifest":
            return self._send(h, self._manifest_answer(resp))
        if h.command == "HEAD":
            length = (resp.getheader("Content-Length") or "").strip()
            if _LENGTH_RE.match(length):
                headers.append(("Content-Length", length))
            return self._send(h, _Answer(status, headers, None))
        if self.op.kind == "pull" and found.kind == "blob":
            if found.digest == self._manifest.config.digest:
                return self._send(h, self._config_answer(resp, found.digest))
            return self._stream_layer(h, resp, headers, found.digest)
        body = b"{}" if found.kind == "base" else b""
        return self._send(h, _Answer(status, headers, body))

    def _manifest_answer(self, resp: http.client.HTTPResponse) -> _Answer:
        if resp.status != 200:
            raise Refused(f"Your registry answered the manifest request with {resp.status}.")
        data = self._limited(resp, MAX_MANIFEST, "manifest")
        manifest = vet_manifest(self.op, data, resp.getheader("Content-Type") or "")
        self._manifest = manifest
        return self._manifest_answer_of(manifest)

    @staticmethod
    def _manifest_answer_of(manifest: Manifest) -> _Answer:
        headers = [
            ("Content-Type", manifest.media_type),
            ("Docker-Content-Digest", manifest.digest()),
            ("Docker-Distribution-API-Version", "registry/2.0"),
        ]
        return _Answer(200, headers, manifest.body())

    def _config_answer(self, resp: http.client.HTTPResponse, digest: str) -> _Answer:
        if resp.status != 200:
            raise Refused(f"Your registry answered the config request with {resp.status}.")
        data = self._limited(resp, MAX_CONFIG, "config")
        vet_config(self.op, digest, data)
        self._config_ok = True
        self._config_verdict.set()
        headers = [("Content-Type", "application/octet-stream"), ("Docker-Content-Digest", digest)]
        return _Answer(200, headers, data)

    def _stream_layer(self, h: _Handler, resp, headers: list, digest: str) -> None:
        if resp.status not in (200, 206):
            raise Refused(f"Your registry answered a layer request with {resp.status}.")
        kept = [(k, v) for k, v in headers if k == "Content-Range"]
        kept += [("Content-Type", "application/octet-stream"), ("Docker-Content-Digest", digest)]
        length = (resp.getheader("Content-Length") or "").strip()
        fixed = int(length) if _LENGTH_RE.match(length) else None
        kept.append(
            ("Content-Length", str(fixed))
            if fixed is not None
            else ("Transfer-Encoding", "chunked")
        )
        self._head(h, resp.status, kept)
        sent = 0
        while True:
            try:
                block = resp.read(BLOCK)
            except (OSError, http.client.HTTPException) as exc:
                self.refuse(self._broken(exc).message)
                h.close_connection = True
                return
            if not block:
                break
            try:
                self._count(len(block))
            except Refused as exc:
                # Headers are out: the engine sees a cut body, then DENIED.
                self.refuse(exc.message)
                h.close_connection = True
                return
            sent += len(block)
            self._write(h, block if fixed is not None else b"%x\r\n%s\r\n" % (len(block), block))
        if fixed is None:
            self._write(h, b"0\r\n\r\n")
        elif sent != fixed:
            h.close_connection = True

    def _head(self, h: _Handler, status: int, headers: list[tuple[str, str]]) -> None:
        with self._lock:
            if len(self.seen) < 200:
                self.seen.append((h.command, urlsplit(h.path).path, status))
        try:
            h.send_response(status)
            for name, value in headers:
                h.send_header(name, value)
            if h.close_connection:
                h.send_header("Connection", "close")
            h.end_headers()
        except OSError as exc:
            raise _EngineGone() from exc

    def _write(self, h: _Handler, data: bytes) -> None:
        try:
            h.wfile.write(data)
        except OSError as exc:
            raise _EngineGone() from exc

    def _send(self, h: _Handler, answer: _Answer) -> None:
        headers = list(answer.headers)
        if answer.body is not None:
            if answer.body and not any(k == "Content-Type" for k, _ in headers):
                headers.append(("Content-Type", "application/json"))
            headers.append(("Content-Length", str(len(answer.body))))
        self._head(h, answer.status, headers)
        if answer.body and h.command != "HEAD":  # a HEAD answer has no body, only its length
            self._write(h, answer.body)
