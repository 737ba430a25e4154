"""Sandboxes are apart on the network too: own bridge each, names resolve only inside.

alice runs two containers, bob one. alice's containers reach each other by
the names she gave them; nothing of alice's reaches bob's container.
"""

from __future__ import annotations

import pytest

from engine import client
from sandboxes import services
from tests.integration.learners import two_learners

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

PROBE = (
    "import socket, sys\n"
    "s = socket.socket(); s.settimeout(2)\n"
    "try:\n"
    "    s.connect((sys.argv[1], int(sys.argv[2]))); print('open')\n"
    "except OSError as exc:\n"
    "    print('closed', type(exc).__name__)\n"
)
LISTENER = (
    "FROM python:3.12-slim\n"
    'CMD ["python", "-c", "import socket; s = socket.socket(); '
    "s.bind(('0.0.0.0', 5002)); s.listen(); import time; time.sleep(600)\"]\n"
)


@pytest.fixture(scope="module")
def sandboxes(django_db_setup, django_db_blocker):
    with two_learners(django_db_blocker, "isolation") as (_, pair):
        for sandbox in pair:
            events = list(services.build_image(sandbox, "listener", LISTENER))
            assert events[-1]["kind"] == "done", events[-3:]
        services.run_container(pair[0], "listener", name="front")
        services.run_container(pair[0], "listener", name="back")
        services.run_container(pair[1], "listener", name="back")
        yield pair


def _probe(sandbox, container: str, host: str, port: int = 5002) -> str:
    api = client.api()
    engine_id = services.find_container(sandbox, container)["Id"]
    with client.translate_errors():
        exec_id = api.exec_create(engine_id, ["python", "-c", PROBE, host, str(port)])
        return api.exec_start(exec_id).decode().strip()


def _address(sandbox, container: str) -> str:
    data = services.inspect(sandbox, "container", container)
    networks = data["NetworkSettings"]["Networks"]
    assert list(networks) == ["net"]
    return networks["net"]["IPAddress"]


def test_each_sandbox_has_its_own_bridge_network(sandboxes):
    alice, bob = sandboxes
    nets = {
        n["Name"]: n
        for n in client.api().networks(filters={"label": "org.dockerlab.sandbox"})
    }
    for sandbox in sandboxes:
        net = nets[f"dl-{sandbox.sid}-net"]
        assert net["Driver"] == "bridge"
        assert net["Labels"]["org.dockerlab.sandbox"] == sandbox.sid
    assert _address(alice, "back") != _address(bob, "back")


def test_containers_in_one_sandbox_reach_each_other_by_name(sandboxes):
    alice, _ = sandboxes
    assert _probe(alice, "front", "back") == "open"


def test_a_container_cannot_reach_another_sandboxes_container(sandboxes):
    alice, bob = sandboxes
    bobs_address = _address(bob, "back")
    assert _probe(bob, "back", bobs_address) == "open"  # the probe itself works
    assert _probe(alice, "front", bobs_address).startswith("closed")


def test_another_sandboxes_names_do_not_resolve(sandboxes):
    alice, bob = sandboxes
    assert _probe(alice, "front", f"dl-{bob.sid}-back").startswith("closed")
    # `back` inside alice's network is alice's own, never bob's.
    assert _address(alice, "back") != _address(bob, "back")


def test_published_ports_listen_on_loopback_only(sandboxes):
    alice, _ = sandboxes
    raw = client.api().inspect_container(services.find_container(alice, "front")["Id"])
    bindings = raw["NetworkSettings"]["Ports"]["5002/tcp"]
    assert bindings and all(b["HostIp"] == "127.0.0.1" for b in bindings)


def test_a_container_cannot_reach_another_sandboxes_published_port(sandboxes):
    alice, bob = sandboxes
    gateway = services.inspect(alice, "container", "front")["NetworkSettings"][
        "Networks"
    ]["net"]["Gateway"]
    bobs_port = services.published_port(bob, "back")
    assert bobs_port
    assert _probe(alice, "front", gateway, bobs_port).startswith("closed")


def test_the_network_goes_with_the_last_container_and_comes_back(
    django_user_model, django_db_blocker, sandboxes
):
    with django_db_blocker.unblock():
        carol = django_user_model.objects.create_user("carol-isolation")
        sandbox = services.sandbox_for(carol)
    api = client.api()
    try:
        events = list(services.build_image(sandbox, "listener", LISTENER))
        assert events[-1]["kind"] == "done", events[-3:]
        for _ in range(2):
            services.run_container(sandbox, "listener", name="one")
            services.run_container(sandbox, "listener", name="two")
            assert api.networks(names=[sandbox.network])
            services.remove_container(sandbox, "one")
            assert api.networks(names=[sandbox.network])
            services.stop_container(sandbox, "two", timeout=1)
            services.prune(sandbox)
            assert not api.networks(names=[sandbox.network])
    finally:
        services.remove_objects(sandbox.sid)
        with django_db_blocker.unblock():
            carol.delete()
