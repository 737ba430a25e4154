"""engine_status() describes the engine for the home page and never raises."""

import socket
import time

import pytest

from engine import client
from engine.status import engine_status


def _closed_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(params=["missing-socket", "closed-port"])
def engine_down(request, settings, tmp_path):
    if request.param == "missing-socket":
        settings.DOCKERLAB_ENGINE_URL = f"unix://{tmp_path}/no-engine.sock"
    else:
        settings.DOCKERLAB_ENGINE_URL = f"tcp://127.0.0.1:{_closed_loopback_port()}"
    client.reset()
    yield
    client.reset()


def test_an_unreachable_engine_is_reported_quickly_with_a_message(engine_down):
    started = time.monotonic()
    status = engine_status()
    assert time.monotonic() - started < 5
    assert status["reachable"] is False
    assert "not reachable" in status["message"]
    assert status["ready"] is False
    assert status["images"] == []


def test_unexpected_failures_become_a_message_too(monkeypatch):
    def broken(timeout=None):
        raise RuntimeError("boom")

    monkeypatch.setattr(client, "api", broken)
    status = engine_status()
    assert status["reachable"] is False
    assert "could not be read" in status["message"]
