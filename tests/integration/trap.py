"""An HTTP server on the host's loopback that counts whoever reaches it.

A build that fetched from it (ADD http://127.0.0.1:PORT/...) or connected to
it (a RUN step with a network) would show up in `connections`.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        self.server.requests.append(self.path)
        body = b"<html>lessons</html>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[str] = []
        self.connections = 0

    def verify_request(self, request, client_address) -> bool:
        self.connections += 1
        return True


class Trap:
    """`with Trap() as trap:`, then `trap.port`, `.connections`, `.requests`."""

    def __enter__(self) -> Trap:
        self._server = _Server()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def connections(self) -> int:
        return self._server.connections

    @property
    def requests(self) -> list[str]:
        return list(self._server.requests)
