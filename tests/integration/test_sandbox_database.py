"""The networking lesson in a sandbox: the app reaches MariaDB by the name "db".

Both containers run under the sandbox's limits (memory, CPU, pids, no
privileges) on the sandbox's own network, where container names resolve.
"""

from __future__ import annotations

import pytest

from sandboxes import services
from tests.integration.http import answer, ok, wait_for_answer
from tests.integration.learners import two_learners

pytestmark = pytest.mark.integration

DB_ENV = {
    "MARIADB_ROOT_PASSWORD": "root-secret",
    "MARIADB_DATABASE": "visits",
    "MARIADB_USER": "flask",
    "MARIADB_PASSWORD": "flask-secret",
}
APP_ENV = {
    "MYSQL_HOST": "db",
    "MYSQL_USER": "flask",
    "MYSQL_PASSWORD": "flask-secret",
    "MYSQL_DATABASE": "visits",
}


@pytest.fixture(scope="module")
def learners(django_db_setup, django_db_blocker):
    with two_learners(django_db_blocker, "database") as (_, sandboxes):
        yield sandboxes


def test_the_app_counts_visits_in_the_sandboxes_database_reached_by_name(learners):
    alice, bob = learners
    events = list(services.build_image(alice, "flask-app"))
    assert events[-1]["kind"] == "done", events[-3:]

    db = services.run_container(alice, "mariadb:11", name="db", port=None, env=DB_ENV)
    assert db["ports"] == []  # the database is only reachable inside the sandbox
    web = services.run_container(alice, "flask-app", name="web", env=APP_ENV)
    port = services.published_port(alice, "web")
    url = f"http://127.0.0.1:{port}/"
    first = wait_for_answer(url, ok, timeout=90)[1]
    assert "visited 1 time." in first, first
    assert "visited 2 times." in answer(url)[1]
    assert web["name"] == "web"

    # Another learner's app cannot reach alice's database by that name.
    list(services.build_image(bob, "flask-app"))
    services.run_container(bob, "flask-app", name="web", env=APP_ENV)
    bob_url = f"http://127.0.0.1:{services.published_port(bob, 'web')}/"
    status, body = wait_for_answer(bob_url, timeout=30)
    assert status == 503 and "not answering" in body, body


def test_the_databases_data_volume_is_the_sandboxes_and_goes_with_the_container(learners):
    from engine import client

    alice, _ = learners
    services.run_container(alice, "mariadb:11", name="db2", port=None, env=DB_ENV)
    raw = services.inspect(alice, "container", "db2")
    mounts = [m for m in raw["Mounts"] if m.get("Destination") == "/var/lib/mysql"]
    assert len(mounts) == 1 and mounts[0]["Type"] == "volume"
    assert "Source" not in mounts[0]  # no folder of the server is shown
    with client.translate_errors():
        volume = client.api().inspect_volume(mounts[0]["Name"])
    assert volume["Labels"]["org.dockerlab.sandbox"] == alice.sid
    services.remove_container(alice, "db2")
    with client.translate_errors():
        left = client.api().volumes(filters={"name": mounts[0]["Name"]})["Volumes"] or []
    assert left == []
