"""A container answers HTTP, asked the way the app proxy asks it.

Like sandboxes/proxy.py, the check finds the container in the learner's
sandbox (by label), takes the loopback port the engine published for the
container port, and connects to 127.0.0.1 there: host and port never come
from the parameters. One GET is sent, as opening the app would (the sample
app counts it as a visit).
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from typing import Any

from checks.base import define, failed, passed
from checks.context import Context
from checks.schema import ContainerName, HttpPath, Integer, Port, Seconds, Text
from checks.vocabulary.helpers import quoted
from engine import client
from sandboxes.services.containers import published_here

MAX_BODY = 64 * 1024
RETRY = 0.2
# Connections that say "nothing listens there (yet)", through the engine's port proxy too.
_NOT_LISTENING = (ConnectionRefusedError, ConnectionResetError, http.client.RemoteDisconnected)


def _describe(p: dict[str, Any]) -> str:
    text = f"{p['container']} answers {p['path']} on port {p['port']} with {p['status']}"
    if "text" in p:
        text += f" and {quoted(p['text'])}"
    return text


def _host_port(found: dict, port: int) -> int | None:
    for entry in found.get("Ports") or []:
        if (
            entry.get("PrivatePort") == port
            and entry.get("PublicPort")
            and published_here(entry)
        ):
            return int(entry["PublicPort"])
    return None


def _get(host_port: int, path: str, end: float) -> tuple[int, bytes]:
    """One GET to 127.0.0.1:host_port, over by `end` (time.monotonic()) whatever the app does.

    Each read also times out at `end`, but an app dripping a byte at a time
    would pass that; so at `end` the socket is shut down under the read and
    the answer counts as a timeout.
    """
    left = end - time.monotonic()
    # Where the sandbox's engine publishes ports (engine/pool.py): 127.0.0.1
    # for an engine on this machine.
    host = client.publish_host()
    connection = http.client.HTTPConnection(host, host_port, timeout=max(0.2, left))
    cut = threading.Event()

    def expire() -> None:
        cut.set()
        if connection.sock is not None:
            with contextlib.suppress(OSError):
                connection.sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(max(0.0, left), expire)
    timer.daemon = True
    timer.start()
    try:
        connection.request(
            "GET", path, headers={"Host": f"{host}:{host_port}", "Connection": "close"}
        )
        response = connection.getresponse()
        body = response.read(MAX_BODY)
        if cut.is_set():
            raise TimeoutError("the answer took too long")
        return response.status, body
    except (OSError, http.client.HTTPException):
        if cut.is_set():
            raise TimeoutError("the answer took too long") from None
        raise
    finally:
        timer.cancel()
        connection.close()


@define(
    "http_answers",
    summary="An app in a container answers an HTTP GET with a status (and a text), reached "
    "like the site's app proxy reaches it.",
    params={
        "container": ContainerName(required=True, doc="the container running the app"),
        "port": Port(default=5002, doc="the container port the app listens on"),
        "path": HttpPath(default="/", doc="the path to ask for"),
        "status": Integer(minimum=100, maximum=599, default=200, doc="the HTTP status wanted"),
        "text": Text(max_chars=200, doc="a text the answer must contain"),
        "timeout": Seconds(
            minimum=1, maximum=30, default=8, doc="how long the app may take to start answering"
        ),
    },
    describe=_describe,
    budget=lambda p: p["timeout"] + 2,
)
def http_answers(ctx: Context, p: dict[str, Any]):
    name, port = p["container"], p["port"]
    found = ctx.container(name)
    if found is None:
        return failed(
            f"There is no container called {name} in your sandbox.",
            f"Start it with docker run --name {name} -p 127.0.0.1:{port}:{port} ...",
        )
    if found.get("State") != "running":
        return failed(
            f"{name} is not running ({found.get('Status') or found.get('State')}), so nothing answers.",
            f"See why in its logs: docker logs {name}",
        )
    host_port = _host_port(found, port)
    if host_port is None:
        return failed(
            f"{name} publishes no port {port}, so nothing outside it can reach the app.",
            f"Remove it and start it again with -p 127.0.0.1:{port}:{port}.",
        )
    end = time.monotonic() + ctx.remaining(p["timeout"])
    while True:
        try:
            status, body = _get(host_port, p["path"], end)
            break
        except _NOT_LISTENING:
            if time.monotonic() + RETRY >= end:
                return failed(
                    f"Nothing answers on port {port} inside {name}: is the app listening on "
                    "0.0.0.0?",
                    "An app that listens on 127.0.0.1 inside its container cannot be reached "
                    f"from outside it. If it is still starting, wait and check again; its logs "
                    f"say what it does: docker logs {name}",
                )
            time.sleep(RETRY)
        except TimeoutError:
            return failed(
                f"{name} took the connection on port {port} but did not answer within "
                f"{p['timeout']:.0f} s.",
                f"Is the app busy or stuck? Its logs may say: docker logs {name}",
                timed_out=True,
            )
        except (OSError, http.client.HTTPException) as exc:
            return failed(f"{name} did not answer HTTP on port {port} ({type(exc).__name__}).")
    text = body.decode("utf-8", "replace")
    if status != p["status"]:
        return failed(
            f"{name} answered {status}, not {p['status']}: {quoted(text)}.",
            f"Its logs may say why: docker logs {name}",
        )
    if "text" in p and p["text"] not in text:
        return failed(
            f"{name} answered {status}, but without {quoted(p['text'])}: it said {quoted(text)}.",
            "Is this the app you meant to run there?",
        )
    return passed(f"{name} answers on port {port}: {quoted(text)}.")
