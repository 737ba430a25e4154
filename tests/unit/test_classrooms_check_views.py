""""Check my work" and "Try these checks" over HTTP: async views that evaluate in a
worker thread and record progress. Quiz-only checks here (no engine needed); the
engine-backed path is tests/integration/test_classrooms_engine.py."""

from __future__ import annotations

import json

import pytest

from checks import evaluation
from lessons import loader, progress
from lessons.models import Progress
from tests.unit.classrooms_helpers import (
    QUIZ_CHECK,
    assign_exercise,
    classroom,
    exercise,
    member,
    user,
)

pytestmark = pytest.mark.django_db(transaction=True)
RIGHT = [q.answer for q in loader.get_lesson("orchestration").quiz]


@pytest.fixture
def setup():
    tina, leo = user("tina", trainer=True), user("leo")
    room = classroom(tina)
    member(room, leo)
    made = exercise(tina, checks=QUIZ_CHECK)
    assignment = assign_exercise(room, made)
    base = f"/classes/{room.pk}/assignments/{assignment.pk}/"
    return tina, leo, made, base


def test_check_my_work_evaluates_records_and_answers_json(client, setup):
    tina, leo, made, base = setup
    client.force_login(leo)
    answer = client.post(base + "check/", HTTP_ACCEPT="application/json")
    assert answer.status_code == 200
    data = answer.json()
    assert data["passed"] is False and data["kind"] == "exercise"
    assert "0 of 4" in data["results"][0]["reason"] and data["results"][0]["hint"]
    assert data["progress"]["state"] == "failing" and data["progress"]["attempts"] == 1
    for number, choice in enumerate(RIGHT[:3], 1):
        progress.record_quiz(leo, "orchestration", number, choice)
    data = client.post(base + "check/", HTTP_ACCEPT="application/json").json()
    assert data["passed"] is True and data["progress"]["state"] == "done"
    row = Progress.objects.get(user=leo, kind="exercise", number=made.pk)
    assert row.state == "done" and row.attempts == 2


def test_check_my_work_without_script_answers_with_the_page(client, setup):
    _, leo, _, base = setup
    client.force_login(leo)
    page = client.post(base + "check/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Not yet:" in text and "0 of 4" in text and "Hint:" in text


def test_hints_come_one_at_a_time_and_the_solution_on_request(client, setup):
    _, leo, made, base = setup
    client.force_login(leo)
    first = client.post(base + "hint/", HTTP_ACCEPT="application/json").json()
    assert first == {"hints": ["Build first."], "revealed": 1, "of": 2}
    page = client.get(base).content.decode()
    assert "Build first." in page and "Show a hint (1 left)" in page
    assert "docker run -d --name web flask-app" not in page
    assert client.post(base + "solution/").status_code == 302
    page = client.get(base).content.decode()
    assert "docker run -d --name web flask-app" in page
    row = Progress.objects.get(user=leo, kind="exercise", number=made.pk)
    assert row.hints_revealed == 1 and row.solution_revealed


def test_too_many_checks_in_flight_is_a_clear_429(client, setup, monkeypatch):
    _, leo, _, base = setup
    client.force_login(leo)
    monkeypatch.setitem(evaluation._in_flight, leo.pk, evaluation.MAX_IN_FLIGHT_PER_USER)
    answer = client.post(base + "check/", HTTP_ACCEPT="application/json")
    assert answer.status_code == 429
    assert "still running" in answer.json()["error"]["message"]


def test_try_runs_the_checks_as_written_in_the_trainers_own_context(client, setup):
    tina, leo, _, _ = setup
    for number, choice in enumerate(RIGHT, 1):
        progress.record_quiz(leo, "orchestration", number, choice)  # leo's, not tina's
    client.force_login(tina)
    answer = client.post(
        "/classes/exercises/try/",
        json.dumps({"checks": QUIZ_CHECK}),
        content_type="application/json",
    )
    assert answer.status_code == 200
    data = answer.json()
    assert data["passed"] is False and "0 of 4" in data["results"][0]["reason"]
    assert not Progress.objects.filter(user=tina).exists()  # trying records nothing


@pytest.mark.parametrize(
    "body, status, field",
    [
        (json.dumps({"checks": [{"check": "container_running", "with": {"name": "web", "port": "x"}}]}),
         400, "checks[0].with.port"),
        ("{not json", 400, ""),
        (json.dumps([1, 2]), 400, "checks"),
        (json.dumps({"checks": [{"check": "image_exists", "with": {"image": "x" * 70000}}]}),
         413, ""),
    ],
)
def test_try_refuses_bad_checks_naming_the_field(client, setup, body, status, field):
    client.force_login(setup[0])
    answer = client.post("/classes/exercises/try/", body, content_type="application/json")
    assert answer.status_code == status
    error = answer.json()["error"]
    assert error["message"] and error["field"] == field
