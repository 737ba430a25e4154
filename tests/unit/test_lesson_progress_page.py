"""The lesson page shows what the server knows a learner did, and keeps quiz answers.

The states come from lessons.progress (history-based checks need no engine,
so these stay in the unit tier); the page is drawn again from the database on
every request, as after a reload or a restart.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.utils.html import escape

from lessons import history, loader, progress
from lessons.models import QuizAnswer
from sandboxes import services
from sandboxes.runner import Outcome

pytestmark = pytest.mark.django_db

PYTHON_VERSION = {"image": "python:3.12-slim", "command": "python --version", "publish": False}


@pytest.fixture
def alice(client):
    user = get_user_model().objects.create_user("alice", password="a-long-Passphrase-9")
    client.force_login(user)
    return user


def _item(html: str, element_id: str) -> str:
    """The HTML of one step (<li>) or challenge (<article>) of the page."""
    match = re.search(rf'<(li|article) class="[^"]*" id="{element_id}".*?</\1>', html, re.S)
    assert match, element_id
    return match.group(0)


def test_an_anonymous_visitor_reads_the_steps_and_is_asked_to_sign_in_to_check(client):
    html = client.get("/lessons/containers/").content.decode()
    step = _item(html, "step-3")
    assert "Sign in to check your work" in step
    assert "/accounts/login/?next=/lessons/containers/%23step-3" in step
    assert "data-check-box" not in html
    # A step without checks offers nothing to check.
    assert "Sign in to check your work" not in _item(html, "step-1")
    assert "data-quiz-score" not in html


def test_a_learner_sees_every_checked_item_not_checked_yet_with_its_controls(client, alice):
    html = client.get("/lessons/building-images/").content.decode()
    lesson = loader.get_lesson("building-images")
    for number in range(1, len(lesson.steps) + 1):
        step = _item(html, f"step-{number}")
        assert 'data-check-state="not_started"' in step
        assert "Not checked yet." in step
        assert 'data-check-do="check"' in step
    # The challenge is a card with its goal and no command; hints and a solution to reveal.
    challenge = _item(html, "challenge-1")
    assert escape(lesson.challenges[0].title) in challenge
    assert "Build the sample app again" in challenge
    assert "docker build" not in challenge
    assert 'data-check-do="hint"' in challenge and ">Show a hint<" in challenge
    assert 'data-check-do="solution"' in challenge
    assert 'href="#challenges"' in html


def test_a_failing_step_shows_its_reason_and_a_done_step_stays_done_on_reload(client, alice):
    sandbox = services.sandbox_for(alice)
    failed = progress.evaluate_step(alice, "containers", 3)
    assert not failed.passed
    step = _item(client.get("/lessons/containers/").content.decode(), "step-3")
    assert 'data-check-state="failing"' in step
    assert "Not yet: " + escape(failed.results[0].reason) in step
    assert "lab-done" not in step

    history.record_action(
        alice, "run", PYTHON_VERSION, Outcome(True, exit_code=0), sandbox=sandbox
    )
    assert progress.evaluate_step(alice, "containers", 3).passed
    for _ in range(2):  # a reload draws it from the server again
        step = _item(client.get("/lessons/containers/").content.decode(), "step-3")
        assert 'class="step lab-done"' in step and 'data-check-state="done"' in step
        assert "Done: your work passed its checks." in step


def test_revealed_hints_and_the_solution_are_shown_again_after_a_reload(client, alice):
    lesson = loader.get_lesson("containers")
    challenge = lesson.challenges[0]
    progress.reveal_hint(alice, lesson, "challenge", 1)
    html = _item(client.get("/lessons/containers/").content.decode(), "challenge-1")
    # `code` in a hint is shown as code, the rest as text.
    assert challenge.hints[0].startswith("`-d` runs")
    assert "<li><code>-d</code> runs" in html
    text = re.sub(r"<[^>]+>", "", html)
    assert escape(challenge.hints[0].replace("`", "")) in text
    assert escape(challenge.hints[1].replace("`", "")) not in text
    assert ">Show another hint<" in html
    assert escape(challenge.solution[0]) not in html

    progress.reveal_solution(alice, lesson, "challenge", 1)
    html = _item(client.get("/lessons/containers/").content.decode(), "challenge-1")
    assert all(escape(line) in html for line in challenge.solution)
    assert re.search(r'data-check-do="solution" disabled hidden', html)


def test_a_signed_in_learners_quiz_answer_is_kept_scored_and_shown_on_reload(client, alice):
    lesson = loader.get_lesson("containers")
    wrong = (lesson.quiz[1].answer + 1) % len(lesson.quiz[1].options)
    response = client.post(
        "/lessons/containers/quiz/1/",
        {"answer": str(lesson.quiz[0].answer)},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 200
    assert response.json()["correct"] is True
    assert response.json()["score"] == {"correct": 1, "questions": len(lesson.quiz)}
    client.post("/lessons/containers/quiz/2/", {"answer": str(wrong)}, HTTP_ACCEPT="application/json")
    assert QuizAnswer.objects.filter(user=alice, lesson="containers").count() == 2

    html = client.get("/lessons/containers/").content.decode()
    assert f"Your score: 1 of {len(lesson.quiz)} correct." in html
    first = html[html.index('id="quiz-1"'):html.index('id="quiz-2"')]
    second = html[html.index('id="quiz-2"'):html.index('id="quiz-3"')]
    assert re.search(rf'value="{lesson.quiz[0].answer}" required\s+checked', first)
    assert "Correct." in first and escape(lesson.quiz[0].explain) in first
    assert re.search(rf'value="{wrong}" required\s+checked', second)
    assert "Not quite." in second


def test_a_quiz_answer_posted_as_a_form_is_kept_too(client, alice):
    lesson = loader.get_lesson("orchestration")
    response = client.post(
        "/lessons/orchestration/quiz/2/",
        {"answer": str(lesson.quiz[1].answer)},
        HTTP_ACCEPT="text/html",
    )
    assert response.status_code == 200
    assert "Your score: 1 of 4 correct." in response.content.decode()
    assert QuizAnswer.objects.get(user=alice, lesson="orchestration", question=2).correct


def test_an_anonymous_visitors_answer_is_graded_and_forgotten(client):
    lesson = loader.get_lesson("containers")
    response = client.post(
        "/lessons/containers/quiz/1/",
        {"answer": str(lesson.quiz[0].answer)},
        HTTP_ACCEPT="application/json",
    )
    assert response.json() == {
        "question": 1, "choice": lesson.quiz[0].answer, "correct": True,
        "explanation": lesson.quiz[0].explain,
    }
    assert not QuizAnswer.objects.exists()


def test_a_bad_answer_from_a_learner_is_refused_and_nothing_is_kept(client, alice):
    response = client.post(
        "/lessons/containers/quiz/1/", {"answer": "99"}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 400 and "option number" in response.json()["error"]
    assert not QuizAnswer.objects.exists()


def test_a_lesson_without_a_lab_loads_the_checks_script_for_its_challenge(client, alice):
    html = client.get("/lessons/orchestration/").content.decode()
    assert "js/lab/lesson-lab.js" in html
    assert 'data-kind="challenge" data-number="1"' in html
    client.logout()
    assert "js/lab/lesson-lab.js" not in client.get("/lessons/orchestration/").content.decode()
