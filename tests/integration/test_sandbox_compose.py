"""The sample's compose.yaml brought up, listed and taken down in a sandbox."""

from __future__ import annotations

import pytest

from engine import client
from sandboxes import services
from sandboxes.services import compose
from tests.integration.http import ok, wait_for_answer
from tests.integration.learners import two_learners

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def learners(django_db_setup, django_db_blocker):
    with two_learners(django_db_blocker, "compose") as (_, sandboxes):
        yield sandboxes


def _volumes(sandbox) -> list[dict]:
    with client.translate_errors():
        return client.api().volumes(filters=sandbox.label_filter()).get("Volumes") or []


def test_up_builds_waits_for_a_healthy_db_and_the_app_counts_visits_until_down(learners):
    alice, bob = learners
    events = list(compose.up(alice))
    assert events[-1]["kind"] == "done", events[-3:]
    steps = [e for e in events if e["kind"] == "step"]
    assert [s["step"] for s in steps] == list(range(1, len(steps) + 1))
    texts = [s["text"] for s in steps]
    assert texts[0] == "Volume flaskapp_db-data"
    # db starts before web, and web waits until db's health check passes.
    assert texts.index("Container flaskapp-db-1") < texts.index(
        "Waiting for db: service healthy"
    ) < texts.index("Container flaskapp-web-1")
    lines = "".join(e["text"] for e in events if e["kind"] == "line")
    assert "db is healthy" in lines

    rows = {row["service"]: row for row in compose.ps(alice)}
    assert set(rows) == {"db", "web"}
    assert rows["db"]["ports"] == []
    assert rows["web"]["state"] == "running"
    port = services.published_port(alice, "flaskapp-web-1")
    status, body = wait_for_answer(f"http://127.0.0.1:{port}/", ok)
    assert status == 200 and "visited 1 time." in body, body

    # The volume is the sandbox's, labelled; bob sees no project of his own.
    assert [v["Name"] for v in _volumes(alice)] == [f"dl-{alice.sid}-flaskapp_db-data"]
    assert compose.ps(bob) == []

    # A second up keeps what runs.
    again = list(compose.up(alice, build=False))
    assert again[-1]["kind"] == "done"
    assert " Running\n" in [e["text"] for e in again if e["kind"] == "line"]

    # The volume shows in the sandbox's state, and cannot go while in use.
    volumes = services.list_state(alice)["volumes"]
    assert [(v["name"], v["used_by"]) for v in volumes] == [
        ("flaskapp_db-data", ["flaskapp-db-1"])
    ]
    with pytest.raises(services.SandboxError, match="in use by flaskapp-db-1"):
        services.remove_volume(alice, "flaskapp_db-data")
    with pytest.raises(services.NotInSandbox):
        services.remove_volume(bob, "flaskapp_db-data")
    with pytest.raises(services.NotInSandbox):
        services.remove_volume(alice, f"dl-{bob.sid}-flaskapp_db-data")

    # down keeps the data volume; down -v removes it too.
    assert compose.down(alice) == {
        "removed": ["flaskapp-web-1", "flaskapp-db-1"],
        "volumes": [],
    }
    assert compose.ps(alice) == [] and len(_volumes(alice)) == 1
    list(compose.up(alice, build=False))
    port = services.published_port(alice, "flaskapp-web-1")
    status, body = wait_for_answer(f"http://127.0.0.1:{port}/", ok)
    assert "visited 2 times." in body, body  # the count survived down/up
    assert compose.down(alice)["volumes"] == []
    assert services.remove_volume(alice, "flaskapp_db-data") == {"removed": "flaskapp_db-data"}
    assert _volumes(alice) == []


def test_a_learners_own_compose_file_comes_up_and_down_takes_all_of_it(learners):
    _, bob = learners
    text = (
        "services:\n"
        "  ticker:\n"
        "    image: python:3.12-slim\n"
        "    command: [\"python\", \"-c\", \"import time; print('tick', flush=True); time.sleep(60)\"]\n"
        "    environment: [GREETING=hi]\n"
    )
    events = list(compose.up(bob, file=text))
    assert events[-1]["kind"] == "done", events[-3:]
    assert [row["name"] for row in compose.ps(bob)] == ["flaskapp-ticker-1"]

    def said(events) -> list[str]:
        return [e["text"].strip() for e in events if e["kind"] == "line"]

    # Unchanged: kept. Changed (a variable): recreated, as docker compose does.
    assert said(compose.up(bob, file=text)) == ["Running"]
    changed = text.replace("GREETING=hi", "GREETING=hello")
    assert said(compose.up(bob, file=changed)) == ["Recreated"]
    env = services.inspect(bob, "container", "flaskapp-ticker-1")["Config"]["Env"]
    assert "GREETING=hello" in env
    assert compose.down(bob) == {"removed": ["flaskapp-ticker-1"], "volumes": []}
    assert compose.ps(bob) == []

    with pytest.raises(services.BadRequest, match="privileged"):
        compose.up(bob, file="services:\n  x:\n    image: python:3.12-slim\n    privileged: true\n")
    with pytest.raises(services.BadRequest, match="16 KiB"):
        compose.up(bob, file="#" * 20_000)
