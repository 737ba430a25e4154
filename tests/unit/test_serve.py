"""dockerlab.serve's write path: frames go to the socket at once, in order.

A real Twisted TCP connection over a socket pair; the reactor is not run, so
what reaches the other end without it was written through.
"""

from __future__ import annotations

import socket

import daphne.server  # noqa: F401 - installs the asyncio reactor Daphne serves with
import pytest
from twisted.internet import reactor, tcp
from twisted.internet.protocol import Protocol

from dockerlab.serve import unsent_bytes, write_through


class _Held:
    def __init__(self, transport):
        self.transport = transport


@pytest.fixture
def pair():
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    theirs.settimeout(2)
    transport = tcp.Connection(ours, Protocol(), reactor)
    transport.connected = 1
    yield transport, theirs
    ours.close()
    theirs.close()


def _read_all(transport, theirs: socket.socket, size: int) -> bytes:
    """Read `size` bytes, letting Twisted send its buffer as the reactor would."""
    theirs.setblocking(False)
    got = bytearray()
    while len(got) < size:
        if unsent_bytes(_Held(transport)):
            transport.doWrite()
        try:
            chunk = theirs.recv(1 << 20)
        except BlockingIOError:
            continue
        assert chunk, "the connection closed early"
        got += chunk
    return bytes(got)


def test_a_write_with_nothing_waiting_reaches_the_peer_without_the_loop(pair):
    transport, theirs = pair
    assert write_through(transport)
    transport.write(b'{"type": "output"}')
    assert theirs.recv(100) == b'{"type": "output"}'
    assert unsent_bytes(_Held(transport)) == 0


def test_what_the_kernel_does_not_take_is_buffered_and_later_writes_queue_behind_it(pair):
    transport, theirs = pair
    write_through(transport)
    big = bytes(range(256)) * (32 * 1024)  # 8 MiB, far more than a socket buffer
    transport.write(big)
    left = unsent_bytes(_Held(transport))
    assert 0 < left < len(big)
    transport.write(b"after")
    # Nothing jumped the queue: "after" waits behind the rest of `big`.
    assert unsent_bytes(_Held(transport)) == left + len(b"after")
    assert _read_all(transport, theirs, len(big) + 5) == big + b"after"


def test_a_write_to_a_connection_whose_peer_left_does_not_raise(pair):
    transport, theirs = pair
    write_through(transport)
    theirs.close()
    transport.write(b"x" * 1000)
    transport.write(b"y")  # buffered for Twisted, which finds the connection lost


def test_a_closing_connection_writes_through_twisted(pair):
    transport, theirs = pair
    write_through(transport)
    transport.disconnecting = 1
    transport.write(b"bye")
    assert unsent_bytes(_Held(transport)) == 3


def test_only_plain_tcp_connections_are_changed(pair):
    transport, _ = pair
    transport.TLS = True
    assert not write_through(transport)
    assert not write_through(object())


class _Producer:
    def __init__(self):
        self.paused = 0

    def pauseProducing(self):
        self.paused += 1

    def resumeProducing(self):
        self.paused -= 1

    def stopProducing(self):
        pass


def test_a_websocket_upgraded_from_http_keeps_its_streaming_producer_and_writes_through(pair):
    # Daphne's HTTP channel stays the producer of an upgraded connection.
    transport, theirs = pair
    write_through(transport)
    transport.registerProducer(_Producer(), True)
    transport.write(b"frame")
    assert theirs.recv(100) == b"frame"


def test_a_paused_or_pull_producer_keeps_writes_in_the_buffer(pair):
    transport, _ = pair
    write_through(transport)
    transport.registerProducer(_Producer(), True)
    transport.producerPaused = True
    transport.write(b"one")
    assert unsent_bytes(_Held(transport)) == 3
    transport.unregisterProducer()
    transport.dataBuffer, transport._tempDataBuffer, transport._tempDataLen = b"", [], 0
    transport.registerProducer(_Producer(), False)
    transport.write(b"two")
    assert unsent_bytes(_Held(transport)) == 3
