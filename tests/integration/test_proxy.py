"""The authenticated app proxy against a real running sample container.

alice runs the sample app as `web`; only she reaches it, through the site,
under her login. bob (with no such container) and anonymous visitors do not.
"""

from __future__ import annotations

import time

import pytest

from sandboxes import services
from tests.integration.learners import two_learners

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture(scope="module")
def users(django_db_setup, django_db_blocker):
    with two_learners(django_db_blocker, "proxy") as (pair, _):
        yield pair


@pytest.fixture(scope="module")
def web(users):
    """alice's sample app, running as `web` and answering on its published port."""
    sandbox = users[0].sandbox
    events = list(services.build_image(sandbox, "flask-app"))
    assert events[-1]["kind"] == "done", events[-3:]
    view = services.run_container(sandbox, "flask-app", name="web")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if "Running on" in services.read_logs(sandbox, "web", tail=50):
            return view
        time.sleep(0.3)
    pytest.fail("the sample app did not start within 20 s")


@pytest.fixture
def as_alice(client, users):
    client.force_login(users[0])
    return client


@pytest.fixture
def as_bob(client, users):
    client.force_login(users[1])
    return client


def test_the_greeting_comes_through(as_alice, web):
    response = as_alice.get("/sandbox/app/web/")
    assert response.status_code == 200
    assert (
        b"Hello from Docker! This is container " + web["id"].encode()
        in response.content
    )
    assert response["Content-Security-Policy"].startswith("sandbox")
    assert "Set-Cookie" not in response


def test_an_app_opened_right_after_run_is_waited_for_while_it_starts(as_alice, users, web):
    sandbox = users[0].sandbox
    services.run_container(sandbox, "flask-app", name="fresh")
    try:
        # No wait for the app's first log line: the proxy waits for it to listen.
        response = as_alice.get("/sandbox/app/fresh/")
        assert response.status_code == 200
        assert b"Hello from Docker!" in response.content
    finally:
        services.remove_container(sandbox, "fresh")


def test_the_path_and_query_reach_the_app(as_alice, web):
    assert as_alice.get("/sandbox/app/web/?visit=1&x=%20y").status_code == 200
    missing = as_alice.get("/sandbox/app/web/no/such/page")
    assert missing.status_code == 404
    assert b"Back to your sandbox" not in missing.content  # the app's own 404
    assert as_alice.post("/sandbox/app/web/", data={"a": "1"}).status_code == 405


def test_a_path_cannot_change_the_host(as_alice, web):
    for path in ("//127.0.0.1:1/", "/http://example.invalid/", "/..%2f..%2f/x"):
        response = as_alice.get("/sandbox/app/web" + path)
        assert response.status_code in (404, 405), path
        assert b"Back to your sandbox" not in response.content  # answered by the app


def test_the_app_is_found_by_container_id_too(as_alice, web):
    assert as_alice.get(f"/sandbox/app/{web['id']}/").status_code == 200


def test_another_users_container_is_a_404_like_an_unknown_one(as_bob, users, web):
    theirs = as_bob.get("/sandbox/app/web/")
    assert theirs.status_code == 404
    assert b"Hello from Docker" not in theirs.content
    by_id = as_bob.get(f"/sandbox/app/{web['id']}/")
    assert by_id.status_code == 404
    unknown = as_bob.get("/sandbox/app/nothing-here/")
    assert unknown.status_code == 404
    assert theirs.content == unknown.content.replace(b"nothing-here", b"web")


def test_a_hostile_container_name_is_a_404(as_alice, web):
    for name in ("UPPER", "a;b", "x" * 100, ".."):
        assert as_alice.get(f"/sandbox/app/{name}/").status_code == 404


def test_an_anonymous_visitor_is_sent_to_log_in(client, web):
    response = client.get("/sandbox/app/web/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    assert "next=" in response["Location"]


def test_a_stopped_app_is_a_clear_502(as_alice, users, web):
    sandbox = users[0].sandbox
    services.run_container(sandbox, "flask-app", name="stopped")
    services.stop_container(sandbox, "stopped", timeout=1)
    response = as_alice.get("/sandbox/app/stopped/")
    assert response.status_code == 502
    assert b"not running" in response.content
    services.remove_container(sandbox, "stopped")


def test_an_app_that_does_not_listen_is_a_clear_502(as_alice, users, web):
    sandbox = users[0].sandbox
    # Up and running, but nothing listens on the app port.
    events = list(
        services.build_image(
            sandbox, "quiet", 'FROM python:3.12-slim\nCMD ["sleep", "300"]\n'
        )
    )
    assert events[-1]["kind"] == "done", events[-3:]
    services.run_container(sandbox, "quiet", name="quiet")
    try:
        response = as_alice.get("/sandbox/app/quiet/")
        assert response.status_code == 502
        assert b"not answering" in response.content
    finally:
        services.remove_container(sandbox, "quiet")


def test_an_oversized_body_is_refused(as_alice, web):
    response = as_alice.post(
        "/sandbox/app/web/", data=b"x" * (1024 * 1024 + 1), content_type="text/plain"
    )
    assert response.status_code == 413
