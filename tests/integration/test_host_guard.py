"""Sandbox containers cannot reach the host's own services, tried as an attacker would.

The test listens on every address of the host (0.0.0.0) and a learner's
container tries its bridge's gateway, which is the host. The host guard that
scripts/engine-up.sh installs (as root, on a local engine) refuses that,
while the learner's app still answers through its published loopback port
and containers of one sandbox still reach each other by name. A container
on an ordinary bridge network (not a sandbox's) reaches the same listener,
so it is the guard that makes the difference.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from engine import client
from sandboxes import services
from sandboxes.services.common import BRIDGE_NAME_OPTION, bridge_name
from tests.integration.learners import two_learners

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

TEST_LABEL = "org.dockerlab.test-host-guard"
PROBE = (
    "import socket, sys\n"
    "s = socket.socket(); s.settimeout(3)\n"
    "try:\n"
    "    s.connect((sys.argv[1], int(sys.argv[2])))\n"
    "except OSError as exc:\n"
    "    sys.exit(print('closed', type(exc).__name__))\n"
    "s.settimeout(1)\n"
    "try:\n"
    "    said = s.recv(16).decode()\n"
    "except OSError:\n"
    "    said = ''\n"
    "print('open', said)\n"
)


@pytest.fixture(scope="module")
def host_service():
    """A TCP server on every address of the host; answers 'host' to whoever connects."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", 0))
    server.listen(16)
    server.settimeout(0.5)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(b"host")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(5)
    server.close()


@pytest.fixture(scope="module")
def sandboxes(django_db_setup, django_db_blocker):
    with two_learners(django_db_blocker, "guard") as (_, pair):
        alice = pair[0]
        services.run_container(
            alice, "python:3.12-slim", name="app", port=5002,
            command="python -m http.server 5002",
        )
        services.run_container(
            alice, "python:3.12-slim", name="attacker", port=None, command="sleep 600"
        )
        yield pair


@pytest.fixture(scope="module")
def outsider(host_service):
    """A container on an ordinary bridge network of the test's own (not a sandbox's)."""
    api = client.api()
    labels = {TEST_LABEL: "1"}
    network = api.create_network(f"dl-guard-test-{host_service}", labels=labels)["Id"]
    container = api.create_container(
        "python:3.12-slim", command=["sleep", "600"], labels=labels,
        host_config=api.create_host_config(network_mode=network),
    )["Id"]
    api.start(container)
    try:
        yield container
    finally:
        with contextlib.suppress(client.EngineError), client.translate_errors():
            api.remove_container(container, force=True)
            api.remove_network(network)


def _run(container_id: str, *argv: str) -> str:
    api = client.api()
    with client.translate_errors():
        exec_id = api.exec_create(container_id, list(argv))
        return api.exec_start(exec_id).decode().strip()


def _probe(container_id: str, host: str, port: int) -> str:
    return _run(container_id, "python", "-c", PROBE, host, str(port))


def _gateway(container_id: str) -> str:
    settings = client.api().inspect_container(container_id)["NetworkSettings"]
    (network,) = settings["Networks"].values()
    return network["Gateway"]


def _id(sandbox, name: str) -> str:
    return services.find_container(sandbox, name)["Id"]


def test_sandbox_networks_have_a_bridge_named_for_the_guard(sandboxes):
    alice, _ = sandboxes
    (net,) = client.api().networks(names=[alice.network])
    assert net["Options"][BRIDGE_NAME_OPTION] == bridge_name(alice) == f"dl-{alice.sid}"
    assert Path(f"/sys/class/net/dl-{alice.sid}").exists()


def test_a_sandbox_container_cannot_reach_a_host_service_through_its_gateway(
    sandboxes, host_service, outsider
):
    alice, _ = sandboxes
    attacker = _id(alice, "attacker")
    # The listener answers, from the host and from an unguarded bridge.
    with socket.create_connection(("127.0.0.1", host_service), timeout=3) as conn:
        assert conn.recv(16) == b"host"
    assert _probe(outsider, _gateway(outsider), host_service) == "open host"

    verdict = _probe(attacker, _gateway(attacker), host_service)

    assert verdict.startswith("closed"), (
        f"{verdict}: a sandbox container reached the host. Is the host guard in "
        "place? scripts/engine-up.sh installs it when run as root."
    )
    # Nor through the host's address on the outsider's bridge.
    assert _probe(attacker, _gateway(outsider), host_service).startswith("closed")


def test_the_sandboxes_app_still_answers_on_its_published_loopback_port(sandboxes):
    alice, _ = sandboxes
    port = services.published_port(alice, "app")
    deadline = time.monotonic() + 20
    while True:
        try:
            url = f"http://127.0.0.1:{port}/"
            with urllib.request.urlopen(url, timeout=3) as reply:
                assert reply.status == 200
                break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def test_containers_of_one_sandbox_still_reach_each_other_by_name(sandboxes):
    alice, _ = sandboxes
    deadline = time.monotonic() + 20
    while (verdict := _probe(_id(alice, "attacker"), "app", 5002)) != "open":
        assert time.monotonic() < deadline, verdict
        time.sleep(0.3)


def test_an_older_network_without_a_named_bridge_is_made_again_once_idle(sandboxes):
    _, bob = sandboxes
    api = client.api()
    old = api.create_network(bob.network, driver="bridge", labels=bob.labels())["Id"]
    holder = api.create_container(
        "python:3.12-slim", command=["sleep", "60"], labels=bob.labels(),
        name=f"dl-{bob.sid}-holder",
        host_config=api.create_host_config(network_mode=bob.network),
    )["Id"]

    services.ensure_network(bob)
    (kept,) = api.networks(names=[bob.network])
    assert kept["Id"] == old  # a container still holds it

    api.remove_container(holder, force=True)
    services.ensure_network(bob)
    (made,) = api.networks(names=[bob.network])
    assert made["Id"] != old
    assert made["Options"][BRIDGE_NAME_OPTION] == f"dl-{bob.sid}"
