"""Serve dockerlab under Daphne, set up for clients that may be hostile.

    python -m dockerlab.serve -b 127.0.0.1 -p 8000 [more daphne options]

`make run` (scripts/serve.sh) and the test servers start the site this way.
What it adds to plain `daphne dockerlab.asgi:application`:

- A websocket frame or message over MAX_MESSAGE_BYTES is refused by the
  protocol layer (autobahn) as soon as its header announces the length,
  before any of its payload is kept: the server answers with close code 1009
  (message too big) and a reason, then drops the connection. Without this a
  frame is read whole (up to Daphne's default of 1 MiB) before the lab's own
  96 KiB check sees it.
- That limit is for what clients send. Autobahn applies the message limit to
  what the server sends too, and refuses a frame over it: a log frame of a
  few long lines (more than 128 KiB) would fail, and with it every later
  frame of the socket. The server's own frames are not limited
  (LabWebSocketProtocol); the lab bounds them itself (a socket's outbox).
- A send to a client waits while that connection has more than HIGH_WATER
  bytes not yet taken by the client. Twisted would otherwise buffer without
  bound for a client that stopped reading; with it, a socket's outbox
  (sandboxes.streaming.OutboundQueue) fills, drops and counts instead.
- A frame to a websocket whose connection has nothing waiting to be sent is
  written to the socket at once (`write_through`). Twisted would buffer it,
  register the socket for writing and send it on the loop's next turn, then
  unregister it: two selector changes and a loop turn per frame, which was a
  third of the server's loop time with 500 log streams. What the kernel does
  not take at once is handed to Twisted's buffer as before, so frames keep
  their order and the back-pressure below still sees every unsent byte.
- With DOCKERLAB_PROXY_HEADERS, the client address (used by the sign-up and
  sign-in limits) and scheme come from X-Forwarded-For / -Proto.
"""

from __future__ import annotations

import asyncio
import os
import sys
from functools import partial
from typing import Any

from daphne.cli import CommandLineInterface
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol
from twisted.internet import tcp

APPLICATION = "dockerlab.asgi:application"
# Above the lab's own 96 KiB check (sandboxes.consumers.MAX_FRAME_CHARS), so
# that frames a little over it get the friendlier "too_large" error frame.
MAX_MESSAGE_BYTES = 128 * 1024
# Unsent bytes on one connection before sends to it wait, and how often to look.
HIGH_WATER = 256 * 1024
DRAIN_POLL = 0.02


def unsent_bytes(protocol: Any) -> int:
    """Bytes written to a connection that the client has not taken yet.

    Reads Twisted's TCP transport buffer; 0 for a transport it does not know
    (then sends never wait).
    """
    transport = getattr(protocol, "transport", None)
    buffered = getattr(transport, "dataBuffer", None)
    if not isinstance(buffered, bytes):
        return 0
    return len(buffered) - getattr(transport, "offset", 0) + getattr(transport, "_tempDataLen", 0)


def _producer_waits(transport: Any) -> bool:
    """Whether a producer of the connection waits for its buffer to drain.

    Daphne's HTTP channel stays registered as a streaming producer of a
    connection upgraded to a websocket; while it is not paused, a write that
    skips the buffer changes nothing for it. A pull producer is asked for
    more each time the buffer drains, so its writes keep to the buffer.
    """
    if transport.producer is None:
        return False
    return not transport.streamingProducer or transport.producerPaused


def write_through(transport: Any) -> bool:
    """Make `transport` send a write at once when nothing is waiting before it.

    Applies to a plain TCP connection of Twisted's (not TLS); returns whether
    it did. A write goes to the socket itself only while the connection is
    open and nothing waits in its buffer; the part the kernel does not take
    (all of it, on an error, so that Twisted notices the connection's end its
    own way) goes through Twisted's buffered write.
    """
    if not isinstance(transport, tcp.Connection) or getattr(transport, "TLS", False):
        return False
    buffered_write = transport.write

    def write(data: bytes) -> None:
        if (
            transport.connected
            and not transport.disconnecting
            and not transport._writeDisconnected
            and not _producer_waits(transport)
            and not transport._tempDataLen
            and transport.offset == len(transport.dataBuffer)
            and isinstance(data, bytes)
        ):
            try:
                sent = transport.socket.send(data)
            except OSError:  # full (Twisted waits), or gone (Twisted finds out)
                sent = 0
            data = data[sent:]
        if data:
            buffered_write(data)

    transport.write = write
    return True


class LabWebSocketProtocol(WebSocketProtocol):
    """Daphne's websocket protocol; the message limit holds for what clients send."""

    def sendMessage(self, *args: Any, **kwargs: Any) -> None:  # noqa: N802 - autobahn's name
        # Autobahn checks maxMessagePayloadSize before sending as well. Sending
        # is synchronous and reads nothing, so the limit is lifted only while
        # this frame is written.
        limit, self.maxMessagePayloadSize = self.maxMessagePayloadSize, 0
        try:
            super().sendMessage(*args, **kwargs)
        finally:
            self.maxMessagePayloadSize = limit


class LabServer(Server):
    """Daphne's server with the lab's websocket limits and send back-pressure."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs["websocket_max_message_size"] = MAX_MESSAGE_BYTES
        kwargs["websocket_max_frame_size"] = MAX_MESSAGE_BYTES
        kwargs["ready_callable"] = partial(self._configure, kwargs.get("ready_callable"))
        super().__init__(*args, **kwargs)

    def _configure(self, then) -> None:
        # Called by Server.run once the websocket factory exists, before any
        # connection. Refusing a frame then sends a close frame with the code
        # and reason instead of only dropping the connection.
        self.ws_factory.setProtocolOptions(failByDrop=False)
        self.ws_factory.protocol = LabWebSocketProtocol
        if then is not None:
            then()

    def protocol_connected(self, protocol: Any) -> None:
        super().protocol_connected(protocol)
        if isinstance(protocol, WebSocketProtocol):
            write_through(protocol.transport)

    def _gone(self, protocol: Any) -> bool:
        state = self.connections.get(protocol)
        return state is None or "disconnected" in state

    async def handle_reply(self, protocol: Any, message: dict) -> None:
        await super().handle_reply(protocol, message)
        if message.get("type") in ("websocket.close", "http.response.start"):
            return
        while unsent_bytes(protocol) > HIGH_WATER and not self._gone(protocol):
            await asyncio.sleep(DRAIN_POLL)


class LabCommandLine(CommandLineInterface):
    server_class = LabServer


def arguments(argv: list[str], proxy_headers: bool) -> list[str]:
    """Daphne's arguments: the given options, ours, then the application."""
    args = [arg for arg in argv if arg != APPLICATION]
    if proxy_headers and "--proxy-headers" not in args:
        args.append("--proxy-headers")
    return [*args, APPLICATION]


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dockerlab.settings")
    from django.conf import settings  # deferred: the settings module is chosen above

    args = arguments(sys.argv[1:] if argv is None else argv, settings.DOCKERLAB_PROXY_HEADERS)
    LabCommandLine().run(args)


if __name__ == "__main__":
    main()
