"""The lab websocket from a test: a learner's socket, and frames until one is wanted."""

from __future__ import annotations

import time
from collections.abc import Callable

from channels.testing import WebsocketCommunicator

from sandboxes.consumers import LabConsumer


async def open_lab_socket(user) -> WebsocketCommunicator:
    """`user`'s lab socket, connected, past its `hello` (which names the sandbox)."""
    communicator = WebsocketCommunicator(LabConsumer.as_asgi(), "/ws/lab/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    hello = await communicator.receive_json_from(timeout=10)
    assert hello["type"] == "hello" and hello["sandbox"], hello
    return communicator


async def frames_until(
    communicator: WebsocketCommunicator,
    predicate: Callable[[dict], bool],
    timeout: float = 60.0,
    errors_ok: bool = False,
) -> list[dict]:
    """Frames received until (and including) the first one matching `predicate`;
    an `error` frame on the way fails the test unless `errors_ok`."""
    frames = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"timed out; got {[f['type'] for f in frames[-10:]]}"
        frame = await communicator.receive_json_from(timeout=left)
        frames.append(frame)
        assert errors_ok or frame["type"] != "error", frame
        if predicate(frame):
            return frames
