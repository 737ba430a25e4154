"""A classroom swarm of its own for this test run, on the real engine.

The module brings up a swarm under a name, subnet and registry port of its
own (so the classroom swarm and other test runs are left alone), drives it
the way the site will (an image built and pushed by the host engine, a
replicated service with host-mode ports, a killed task, dead and lost
nodes), and removes it with its volumes at the end.
"""

from __future__ import annotations

import io
import ipaddress
import random
import secrets
import tarfile
import time

import pytest
from django.conf import settings
from django.test import override_settings

from engine import client
from orchestration import topology
from orchestration.errors import SwarmError
from orchestration.services import host, nodes, swarm
from tests.integration.http import answer, ok, wait_for_answer

pytestmark = pytest.mark.integration

APP = """\
import http.server, socket, sys

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = socket.gethostname().encode()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

http.server.HTTPServer(("", 5002), Handler).serve_forever()
"""

PROBE = """\
import socket, sys

for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    sock = socket.socket()
    sock.settimeout(2)
    try:
        sock.connect((host, int(port)))
        print(target, "open", flush=True)
    except OSError as exc:
        print(target, "closed", type(exc).__name__, flush=True)
    finally:
        sock.close()
"""


def _free_subnet() -> str:
    """A /24 in 10.213.128.0/17 that no network on the host engine uses."""
    with client.translate_errors():
        networks = client.api().networks()
    used = []
    for net in networks:
        for config in (net.get("IPAM") or {}).get("Config") or []:
            if config.get("Subnet"):
                used.append(ipaddress.ip_network(config["Subnet"], strict=False))
    candidates = list(ipaddress.ip_network("10.213.128.0/17").subnets(new_prefix=24))
    random.shuffle(candidates)
    for candidate in candidates:
        if not any(candidate.overlaps(other) for other in used if other.version == 4):
            return str(candidate)
    pytest.fail("no free /24 in 10.213.128.0/17 on the host engine")


def _labelled(kind: str, name: str) -> list[dict]:
    flt = topology.label_filter(name)
    with client.translate_errors():
        api = client.api()
        if kind == "containers":
            return api.containers(all=True, filters=flt)
        if kind == "volumes":
            return (api.volumes(filters=flt) or {}).get("Volumes") or []
        return api.networks(filters=flt)


@pytest.fixture(scope="module")
def test_swarm():
    """Up for the module, down with its volumes afterwards."""
    name = f"swtest-{secrets.token_hex(3)}"
    for _attempt in range(3):
        overrides = override_settings(
            DOCKERLAB_SWARM=True,
            DOCKERLAB_SWARM_MANAGER_URL="",
            DOCKERLAB_SWARM_NAME=name,
            DOCKERLAB_SWARM_SUBNET=_free_subnet(),
            DOCKERLAB_SWARM_REGISTRY_PORT=0,
            DOCKERLAB_SWARM_WORKERS=2,
        )
        overrides.enable()
        try:
            lines: list[str] = []
            report = swarm.up(lines.append)
            break
        except SwarmError as exc:
            overrides.disable()
            if "overlaps" not in str(exc):  # another run took the subnet meanwhile
                swarm_down_quietly(name)
                raise
    else:
        pytest.fail("could not find a free subnet for the test swarm")
    try:
        yield {"topology": topology.configured(), "report": report, "lines": lines}
    finally:
        swarm.down(volumes=True)
        overrides.disable()


def swarm_down_quietly(name: str) -> None:
    with override_settings(DOCKERLAB_SWARM_NAME=name):
        swarm.down(volumes=True)


@pytest.fixture(scope="module")
def pushed_app(test_swarm):
    """A tiny web app built by the host engine FROM the kit's python image and
    pushed to the swarm registry; returns the name the nodes pull."""
    registry = nodes.registry()
    reference = f"swarm-app:{settings.DOCKERLAB_DEPLOYMENT}"
    push_name = registry.push_name(reference)
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for filename, text in (
            ("Dockerfile", (
                f"FROM {settings.DOCKERLAB_IMAGES['python']}\n"
                "COPY app.py probe.py /app/\nCMD [\"python3\", \"/app/app.py\"]\n"
            )),
            ("app.py", APP),
            ("probe.py", PROBE),
        ):
            data = text.encode()
            info = tarfile.TarInfo(filename)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    api = client.api(timeout=600)
    with client.translate_errors():
        for chunk in api.build(
            fileobj=context, custom_context=True, tag=push_name, rm=True, forcerm=True,
            pull=False, decode=True,
            labels={"org.dockerlab.deployment": settings.DOCKERLAB_DEPLOYMENT},
        ):
            assert "error" not in chunk, chunk
        for chunk in api.push(push_name, stream=True, decode=True):
            assert "error" not in chunk, chunk
    try:
        yield registry.pull_name(reference)
    finally:
        with client.translate_errors():
            api.remove_image(push_name, force=True)


def _manager():
    return nodes.manager_api()


def _service(name: str, image: str, *, replicas: int, port: int | None = None,
             command: list[str] | None = None, restart: str = "any") -> str:
    spec = {"Image": image}
    if command:
        spec["Command"] = command
    endpoint = None
    if port:
        endpoint = {"Ports": [{"Protocol": "tcp", "TargetPort": 5002, "PublishedPort": port,
                               "PublishMode": "host"}]}
    with client.translate_errors():
        created = _manager().create_service(
            {"ContainerSpec": spec, "RestartPolicy": {"Condition": restart}},
            name=name,
            labels={"org.dockerlab.deployment": settings.DOCKERLAB_DEPLOYMENT},
            mode={"Replicated": {"Replicas": replicas}},
            endpoint_spec=endpoint,
        )
    return created["ID"]


def _remove_service(name: str) -> None:
    try:
        with client.translate_errors():
            _manager().remove_service(name)
    except (client.NotFound, SwarmError):
        pass  # gone already, or with the whole swarm (the last test takes it down)


def _running_tasks(service: str) -> list[dict]:
    with client.translate_errors():
        tasks = _manager().tasks(filters={"service": service, "desired-state": "running"})
    return [t for t in tasks if (t.get("Status") or {}).get("State") == "running"]


def _hostname_of(node_id: str) -> str:
    with client.translate_errors():
        return _manager().inspect_node(node_id)["Description"]["Hostname"]


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(0.25)


# --- the swarm itself -------------------------------------------------------------------


def test_up_starts_a_manager_and_two_workers_all_ready_in_one_swarm(test_swarm):
    assert test_swarm["report"].ok, test_swarm["report"].rows
    with client.translate_errors():
        entries = _manager().nodes()
    facts = sorted(
        (e["Description"]["Hostname"], e["Spec"]["Role"], e["Status"]["State"]) for e in entries
    )
    assert facts == [
        ("manager", "manager", "ready"),
        ("worker1", "worker", "ready"),
        ("worker2", "worker", "ready"),
    ]
    lines = test_swarm["lines"]
    assert any("swarm initialised" in line for line in lines)
    assert sum("joined the swarm" in line for line in lines) == 2


def test_every_object_is_labelled_with_the_swarm_and_the_deployment_and_none_as_a_sandbox(
    test_swarm,
):
    topo = test_swarm["topology"]
    containers = _labelled("containers", topo.name)
    volumes = _labelled("volumes", topo.name)
    networks = _labelled("networks", topo.name)
    assert {c["Names"][0].lstrip("/") for c in containers} == (
        {n.container for n in topo.nodes} | {topo.registry_container}
    )
    assert {v["Name"] for v in volumes} == (
        {n.data_volume for n in topo.nodes} | {n.api_volume for n in topo.nodes}
        | {topo.registry_volume}
    )
    assert {n["Name"] for n in networks} == {topo.network, topo.publish_network}
    for obj in containers + volumes + networks:
        labels = obj.get("Labels") or {}
        assert labels["org.dockerlab.swarm"] == "1"
        assert labels["org.dockerlab.deployment"] == settings.DOCKERLAB_DEPLOYMENT
        assert "org.dockerlab.sandbox" not in labels


@pytest.mark.django_db
def test_the_sandbox_reaper_leaves_the_swarm_alone(test_swarm):
    from sandboxes.services import reaper

    topo = test_swarm["topology"]
    before = {c["Id"] for c in _labelled("containers", topo.name)}
    reaper.reap()
    assert {c["Id"] for c in _labelled("containers", topo.name)} == before
    assert len(_labelled("volumes", topo.name)) == 7


def test_the_private_network_is_internal_with_its_own_bridge_and_subnet(test_swarm):
    topo = test_swarm["topology"]
    with client.translate_errors():
        net = client.api().inspect_network(topo.network)
    assert net["Internal"] is True
    bridge = net["Options"]["com.docker.network.bridge.name"]
    assert bridge == topo.bridge and not bridge.startswith("dl-") and len(bridge) <= 15
    subnet = ipaddress.ip_network(net["IPAM"]["Config"][0]["Subnet"])
    assert not subnet.overlaps(ipaddress.ip_network("172.20.0.0/14"))


def test_no_node_engine_listens_on_a_network_and_the_registry_only_on_loopback(test_swarm):
    topo = test_swarm["topology"]
    api = client.api()
    for node in topo.nodes:
        with client.translate_errors():
            info = api.inspect_container(node.container)
        assert not info["NetworkSettings"]["Ports"]
        hosts = [arg for arg in info["Config"]["Cmd"] if arg.startswith("--host")]
        assert hosts and all(arg.startswith("--host=unix://") for arg in hosts)
        assert info["HostConfig"]["Privileged"] is False
        for port in (2375, 2376):
            with pytest.raises(OSError):
                answer(f"http://{node.ip}:{port}/version", timeout=2)
    with client.translate_errors():
        info = api.inspect_container(topo.registry_container)
    bindings = info["NetworkSettings"]["Ports"]["5000/tcp"]
    assert bindings and all(b["HostIp"] == "127.0.0.1" for b in bindings)


def test_up_again_changes_nothing(test_swarm):
    topo = test_swarm["topology"]
    before = {c["Id"] for c in _labelled("containers", topo.name)}
    lines: list[str] = []
    report = swarm.up(lines.append)
    assert report.ok
    assert lines == []
    assert {c["Id"] for c in _labelled("containers", topo.name)} == before


def test_the_status_reports_every_part_of_the_swarm(test_swarm):
    report = swarm.status()
    assert report.ok
    subjects = [row.subject for row in report.rows]
    assert subjects[-3:] == ["node manager", "node worker1", "node worker2"]
    assert any(s.startswith("registry ") for s in subjects)
    assert "host engine" in subjects


def test_the_host_engine_trusts_a_plain_http_registry_on_loopback(test_swarm):
    assert swarm.host_trusts_loopback_registry() is True


# --- services ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def web_service(test_swarm, pushed_app):
    name = f"web-{secrets.token_hex(3)}"
    port = random.randint(20000, 29999)
    _service(name, pushed_app, replicas=3, port=port)
    try:
        _wait(lambda: len(_running_tasks(name)) == 3, 180, "3 running tasks")
        yield {"name": name, "port": port}
    finally:
        _remove_service(name)


def test_a_pushed_image_runs_as_three_replicas_spread_over_the_nodes_and_each_answers(
    test_swarm, web_service
):
    topo = test_swarm["topology"]
    tasks = _running_tasks(web_service["name"])
    assert sorted(_hostname_of(t["NodeID"]) for t in tasks) == ["manager", "worker1", "worker2"]
    answers = set()
    for node in topo.nodes:
        _status, body = wait_for_answer(f"http://{node.ip}:{web_service['port']}/", ok, 30)
        answers.add(body)
    assert len(answers) == 3  # three task containers, one per node


def test_killing_a_task_container_gets_it_replaced(test_swarm, web_service, capsys):
    name = web_service["name"]
    victim = next(t for t in _running_tasks(name) if _hostname_of(t["NodeID"]) == "worker1")
    container = victim["Status"]["ContainerStatus"]["ContainerID"]
    started = time.monotonic()
    with client.translate_errors():
        nodes.node_api("worker1").kill(container)

    def replaced():
        tasks = _running_tasks(name)
        return len(tasks) == 3 and victim["ID"] not in {t["ID"] for t in tasks}

    _wait(replaced, 60, "a replacement task")
    with capsys.disabled():
        print(f"\n[swarm] task replaced {time.monotonic() - started:.1f} s after its container was killed")


def test_whether_the_routing_mesh_answers_follows_the_kernel_having_ipvs(
    test_swarm, pushed_app
):
    """The ingress routing mesh needs IPVS in the kernel; where it has none
    (this project's machines), only host-mode ports answer."""
    topo = test_swarm["topology"]
    name = f"mesh-{secrets.token_hex(3)}"
    port = random.randint(30000, 32000)
    with client.translate_errors():
        _manager().create_service(
            {"ContainerSpec": {"Image": pushed_app}},
            name=name,
            mode={"Replicated": {"Replicas": 1}},
            endpoint_spec={"Ports": [{"Protocol": "tcp", "TargetPort": 5002,
                                      "PublishedPort": port, "PublishMode": "ingress"}]},
        )
    try:
        _wait(lambda: len(_running_tasks(name)) == 1, 120, "the mesh service's task")
        with client.translate_errors():
            probe = nodes.node_api("manager").create_container(
                pushed_app, command=["sh", "-c", "test -e /proc/net/ip_vs && echo yes || echo no"],
            )
        # The node's own /proc/net tells whether its kernel has IPVS; ask through a container.
        node_api = nodes.node_api("manager")
        with client.translate_errors():
            node_api.start(probe["Id"])
            node_api.wait(probe["Id"], timeout=60)
            has_ipvs = node_api.logs(probe["Id"]).decode().strip() == "yes"
            node_api.remove_container(probe["Id"], force=True)
        time.sleep(3)
        answered = []
        for node in topo.nodes:
            try:
                answered.append(answer(f"http://{node.ip}:{port}/", timeout=3)[0] == 200)
            except OSError:
                answered.append(False)
        assert answered == [has_ipvs] * len(topo.nodes)
    finally:
        _remove_service(name)


def test_a_task_reaches_nothing_beyond_its_node(test_swarm, pushed_app):
    """As a learner's service would try: the registry, the nodes' swarm and
    engine ports, and the host must all stay closed to a task."""
    topo = test_swarm["topology"]
    targets = [f"{topo.registry_ip}:5000", f"{topo.gateway}:22", f"{topo.gateway}:8000"]
    for node in topo.nodes:
        targets += [f"{node.ip}:2377", f"{node.ip}:7946", f"{node.ip}:2375"]
    name = f"probe-{secrets.token_hex(3)}"
    _service(name, pushed_app, replicas=1, restart="none",
             command=["python3", "/app/probe.py", *targets])
    try:
        def finished():
            with client.translate_errors():
                tasks = _manager().tasks(filters={"service": name})
            done = [t for t in tasks if (t.get("Status") or {}).get("State") == "complete"]
            return done[0] if done else None

        task = _wait(finished, 180, "the probe task")
        hostname = _hostname_of(task["NodeID"])
        container = task["Status"]["ContainerStatus"]["ContainerID"]
        with client.translate_errors():
            output = nodes.node_api(hostname).logs(container).decode()
    finally:
        _remove_service(name)
    results = dict(line.split(" ", 1) for line in output.strip().splitlines())
    assert set(results) == set(targets), output
    assert all(result.startswith("closed") for result in results.values()), output


# --- recovery --------------------------------------------------------------------------------


def _ready(hostname: str) -> bool:
    report = swarm.status()
    return any(r.subject == f"node {hostname}" and r.ok for r in report.rows)


def test_a_dead_worker_container_is_started_again_and_is_ready(test_swarm):
    topo = test_swarm["topology"]
    worker = topo.node("worker2")
    with client.translate_errors():
        client.api().stop(worker.container, timeout=1)
    assert not _ready("worker2")
    lines: list[str] = []
    assert swarm.up(lines.append).ok
    assert lines == [f"{worker.container}: started again"]


def test_a_worker_whose_container_and_data_are_lost_joins_again_and_its_old_entry_goes(
    test_swarm,
):
    topo = test_swarm["topology"]
    worker = topo.node("worker1")
    with client.translate_errors():
        api = client.api()
        api.remove_container(worker.container, force=True)
        api.remove_volume(worker.data_volume, force=True)
    lines: list[str] = []
    assert swarm.up(lines.append).ok
    assert f"{worker.container}: created" in lines
    assert "worker1: joined the swarm" in lines
    with client.translate_errors():
        hostnames = sorted(e["Description"]["Hostname"] for e in _manager().nodes())
    assert hostnames == ["manager", "worker1", "worker2"]


def test_a_removed_manager_container_comes_back_with_its_swarm(test_swarm):
    topo = test_swarm["topology"]
    with client.translate_errors():
        swarm_id = _manager().inspect_swarm()["ID"]
        client.api().remove_container(topo.manager.container, force=True)
    lines: list[str] = []
    assert swarm.up(lines.append).ok
    assert lines == [f"{topo.manager.container}: created"]
    with client.translate_errors():
        assert _manager().inspect_swarm()["ID"] == swarm_id


def test_an_object_with_the_swarms_name_but_not_its_labels_is_refused(test_swarm):
    name = f"swclash-{secrets.token_hex(3)}"
    with client.translate_errors():
        client.api().create_network(name, driver="bridge", labels={
            "org.dockerlab.deployment": settings.DOCKERLAB_DEPLOYMENT})
    try:
        with override_settings(DOCKERLAB_SWARM_NAME=name):
            with pytest.raises(SwarmError, match="not this swarm's"):
                swarm.up()
            assert _labelled("containers", name) == []
    finally:
        with client.translate_errors():
            client.api().remove_network(name)


# --- an existing swarm -------------------------------------------------------------------------


def test_with_a_manager_url_the_site_uses_that_swarm_and_starts_or_stops_nothing(test_swarm):
    topo = test_swarm["topology"]
    socket = host.socket_path(topo, topo.manager)
    every_swarm = {"label": ["org.dockerlab.swarm=1"]}
    before = {c["Id"] for c in client.api().containers(all=True, filters=every_swarm)}
    with override_settings(
        DOCKERLAB_SWARM_MANAGER_URL=f"unix://{socket}",
        DOCKERLAB_SWARM_REGISTRY=topo.registry_address,
        DOCKERLAB_SWARM_NAME="never-made",
    ):
        report = swarm.up()
        assert report.ok, report.rows
        assert [r.subject for r in report.rows][1:4] == ["node manager", "node worker1", "node worker2"]
        lines: list[str] = []
        swarm.down(lines.append, volumes=True)
        assert "stops nothing" in lines[0]
        assert nodes.registry().pull == topo.registry_address
        with pytest.raises(SwarmError, match="only its manager"):
            nodes.node_api("worker1")
    assert {c["Id"] for c in client.api().containers(all=True, filters=every_swarm)} == before
    assert _labelled("containers", topo.name)


# --- down (last: the module's swarm goes) --------------------------------------------------


def test_down_with_volumes_removes_every_object_of_the_swarm(test_swarm):
    topo = test_swarm["topology"]
    lines: list[str] = []
    swarm.down(lines.append, volumes=True)
    assert lines
    for kind in ("containers", "volumes", "networks"):
        assert _labelled(kind, topo.name) == [], kind
    with pytest.raises(SwarmError, match="swarm up"):
        nodes.manager_api()
