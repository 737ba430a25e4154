"""The live server under abuse a learner can send through the documented socket.

One server process (as `make run` starts it) for the module: a 64 MB frame,
a client that stops reading a flood of long lines. Measured from outside:
the server's resident memory and whether it still answers others. And one
whose log files hold a whole flood, for a client that reads every frame.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import time
import urllib.request

import pytest
from websockets.sync.client import connect

from sandboxes import services
from tests.integration.live import live_server, sign_up, ws_headers

pytestmark = pytest.mark.integration

MB = 1024 * 1024


@pytest.fixture(scope="module")
def live():
    with live_server() as server:
        yield server


@pytest.fixture(scope="module")
def session(live):
    """A learner of the live server; their sandbox leaves the engine afterwards."""
    session = sign_up(live.url, f"frames-{os.getpid()}")
    yield session
    with connect(f"ws://127.0.0.1:{live.port}/ws/lab/",
                 additional_headers=ws_headers(live, session), open_timeout=10) as ws:
        sid = json.loads(ws.recv(timeout=10))["sandbox"]
    services.remove_objects(sid)


def _handshake(live, session) -> socket.socket:
    """A raw websocket connection to /ws/lab/, past the server's hello."""
    sock = socket.create_connection(("127.0.0.1", live.port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            "GET /ws/lab/ HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{live.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: {live.url}\r\nCookie: sessionid={session}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    opcode, payload = _read_frame(sock)
    assert opcode == 1 and json.loads(payload)["type"] == "hello"
    return sock


def _read_frame(sock: socket.socket) -> tuple[int, bytes]:
    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    first, second = exactly(2)
    length = second & 0x7F
    if length == 126:
        length = struct.unpack("!H", exactly(2))[0]
    elif length == 127:
        length = struct.unpack("!Q", exactly(8))[0]
    return first & 0x0F, exactly(length)


def _frame_header(length: int, mask: bytes) -> bytes:
    return bytes([0x81, 0x80 | 127]) + struct.pack("!Q", length) + mask


def test_a_64_mb_frame_is_refused_by_the_protocol_layer_and_others_are_served(live, session):
    sock = _handshake(live, session)
    before = live.rss_kb()
    size = 64 * MB
    sock.sendall(_frame_header(size, b"\x01\x02\x03\x04"))
    # The refusal comes on the header: nothing like 64 MB has to arrive first.
    sock.sendall(b"x" * (256 * 1024))
    opcode, payload = _read_frame(sock)
    assert opcode == 8
    code = struct.unpack("!H", payload[:2])[0]
    assert code == 1009
    assert b"exceeds payload limit" in payload[2:]
    # The rest of the frame goes nowhere: the server discards what still
    # arrives during its closing handshake (how much depends on the machine's
    # speed), keeps none of it, and drops the connection.
    sent = 256 * 1024
    sock.settimeout(30)
    try:
        while sent < size:
            sock.sendall(b"x" * MB)
            sent += MB
        dropped = sock.recv(1) == b""
    except TimeoutError:
        dropped = False
    except OSError:
        dropped = True
    assert dropped, "the server kept the connection open after refusing the frame"
    sock.close()
    grown_mb = (live.rss_kb() - before) / 1024
    assert grown_mb < 16, f"the server grew by {grown_mb:.1f} MB"
    # Others are served as before: a page, and another socket.
    with urllib.request.urlopen(live.url + "/lessons/", timeout=10) as page:
        assert page.status == 200
    with connect(f"ws://127.0.0.1:{live.port}/ws/lab/",
                 additional_headers=ws_headers(live, session), open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"
        ws.send(json.dumps({"action": "unfollow", "stream": "l9", "ref": "alive"}))
        assert json.loads(ws.recv(timeout=10))["code"] == "not_found"


def test_a_frame_just_over_the_labs_limit_gets_an_error_and_the_socket_stays(live, session):
    with connect(f"ws://127.0.0.1:{live.port}/ws/lab/",
                 additional_headers=ws_headers(live, session), open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"
        ws.send(json.dumps({"action": "build", "dockerfile": "x" * 100_000}))
        error = json.loads(ws.recv(timeout=10))
        assert error["code"] == "too_large"
        ws.send(json.dumps({"action": "unfollow", "stream": "l9"}))
        assert json.loads(ws.recv(timeout=10))["code"] == "not_found"


FLOOD = (
    "python -c \"import itertools, sys; "
    "[sys.stdout.write('z' * 16383 + chr(10)) for _ in itertools.count()]\""
)


def test_a_client_that_stops_reading_a_flood_leaves_the_server_bounded(live, session):
    """16 KiB lines as fast as a container prints them, to a client that reads nothing."""
    socket_options = connect(
        f"ws://127.0.0.1:{live.port}/ws/lab/",
        additional_headers=ws_headers(live, session),
        open_timeout=10,
        max_queue=1,  # the client library stops reading its socket at once
        max_size=None,
    )
    container = None
    with socket_options as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"
        ws.send(json.dumps({"action": "run", "ref": "run", "image": "python:3.12-slim",
                            "command": FLOOD}))
        while True:
            frame = json.loads(ws.recv(timeout=60))
            assert frame["type"] != "error", frame
            if frame["type"] == "result":
                container = frame["data"]["name"]
                break
        while frame["type"] != "state":
            frame = json.loads(ws.recv(timeout=30))
        before = live.rss_kb()
        ws.send(json.dumps({"action": "logs", "container": container, "tail": 0}))
        # From here on the client reads nothing.
        peak = before
        for _ in range(30):
            time.sleep(0.5)
            peak = max(peak, live.rss_kb())
        grown_mb = (peak - before) / 1024
        print(f"server RSS grew by {grown_mb:.1f} MB with a client not reading a flood")
        # The outbox is 1 MiB; the server has a few of them in flight at most.
        assert grown_mb < 48, f"the server grew by {grown_mb:.1f} MB"
    # The server is still there for others.
    with urllib.request.urlopen(live.url + "/lessons/", timeout=10) as page:
        assert page.status == 200


@pytest.fixture
def roomy_live():
    """A live server whose containers' log files do not rotate under 64 MB."""
    with live_server(DOCKERLAB_CONTAINER_LOG_MAX_SIZE="64m") as server:
        yield server


FLOOD_LINES = 2000
NUMBERED_FLOOD = (
    "python -c \"import sys, time; time.sleep(3); "
    f"[sys.stdout.write('%08d ' % i + 'z' * 16374 + chr(10)) for i in range({FLOOD_LINES})]; "
    "sys.stdout.flush(); time.sleep(600)\""
)


def test_a_client_reading_a_flood_gets_every_frame_whole_and_in_order(roomy_live):
    """32 MB of 16 KiB lines as fast as a container prints them, to a client
    that reads: frames are larger than the kernel takes at once, so the server
    writes what it takes and queues the rest (dockerlab.serve.write_through).
    No frame may be cut, interleaved with another or reordered, and every line
    arrives or is counted as skipped."""
    live = roomy_live
    session = sign_up(live.url, f"flood-{os.getpid()}")
    with connect(f"ws://127.0.0.1:{live.port}/ws/lab/",
                 additional_headers=ws_headers(live, session), open_timeout=10,
                 max_size=None) as ws:
        sid = json.loads(ws.recv(timeout=10))["sandbox"]
        try:
            ws.send(json.dumps({"action": "run", "ref": "run", "image": "python:3.12-slim",
                                "command": NUMBERED_FLOOD}))
            frame = json.loads(ws.recv(timeout=60))
            while frame["type"] != "result":
                assert frame["type"] != "error", frame
                frame = json.loads(ws.recv(timeout=60))
            # The container waits 3 s before printing: the follow is open by then.
            ws.send(json.dumps({"action": "logs", "container": frame["data"]["name"],
                                "tail": 0}))
            last, lines, skipped = -1, 0, 0
            while lines + skipped < FLOOD_LINES:
                frame = json.loads(ws.recv(timeout=30))  # a cut frame fails to parse
                assert frame["type"] not in ("error", "logs.end"), frame
                if frame["type"] != "output":
                    continue
                skipped += frame["skipped"]
                for line in frame["lines"]:
                    number, rest = line.split(" ")
                    assert rest == "z" * 16374, "a line arrived changed"
                    # Lines the outbox dropped are counted, never reordered or repeated.
                    assert int(number) > last, (number, last)
                    last = int(number)
                    lines += 1
            assert lines + skipped == FLOOD_LINES and last == FLOOD_LINES - 1
        finally:
            services.remove_objects(sid)
    print(f"read {lines} lines of 16 KiB whole and in order, {skipped} counted as skipped")
