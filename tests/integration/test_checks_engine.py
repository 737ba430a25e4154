"""Checks on the real engine are not fooled, and pass in the right situation.

alice and bob each have a sandbox. Lookalikes are made on purpose: a `web`
from the wrong image, an app answering the wrong text, a stopped container,
bob's `web` while alice has none, a fake registry, a compose lookalike.
Every check looks at the caller's own sandbox only, says why it fails, and
passes once the situation is right. The probe behind `reaches` leaves
nothing behind and never touches bob's sandbox.
"""

from __future__ import annotations

import contextlib
import time

import pytest
from django.conf import settings

from checks.base import validate
from checks.context import Context
from checks.evaluation import evaluate
from checks.vocabulary.reach import PROBE_LABEL, probe
from engine import client
from lessons import history
from sandboxes import services
from sandboxes.commands import parse_line
from sandboxes.runner import Outcome, run_line
from sandboxes.services.containers import own_containers
from tests.integration.learners import two_learners

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

IMPOSTOR = (
    "import http.server as h; "
    "H = type('H', (h.BaseHTTPRequestHandler,), {'do_GET': lambda s: (s.send_response(200), "
    "s.end_headers(), s.wfile.write(b'Goodbye from an impostor'))}); "
    "h.HTTPServer(('0.0.0.0', 5002), H).serve_forever()"
)
SILENT = "import socket, time; s = socket.socket(); s.bind(('0.0.0.0', {port})); s.listen(); time.sleep(600)"
DRIP = (
    "import socket, time; s = socket.socket(); s.bind(('0.0.0.0', 5002)); s.listen(); "
    "c, _ = s.accept(); [(c.send(b'H'), time.sleep(0.5)) for _ in range(1000)]"
)
LABELLED = (
    open(settings.DOCKERLAB_SAMPLE_APP_DIR / "Dockerfile").read() + 'LABEL course="docker-101"\n'
)
BIG = "FROM flask-app\nRUN head -c 5000000 /dev/zero > /ballast\n"


@pytest.fixture(scope="module")
def learners(django_db_setup, django_db_blocker):
    with two_learners(django_db_blocker, "checks") as (users, sandboxes):
        for sandbox in sandboxes:
            events = list(services.build_image(sandbox, "flask-app"))
            assert events[-1]["kind"] == "done", events[-3:]
        yield list(zip(users, sandboxes, strict=True))


def check(learner, check_name: str, /, **params):
    user, sandbox = learner
    (result,) = evaluate(
        [validate({"check": check_name, "with": params})], user=user, sandbox=sandbox
    )
    return result


def do(learner, line: str) -> None:
    """Run a lab line as the lab would, recording it in the learner's history."""
    user, sandbox = learner
    for action, outcome in run_line(sandbox, parse_line(line)):
        history.record_action(user, action.action, action.args, outcome, sandbox=sandbox)
        assert outcome.ok, (line, outcome.message)


@contextlib.contextmanager
def running(learner, name: str, image: str = "python:3.12-slim", command=None, port=None):
    _, sandbox = learner
    services.run_container(sandbox, image, name=name, command=command, port=port)
    try:
        yield
    finally:
        with contextlib.suppress(services.NotInSandbox):
            services.remove_container(sandbox, name)


def _wait_for(learner, check_name: str, /, **params):
    deadline = time.monotonic() + 30
    while True:
        result = check(learner, check_name, **params)
        if result.passed or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def test_a_web_from_the_wrong_image_is_not_taken_for_the_app(learners):
    alice = learners[0]
    with running(alice, "web", command=["sleep", "600"]):
        result = check(alice, "container_running", name="web", image="flask-app", port=5002)
        assert not result.passed
        assert result.reason == "web runs python:3.12-slim, not your flask-app image."
        assert "docker rm -f web" in result.hint
    with running(alice, "web", image="flask-app", port=5002):
        assert check(alice, "container_running", name="web", image="flask-app", port=5002).passed
        assert _wait_for(alice, "http_answers", container="web", text="Hello from Docker").passed
        assert check(alice, "logs_contain", container="web", text="Running on").passed
        missing = check(alice, "logs_contain", container="web", text="Traceback")
        assert not missing.passed and "do not contain “Traceback”" in missing.reason
        wrong_env = check(alice, "container_running", name="web", env={"MYSQL_HOST": "db"})
        assert wrong_env.reason == "web has no environment variable MYSQL_HOST."
        # A new build under the same name: web still runs the old one.
        events = list(services.build_image(alice[1], "flask-app", LABELLED))
        assert events[-1]["kind"] == "done", events[-3:]
        stale = check(alice, "container_running", name="web", image="flask-app")
        assert not stale.passed and "runs an older build of flask-app" in stale.reason


def test_an_app_with_the_wrong_text_or_status_does_not_pass(learners):
    alice = learners[0]
    with running(alice, "impostor", command=["python", "-c", IMPOSTOR], port=5002):
        assert _wait_for(alice, "http_answers", container="impostor").passed  # it answers ...
        result = check(alice, "http_answers", container="impostor", text="Hello from Docker")
        assert not result.passed  # ... but not as the app would
        assert result.reason == (
            "impostor answered 200, but without “Hello from Docker”: it said “Goodbye from an impostor”."
        )
        wrong_status = check(alice, "http_answers", container="impostor", status=404)
        assert wrong_status.reason.startswith("impostor answered 200, not 404")
        assert check(alice, "http_answers", container="impostor", text="Goodbye").passed


def test_a_stopped_container_does_not_count_as_running_and_removal_needs_the_lab(learners):
    alice = learners[0]
    with running(alice, "web", image="flask-app", port=5002):
        services.stop_container(alice[1], "web", timeout=1)
        result = check(alice, "container_running", name="web")
        assert not result.passed and result.reason.startswith(
            "web exists but is not running (Exited"
        )
        answer = check(alice, "http_answers", container="web")
        assert not answer.passed and "web is not running" in answer.reason
        assert check(alice, "container_stopped", name="web").passed
        assert not check(alice, "container_removed", name="web").passed
        # Removed behind the lab's back: gone, but not by the learner's hand in the lab.
        services.remove_container(alice[1], "web")
        unrecorded = check(alice, "container_removed", name="web")
        assert unrecorded.reason == "You have not removed a container called web in the lab yet."
    do(alice, "docker run -d --name web flask-app")
    do(alice, "docker rm -f web")
    assert check(alice, "container_removed", name="web").passed


def test_a_lookalike_in_another_sandbox_does_not_count(learners):
    alice, bob = learners
    with running(bob, "web", image="flask-app", port=5002):
        assert check(bob, "container_running", name="web", image="flask-app", port=5002).passed
        assert _wait_for(bob, "http_answers", container="web", text="Hello").passed
        for name, params in [
            ("container_running", {"name": "web"}),
            ("http_answers", {"container": "web"}),
            ("logs_contain", {"container": "web", "text": "Running on"}),
            ("container_stopped", {"name": "web"}),
        ]:
            result = check(alice, name, **params)
            assert not result.passed
            assert result.reason == "There is no container called web in your sandbox.", name


def test_an_app_listening_on_loopback_inside_its_container_is_named_as_the_cause(learners):
    alice = learners[0]
    command = ["python", "-m", "http.server", "5002", "--bind", "127.0.0.1"]
    with running(alice, "local", command=command, port=5002):
        result = check(alice, "http_answers", container="local", timeout=2)
        assert not result.passed and not result.timed_out
        assert (
            result.reason
            == "Nothing answers on port 5002 inside local: is the app listening on 0.0.0.0?"
        )


def test_an_app_that_never_answers_or_drips_its_answer_fails_with_a_timeout(learners):
    alice = learners[0]
    with (
        running(alice, "silent", command=["python", "-c", SILENT.format(port=5002)], port=5002),
        running(alice, "drip", command=["python", "-c", DRIP], port=5002),
    ):
        time.sleep(1.5)  # let them bind
        for name in ("silent", "drip"):
            started = time.monotonic()
            result = check(alice, "http_answers", container=name, timeout=2)
            assert time.monotonic() - started < 6, name
            assert not result.passed and result.timed_out, (name, result.reason)
            assert "did not answer within 2 s" in result.reason


def test_reaching_a_container_by_name_is_shown_by_a_probe_that_leaves_nothing(learners):
    alice, bob = learners
    api = client.api()
    listener = ["python", "-c", SILENT.format(port=3306)]
    with (
        running(alice, "front", command=["sleep", "600"]),
        running(alice, "db", command=listener),
        running(bob, "vault", command=listener),
    ):
        before = {s.sid: {c["Id"]: c["State"] for c in own_containers(s)} for _, s in learners}
        bobs_network = set(api.inspect_network(bob[1].network)["Containers"])
        time.sleep(1)  # let db bind
        assert check(alice, "reaches", **{"from": "front", "to": "db", "port": 3306}).passed
        closed = check(alice, "reaches", **{"from": "front", "to": "db", "port": 3307})
        assert not closed.passed and "nothing listens on port 3307 inside it" in closed.reason
        ghost = check(alice, "reaches", **{"from": "front", "to": "vault", "port": 3306})
        assert ghost.reason.startswith("There is no container called vault in your sandbox")
        # Even pointed at bob's address directly, a probe in alice's network gets nowhere.
        address = next(
            iter(
                api.inspect_container(services.find_container(bob[1], "vault")["Id"])[
                    "NetworkSettings"
                ]["Networks"].values()
            )
        )["IPAddress"]
        context = Context(user=alice[0], sandbox=alice[1], deadline=time.monotonic() + 20)
        assert probe(context, address, 3306, 2) in ("timeout", "refused")
        after = {s.sid: {c["Id"]: c["State"] for c in own_containers(s)} for _, s in learners}
        assert after == before
        assert set(api.inspect_network(bob[1].network)["Containers"]) == bobs_network
    probes = api.containers(
        all=True,
        filters={
            "label": [
                f"{PROBE_LABEL}=1",
                f"org.dockerlab.deployment={settings.DOCKERLAB_DEPLOYMENT}",
            ]
        },
    )
    assert probes == []


def test_image_checks_compare_the_build_and_the_sizes(learners):
    alice = learners[0]
    sandbox = alice[1]
    events = list(services.build_image(sandbox, "flask-app", LABELLED))
    assert events[-1]["kind"] == "done"
    own = check(alice, "image_exists", image="flask-app", dockerfile="Dockerfile")
    assert not own.passed and "was not built from the sample's Dockerfile" in own.reason
    assert check(alice, "image_exists", image="flask-app", labels={"course": "docker-101"}).passed
    label = check(alice, "image_exists", image="flask-app", labels={"course": "docker-202"})
    assert label.reason == "flask-app has the label course='docker-101', not course=docker-202."

    assert list(services.build_image(sandbox, "flask-app"))[-1]["kind"] == "done"
    assert check(alice, "image_exists", image="flask-app", dockerfile="Dockerfile").passed
    multi = check(alice, "image_exists", image="flask-app", dockerfile="Dockerfile.multistage")
    assert (
        not multi.passed and "was not built from the sample's Dockerfile.multistage" in multi.reason
    )
    assert (
        check(alice, "image_exists", image="nothing-here").reason
        == "There is no image nothing-here in your sandbox."
    )

    assert list(services.build_image(sandbox, "big", BIG))[-1]["kind"] == "done"
    assert check(alice, "image_smaller", image="flask-app", than="big").passed
    larger = check(alice, "image_smaller", image="big", than="flask-app")
    assert not larger.passed and "big is not smaller than flask-app" in larger.reason
    assert check(alice, "image_smaller", image="big", than="flask-app", tolerance_percent=5).passed

    assert not check(alice, "image_removed", image="big").passed
    services.remove_image(sandbox, "big")
    assert (
        "have not removed an image big in the lab"
        in check(alice, "image_removed", image="big").reason
    )
    do(alice, "docker build -t big2 .")
    do(alice, "docker rmi big2")
    assert check(alice, "image_removed", image="big2").passed


def test_a_registry_lookalike_or_a_compose_lookalike_is_not_taken_for_the_real_thing(learners):
    alice = learners[0]
    user, sandbox = alice
    ref = "127.0.0.1:5000/flask-app:v1"
    with running(alice, "fake", command=["python", "-m", "http.server", "5000"], port=5000):
        history.record_action(user, "push", {"image": ref}, Outcome(True, ref), sandbox=sandbox)
        result = check(alice, "image_pushed", image=ref)
        assert result.reason == "127.0.0.1:5000 is served by fake, which does not run registry:2."
    nothing = check(alice, "image_pushed", image="127.0.0.1:5000/flask-app:v2")
    assert nothing.reason.startswith(
        "You have not pushed 127.0.0.1:5000/flask-app:v2 in the lab yet"
    )
    with running(alice, "flaskapp-web-1", image="flask-app", port=5002):
        result = check(alice, "compose_up", services=["web"])
        assert result.reason == "The compose project flaskapp has no containers: it is not up."
