"""The sample Flask app on a real engine, built FROM the configured python image.

Everything created here carries org.dockerlab.test=<this run's id> and is
removed by that label at the end; the kit's images themselves are left alone.
"""

import contextlib
import json
import re
import shutil
import time
import uuid
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.request import urlopen

import pytest
import yaml
from django.conf import settings

from engine import client as engine_client
from engine import kit
from engine.images import localize_dockerfile

SAMPLE = Path(__file__).resolve().parents[2] / "sample" / "flaskapp"
TEST_LABEL = "org.dockerlab.test"


@pytest.fixture(scope="module")
def run_id():
    return uuid.uuid4().hex[:12]


@pytest.fixture(scope="module")
def api(run_id):
    """The engine, and removal of everything this module labelled."""
    kit.make_images(lambda line: None)
    api = engine_client.api(timeout=300)
    yield api
    selector = {"label": f"{TEST_LABEL}={run_id}"}
    for container in api.containers(all=True, filters=selector):
        api.remove_container(container["Id"], force=True, v=True)
    for network in api.networks(filters=selector):
        api.remove_network(network["Id"])
    for image in api.images(filters=selector):
        with contextlib.suppress(engine_client.NotFound):
            with engine_client.translate_errors():
                api.remove_image(image["Id"], force=True)


def _build(api, run_id, tmp_path_factory, dockerfile: str) -> tuple[str, str]:
    """Build the sample with `dockerfile`; return (tag, build output)."""
    context = tmp_path_factory.mktemp("sample") / "flaskapp"
    shutil.copytree(SAMPLE, context)
    path = context / dockerfile
    # Every stage gets the run's label, so teardown also finds the builder stage.
    text = re.sub(
        r"^(FROM .*)$", rf"\1\nLABEL {TEST_LABEL}={run_id}", path.read_text(), flags=re.MULTILINE
    )
    path.write_text(localize_dockerfile(text))
    tag = f"dockerlab-test/sample-{dockerfile.lower().replace('.', '-')}:{run_id}"
    output = []
    with engine_client.translate_errors():
        for chunk in api.build(
            path=str(context), dockerfile=dockerfile, tag=tag, labels={TEST_LABEL: run_id},
            rm=True, forcerm=True, pull=False, decode=True,
        ):
            if "error" in chunk:
                pytest.fail(f"building {dockerfile} failed: {chunk['error']}\n{''.join(output)}")
            output.append(chunk.get("stream", ""))
    return tag, "".join(output)


@pytest.fixture(scope="module")
def sample_image(api, run_id, tmp_path_factory):
    return _build(api, run_id, tmp_path_factory, "Dockerfile")


@pytest.fixture(scope="module")
def multistage_image(api, run_id, tmp_path_factory):
    return _build(api, run_id, tmp_path_factory, "Dockerfile.multistage")


def _run(api, run_id, image, *, port=None, network=None, aliases=(), env=None, healthcheck=None):
    host_config = api.create_host_config(
        port_bindings={port: ("127.0.0.1",)} if port else None,
        network_mode=network,
    )
    networking = (
        api.create_networking_config({network: api.create_endpoint_config(aliases=list(aliases))})
        if network else None
    )
    container = api.create_container(
        image, labels={TEST_LABEL: run_id}, environment=env, host_config=host_config,
        ports=[port] if port else None, networking_config=networking, healthcheck=healthcheck,
    )
    api.start(container["Id"])
    return container["Id"]


def _url(api, container, port) -> str:
    binding = api.port(container, port)[0]
    assert binding["HostIp"] == "127.0.0.1"
    return f"http://127.0.0.1:{binding['HostPort']}"


def _get(url: str, api, container, timeout: float = 30) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urlopen(url, timeout=5) as response:
                return response.status, response.read().decode()
        except HTTPError as exc:
            return exc.code, exc.read().decode()
        except (URLError, ConnectionError, OSError):
            if time.monotonic() > deadline:
                logs = api.logs(container).decode(errors="replace")
                pytest.fail(f"{url} did not answer within {timeout}s; logs:\n{logs}")
            time.sleep(0.2)


def _wait_healthy(api, container, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = api.inspect_container(container)["State"]
        if state.get("Health", {}).get("Status") == "healthy":
            return
        if not state["Running"]:
            break
        time.sleep(0.3)
    logs = api.logs(container).decode(errors="replace")
    pytest.fail(f"container did not become healthy; logs:\n{logs}")


def test_the_sample_image_builds_on_the_configured_python_image(api, sample_image):
    tag, output = sample_image
    python = settings.DOCKERLAB_IMAGES["python"]
    base_layers = api.inspect_image(python)["RootFS"]["Layers"]
    layers = api.inspect_image(tag)["RootFS"]["Layers"]
    assert layers[: len(base_layers)] == base_layers
    if kit.image_state(python) == kit.KIT_BUILT:
        # The kit's python already has the pinned libraries: pip needs no index.
        assert "Requirement already satisfied: Flask==" in output


def test_the_sample_answers_on_a_loopback_port(api, run_id, sample_image):
    container = _run(api, run_id, sample_image[0], port=5002)
    status, body = _get(_url(api, container, 5002) + "/", api, container)
    assert status == 200
    assert body.startswith("Hello from Docker!")
    assert "visited" not in body
    logs = api.logs(container).decode(errors="replace")
    assert '"GET / HTTP/1.1" 200' in logs


def test_the_multistage_sample_builds_and_answers(api, run_id, multistage_image):
    container = _run(api, run_id, multistage_image[0], port=5002)
    status, body = _get(_url(api, container, 5002) + "/", api, container)
    assert status == 200
    assert body.startswith("Hello from Docker!")


def test_the_sample_counts_visits_in_mariadb_reached_by_name(api, run_id, sample_image):
    network = f"dockerlab-test-{run_id}"
    api.create_network(network, driver="bridge", labels={TEST_LABEL: run_id})
    db = _run(
        api, run_id, settings.DOCKERLAB_IMAGES["mariadb"], network=network, aliases=["db"],
        env={"MARIADB_ROOT_PASSWORD": "root-secret", "MARIADB_DATABASE": "visits",
             "MARIADB_USER": "flask", "MARIADB_PASSWORD": "it's-secret"},
        healthcheck={"test": ["CMD", "healthcheck.sh", "--connect", "--innodb_initialized"],
                     "interval": 500_000_000, "retries": 120},
    )
    _wait_healthy(api, db)
    web = _run(
        api, run_id, sample_image[0], port=5002, network=network,
        env={"MYSQL_HOST": "db", "MYSQL_USER": "flask", "MYSQL_PASSWORD": "it's-secret",
             "MYSQL_DATABASE": "visits"},
    )
    url = _url(api, web, 5002) + "/"
    first = _get(url, api, web)
    second = _get(url, api, web)
    assert first == (200, first[1]) and "visited 1 time." in first[1]
    assert second[0] == 200 and "visited 2 times." in second[1]


def test_the_registry_answers_the_v2_api(api, run_id):
    container = _run(api, run_id, settings.DOCKERLAB_IMAGES["registry"], port=5000)
    status, body = _get(_url(api, container, 5000) + "/v2/", api, container)
    assert status == 200
    assert json.loads(body) == {}


def test_the_compose_file_runs_the_app_against_a_healthy_db():
    compose = yaml.safe_load((SAMPLE / "compose.yaml").read_text())
    web, db = compose["services"]["web"], compose["services"]["db"]
    assert web["environment"]["MYSQL_HOST"] == "db"
    assert web["depends_on"]["db"]["condition"] == "service_healthy"
    assert all(port.startswith("127.0.0.1:") for port in web["ports"])
    assert db["image"] == "mariadb:11"
    assert db["healthcheck"]["test"][1] == "healthcheck.sh"
