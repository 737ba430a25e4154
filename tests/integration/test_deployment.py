"""The docker-compose.yml deployment, brought up on the real engine as `make deploy` does.

A deployment of the test's own (its own compose project, loopback ports,
site image tag and deployment id), through scripts/deploy.sh: the images are
built (or found cached), the services come up healthy, and a learner signs up
through nginx, builds the sample and runs it through the lab websocket, and
opens it through the site's app proxy. Then everything goes: containers,
volumes, and the learner's sandbox objects on the engine.

The first run on a machine builds the deployment's images (minutes); later
runs find them cached.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest
from django.test import override_settings

from engine import client
from tests.servers import ROOT, free_port, lab_socket, sign_up

PROJECT = f"dltest-{secrets.token_hex(3)}"
SITE_IMAGE = "dockerlab/site:test"
UP_TIMEOUT = 3600  # a first run builds every image

# The first test sets the deployment up, image builds included: the suite's
# per-test timeout (pytest.ini) would stop a first run on a slow machine.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(UP_TIMEOUT + 900)]


def deploy(env: dict, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ROOT / "scripts" / "deploy.sh"), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )


def project_objects() -> dict[str, list]:
    """The engine's containers and volumes of this test's compose project."""
    flt = {"label": [f"com.docker.compose.project={PROJECT}"]}
    with client.translate_errors():
        api = client.api()
        return {
            "containers": api.containers(all=True, filters=flt),
            "volumes": (api.volumes(filters=flt) or {}).get("Volumes") or [],
        }


def remove_leftovers(deployment_id: str) -> None:
    """Whatever a failed run left: the project's objects, the learner's sandboxes."""
    from sandboxes.services import reaper

    objects = project_objects()
    api = client.api()
    for container in objects["containers"]:
        api.remove_container(container["Id"], force=True, v=True)
    for volume in objects["volumes"]:
        api.remove_volume(volume["Name"], force=True)
    with override_settings(DOCKERLAB_DEPLOYMENT=deployment_id):
        for sid in reaper.labelled_sids():
            reaper.remove_objects(sid)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    state = tmp_path_factory.mktemp("deploy")
    deployment_id = PROJECT
    ports = {
        "listen": free_port(),
        "pg": free_port(),
        "redis": free_port(),
    }
    first_worker = free_port()
    env = {
        **os.environ,
        "DOCKERLAB_DEPLOY_PROJECT": PROJECT,
        "DOCKERLAB_DEPLOY_DIR": str(state / "state"),
        "DOCKERLAB_DEPLOY_LISTEN": f"127.0.0.1:{ports['listen']}",
        "DOCKERLAB_DEPLOY_WORKERS": "2",
        "DOCKERLAB_DEPLOY_WORKER_PORT": str(first_worker),
        "DOCKERLAB_DEPLOY_PG_PORT": str(ports["pg"]),
        "DOCKERLAB_DEPLOY_REDIS_PORT": str(ports["redis"]),
        "DOCKERLAB_DEPLOYMENT": deployment_id,
        "DOCKERLAB_SITE_IMAGE": SITE_IMAGE,
        "DOCKERLAB_ALLOWED_HOSTS": "127.0.0.1",
    }
    up = deploy(env, "up", timeout=UP_TIMEOUT)
    try:
        if up.returncode != 0:
            pytest.fail(
                f"scripts/deploy.sh up failed (exit {up.returncode}):\n"
                f"{up.stdout[-4000:]}\n{up.stderr[-4000:]}",
                pytrace=False,
            )
        yield {
            "url": f"http://127.0.0.1:{ports['listen']}",
            "env": env,
            "ports": ports,
            "up": up.stdout,
        }
    finally:
        deploy(env, "down", "--volumes")
        remove_leftovers(deployment_id)
        shutil.rmtree(state, ignore_errors=True)


def listening_addresses(port: int) -> set[str]:
    """The IPv4 addresses something listens on at `port`, from /proc/net/tcp."""
    addresses = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            addresses.add(".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)))
    return addresses


def test_every_service_is_healthy_and_labelled_as_the_deployments(deployment):
    containers = project_objects()["containers"]
    services = {c["Labels"]["com.docker.compose.service"]: c for c in containers}
    assert set(services) == {"postgres", "redis", "site"}
    for name, container in services.items():
        assert container["Labels"]["org.dockerlab.site"] == PROJECT
        health = client.api().inspect_container(container["Id"])["State"]["Health"]["Status"]
        assert health == "healthy", f"{name} is {health}"
    assert services["site"]["Image"] == SITE_IMAGE


def test_only_the_front_faces_the_network_and_the_stores_stay_on_loopback(deployment):
    ports = deployment["ports"]
    assert listening_addresses(ports["pg"]) == {"127.0.0.1"}
    assert listening_addresses(ports["redis"]) == {"127.0.0.1"}
    assert listening_addresses(ports["listen"]) == {"127.0.0.1"}  # as the test asked


def test_the_front_serves_the_collected_static_files(deployment):
    with urllib.request.urlopen(deployment["url"] + "/static/js/lab.js", timeout=30) as response:
        assert response.status == 200
        # nginx's hour, not WhiteNoise's minute: the front served it.
        assert response.headers["Cache-Control"] == "max-age=3600"


def test_the_site_says_at_start_what_it_can_and_cannot_do_here(deployment):
    logs = deploy(deployment["env"], "compose", "logs", "--no-color", "site")
    assert logs.returncode == 0, logs.stderr
    assert "preflight: database postgresql, channel layer RedisChannelLayer" in logs.stdout
    assert "preflight: Docker engine" in logs.stdout
    # The container's view of the host's cgroups is read-only unless asked for.
    assert "build steps run without a process limit" in logs.stdout


def site_volumes(env: dict) -> list[str]:
    config = deploy(env, "compose", "config", "--format", "json")
    assert config.returncode == 0, config.stderr
    return [
        f"{volume.get('source')}:{volume['target']}:{'ro' if volume.get('read_only') else 'rw'}"
        for volume in json.loads(config.stdout)["services"]["site"]["volumes"]
    ]


def test_the_hosts_cgroups_reach_the_site_only_when_build_limits_are_asked_for(
    deployment, tmp_path
):
    assert not any("/sys/fs/cgroup" in v for v in site_volumes(deployment["env"]))
    # The same deployment's settings, with DOCKERLAB_DEPLOY_BUILD_LIMITS=1.
    state = Path(deployment["env"]["DOCKERLAB_DEPLOY_DIR"])
    (tmp_path / "compose.env").write_text(
        (state / "compose.env").read_text().replace(
            "DOCKERLAB_DEPLOY_BUILD_LIMITS=0", "DOCKERLAB_DEPLOY_BUILD_LIMITS=1"
        )
    )
    asked = {**deployment["env"], "DOCKERLAB_DEPLOY_DIR": str(tmp_path)}
    assert "/sys/fs/cgroup:/sys/fs/cgroup:rw" in site_volumes(asked)


async def test_a_learner_builds_runs_and_opens_the_sample_through_the_deployment(deployment):
    url = deployment["url"]
    session = await asyncio.to_thread(sign_up, url, f"class-{secrets.token_hex(3)}")
    ws = await lab_socket(url, session)
    try:
        hello = await frame_of(ws, "hello")
        assert hello["sandbox"]
        await ws.send(json.dumps({"action": "build", "ref": "b"}))
        done = await frame_of(ws, "build.done", timeout=900)
        assert done["ok"], done
        await ws.send(json.dumps({"action": "run", "image": "flask-app", "name": "web", "ref": "r"}))
        result = await frame_of(ws, "result")
        assert result["data"]["name"] == "web"
    finally:
        await ws.close()

    request = urllib.request.Request(
        url + "/sandbox/app/web/", headers={"Cookie": f"sessionid={session}"}
    )
    response = await asyncio.to_thread(urllib.request.urlopen, request, timeout=60)
    body = response.read()
    assert response.status == 200
    assert b"Hello from Docker! This is container " + result["data"]["id"].encode() in body


async def frame_of(ws, kind: str, timeout: float = 120) -> dict:
    async def wait() -> dict:
        while True:
            frame = json.loads(await ws.recv())
            if frame.get("type") == "error":
                pytest.fail(f"the lab answered with an error: {frame}")
            if frame.get("type") == kind:
                return frame

    return await asyncio.wait_for(wait(), timeout)


def test_down_with_volumes_leaves_nothing_of_the_deployment(deployment):
    down = deploy(deployment["env"], "down", "--volumes")
    assert down.returncode == 0, down.stderr
    assert project_objects() == {"containers": [], "volumes": []}
    assert not Path(deployment["env"]["DOCKERLAB_DEPLOY_DIR"]).exists()
