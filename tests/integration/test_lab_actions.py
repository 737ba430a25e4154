"""Networks, exec, history, restart, volume prune and build --target on the real engine.

Each is driven as a learner's line is: parsed by sandboxes.commands and done
by sandboxes.runner with the services. Two learners share the engine; what
one makes is never found by the other, by any name or id.
"""

from __future__ import annotations

import time

import pytest
from django.test import override_settings

from engine import client
from sandboxes import services
from sandboxes.commands import parse_line
from sandboxes.errors import BadRequest, NotInSandbox, QuotaExceeded, SandboxError
from sandboxes.runner import Outcome, run_line
from sandboxes.services import compose, containers, layers, networks
from sandboxes.services.exec import exec_command
from tests.integration.learners import two_learners

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture(scope="module")
def learners(django_db_setup, django_db_blocker):
    with two_learners(django_db_blocker, "labactions") as (_, sandboxes):
        yield sandboxes


def do(sandbox, line: str) -> list[Outcome]:
    return [outcome for _, outcome in run_line(sandbox, parse_line(line))]


def ok(sandbox, line: str) -> Outcome:
    outcomes = do(sandbox, line)
    assert all(o.ok for o in outcomes), (line, outcomes)
    return outcomes[-1]


def test_two_containers_on_a_network_of_their_own_reach_each_other_by_name(learners):
    alice, bob = learners
    ok(alice, "docker network create talk")
    engine_net = client.api().inspect_network(f"dl-{alice.sid}-talk")
    # Labelled like everything else, and on a bridge the host guard covers.
    assert engine_net["Labels"]["org.dockerlab.sandbox"] == alice.sid
    bridge = engine_net["Options"]["com.docker.network.bridge.name"]
    assert bridge.startswith(f"dl-{alice.sid}") and len(bridge) <= 15

    ok(alice, "docker run -d --name server --network talk python:3.12-slim "
              "python -m http.server 8000")
    ok(alice, "docker run -d --name other python:3.12-slim sleep 300")
    # `other` is on the sandbox's default network only: the name does not resolve.
    probe = ("python -c \"import urllib.request as u, time; time.sleep(2); "
             "print(u.urlopen('http://server:8000/').status)\"")
    missing = do(alice, f"docker exec other {probe}")[-1]
    assert not missing.ok and missing.exit_code == 1, missing
    ok(alice, "docker network connect talk other")
    reached = ok(alice, f"docker exec other {probe}")
    assert reached.output.strip().endswith("200"), reached

    rows = {row["name"]: row for row in networks.list_networks(alice)["networks"]}
    assert rows["talk"]["containers"] == ["other", "server"]
    assert {"bridge", "host", "none"} <= set(rows)
    data = networks.inspect_network(alice, "talk")
    assert data["Name"] == "talk" and f"dl-{alice.sid}" not in str(data)

    # Removing a network in use is refused; after disconnecting and removing, it is gone.
    busy = do(alice, "docker network rm talk")[-1]
    assert not busy.ok and busy.code == "conflict", busy
    ok(alice, "docker network disconnect talk other")
    ok(alice, "docker rm -f server")
    ok(alice, "docker network rm talk")
    with pytest.raises(NotInSandbox):
        networks.find_network(alice, "talk")
    ok(alice, "docker rm -f other")


def test_network_none_has_no_route_and_host_is_refused(learners):
    alice, _ = learners
    outcome = ok(
        alice,
        "docker run --rm --network none python:3.12-slim python -c "
        "\"import socket; s = socket.socket(); s.settimeout(2); "
        "print(s.connect_ex(('1.1.1.1', 53)))\"",
    )
    # ENETUNREACH: no interface but loopback, so no route anywhere.
    assert outcome.output.strip() == "101", outcome
    addresses = ok(alice, "docker run --rm --network none python:3.12-slim "
                          "python -c \"import socket; print(socket.if_nameindex())\"")
    assert "'lo'" in addresses.output and "eth0" not in addresses.output
    with pytest.raises(BadRequest, match="server's own network"):
        services.run_container(alice, "python:3.12-slim", command="true", port=None,
                               network="host")


def test_another_learners_network_is_not_found_by_any_name_or_id(learners):
    alice, bob = learners
    ok(alice, "docker network create secret-net")
    engine_name = f"dl-{alice.sid}-secret-net"
    net_id = client.api().inspect_network(engine_name)["Id"]
    for ref in ("secret-net", net_id, net_id[:12], engine_name):
        with pytest.raises((NotInSandbox, SandboxError)):
            networks.find_network(bob, ref)
        with pytest.raises((NotInSandbox, SandboxError)):
            networks.inspect_network(bob, ref)
    ok(bob, "docker run -d --name spy python:3.12-slim sleep 60")
    for ref in ("secret-net", net_id[:12]):
        outcome = do(bob, f"docker network connect {ref} spy")[-1]
        assert not outcome.ok, outcome
        refused = do(bob, f"docker run -d --name in --network {ref} python:3.12-slim sleep 5")
        assert not refused[-1].ok and refused[-1].code == "not_found", refused
    assert do(bob, "docker network rm secret-net")[-1].code == "not_found"
    assert "spy" not in networks.network_view(alice, client.api().inspect_network(net_id))[
        "containers"
    ]
    # Bob's containers cannot even resolve alice's names: his default network is his own.
    ok(alice, "docker run -d --name hidden --network secret-net python:3.12-slim sleep 60")
    lookup = do(bob, "docker exec spy python -c \"import socket; socket.gethostbyname('hidden')\"")
    assert not lookup[-1].ok
    ok(bob, "docker rm -f spy")
    ok(alice, "docker rm -f hidden")
    ok(alice, "docker network rm secret-net")


def test_a_sandbox_holds_at_most_its_quota_of_networks(learners):
    alice, _ = learners
    with override_settings(DOCKERLAB_MAX_NETWORKS=2):
        ok(alice, "docker network create one")
        ok(alice, "docker network create two")
        with pytest.raises(QuotaExceeded):
            networks.create_network(alice, "three")
        with pytest.raises(SandboxError, match="already exists"):
            networks.create_network(alice, "one")
        ok(alice, "docker network rm one two")
    for name in ("bridge", "host", "none", "net"):
        with pytest.raises(SandboxError):
            networks.create_network(alice, name)


def test_exec_prints_gives_the_exit_code_and_is_bounded(learners):
    alice, bob = learners
    ok(alice, "docker run -d --name box -e GREETING=hello python:3.12-slim sleep 300")
    env = ok(alice, "docker exec box env")
    assert "GREETING=hello" in env.output
    failing = do(alice, "docker exec box sh -c \"echo oops >&2; exit 3\"")[-1]
    assert failing.exit_code == 3 and "oops" in failing.output and not failing.ok

    with override_settings(DOCKERLAB_EXEC_SECONDS=2):
        started = time.monotonic()
        stream = exec_command(alice, "box", "sleep 60")
        list(stream)
        assert time.monotonic() - started < 15
        assert stream.limited == "time"
    with override_settings(DOCKERLAB_EXEC_MAX_BYTES=4096):
        stream = exec_command(alice, "box", "python -c \"print('x' * 100000)\"")
        data = b"".join(stream)
        assert stream.limited == "output" and len(data) < 4096 + 200, len(data)

    # Not into another learner's container, by name or id.
    box_id = containers.find_container(alice, "box")["Id"]
    for ref in ("box", box_id[:12], f"dl-{alice.sid}-box"):
        with pytest.raises(SandboxError):
            exec_command(bob, ref, "id")
    ok(alice, "docker stop box")
    stopped = do(alice, "docker exec box true")[-1]
    assert stopped.code == "conflict" and "not running" in stopped.message
    ok(alice, "docker rm box")


def test_history_restart_and_start(learners):
    alice, _ = learners
    history = layers.image_history(alice, "python:3.12-slim")
    assert history["layers"] and any(row["size"] > 0 for row in history["layers"])
    ok(alice, "docker run -d --name ticker python:3.12-slim sleep 300")
    before = client.api().inspect_container(f"dl-{alice.sid}-ticker")["State"]["StartedAt"]
    ok(alice, "docker restart ticker")
    after = client.api().inspect_container(f"dl-{alice.sid}-ticker")["State"]["StartedAt"]
    assert after != before
    ok(alice, "docker stop ticker")
    ok(alice, "docker start ticker")
    assert containers.find_container(alice, "ticker")["State"] == "running"
    ok(alice, "docker rm -f ticker")


def test_build_target_stops_at_the_stage_and_history_shows_its_steps(learners):
    alice, _ = learners
    ok(alice, "docker build -f Dockerfile.multistage --target builder -t flask-app:builder .")
    rows = layers.image_history(alice, "flask-app:builder")["layers"]
    steps = " ".join(row["created_by"] for row in rows)
    assert "pip" in steps and "app.py" not in steps
    assert any(row["created_by"] == layers.LAB_LABELS for row in rows)
    assert alice.sid not in steps
    refused = do(alice, "docker build -f Dockerfile.multistage --target nope -t x .")[-1]
    assert not refused.ok and "no stage of that name" in refused.message


def test_compose_logs_restart_and_exec(learners):
    alice, _ = learners
    ok(alice, "docker compose up -d --build")
    deadline = time.monotonic() + 30
    while "Running on" not in ok(alice, "docker compose logs --tail 20 web").output:
        assert time.monotonic() < deadline, "the app never said it runs"
    web = f"dl-{alice.sid}-flaskapp-web-1"
    before = client.api().inspect_container(web)["State"]["StartedAt"]
    ok(alice, "docker compose restart web")
    state = client.api().inspect_container(web)["State"]
    assert state["Running"] and state["StartedAt"] != before
    query = ok(
        alice,
        'docker compose exec db mariadb -u flask -pflask-secret visits -e "SELECT 1 AS one"',
    )
    assert "one" in query.output and query.exit_code == 0
    recent = ok(alice, "docker compose logs --since 1h db")
    assert recent.output
    ok(alice, "docker compose down")


def test_volume_prune_keeps_named_volumes_unless_all(learners):
    alice, _ = learners
    ok(alice, "docker compose up -d")
    ok(alice, "docker compose down")
    # An anonymous volume: mariadb's image declares /var/lib/mysql.
    ok(alice, "docker run -d --name anon -e MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=1 mariadb:11")
    ok(alice, "docker rm -f anon")  # removes its anonymous volume with it (-v)
    names = {v["name"] for v in services.list_state(alice)["volumes"]}
    assert "flaskapp_db-data" in names
    api = client.api()
    api.create_volume(labels=alice.labels())  # an unused anonymous volume
    pruned = ok(alice, "docker volume prune -f")
    assert pruned.detail["volumes"] and "flaskapp_db-data" not in pruned.detail["volumes"]
    assert "flaskapp_db-data" in {v["name"] for v in services.list_state(alice)["volumes"]}
    everything = ok(alice, "docker volume prune -a -f")
    assert everything.detail["volumes"] == ["flaskapp_db-data"]
    assert compose.ps(alice) == []
