"""Quiz answers are graded on the server: a pure function and a JSON endpoint."""

from __future__ import annotations

import dataclasses
import json

import pytest

from lessons import loader
from lessons.quiz import QuizInputError, grade, question_for

QUESTION = loader.Question(question="Pick b", options=("a", "b", "c"), answer=1,
                           explain="b is right.")


def test_it_grades_a_right_answer():
    feedback = grade(QUESTION, "1", number=2)
    assert feedback.correct is True
    assert feedback.as_dict() == {"question": 2, "choice": 1, "correct": True,
                                  "explanation": "b is right."}


def test_it_grades_a_wrong_answer_with_the_explanation():
    feedback = grade(QUESTION, 2)
    assert feedback.correct is False
    assert feedback.explanation == "b is right."


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("x", "must be a whole number"),
        ("1.0", "must be a whole number"),
        ("", "is missing"),
        (None, "is missing"),
        (True, "must be a whole number"),
        ("3", "from 0 to 2"),
        ("-1", "from 0 to 2"),
        ("99999999999999999999", "must be a whole number"),
        ("١", "must be a whole number"),
    ],
)
def test_it_rejects_bad_answers_clearly(raw, message):
    with pytest.raises(QuizInputError, match=message):
        grade(QUESTION, raw)


def test_question_numbers_are_one_based_and_checked():
    lesson = loader.get_lesson("containers")
    number, question = question_for(lesson, "1")
    assert number == 1 and question is lesson.quiz[0]
    with pytest.raises(QuizInputError, match="no question 0"):
        question_for(lesson, "0")
    with pytest.raises(QuizInputError, match=f"questions 1 to {len(lesson.quiz)}"):
        question_for(lesson, str(len(lesson.quiz) + 1))


@pytest.fixture
def quizless():
    """Every lesson of the course has a quiz: a copy of one without its quiz."""
    previous = loader.all_lessons()
    lesson = dataclasses.replace(loader.get_lesson("commands"), slug="quizless", order=99, quiz=())
    loader.install([*previous, lesson])
    yield lesson
    loader.install(previous)


def test_a_lesson_without_a_quiz_has_no_questions(quizless):
    with pytest.raises(QuizInputError, match="no quiz"):
        question_for(quizless, "1")


def _url(number=1, slug="containers"):
    return f"/lessons/{slug}/quiz/{number}/"


def test_the_endpoint_says_when_an_answer_is_right(client):
    question = loader.get_lesson("containers").quiz[0]
    response = client.post(_url(), {"answer": str(question.answer)})
    assert response.status_code == 200
    data = response.json()
    assert data["correct"] is True
    assert data["explanation"] == question.explain


def test_the_endpoint_says_when_an_answer_is_wrong(client):
    question = loader.get_lesson("containers").quiz[0]
    wrong = (question.answer + 1) % len(question.options)
    data = client.post(_url(), {"answer": str(wrong)}).json()
    assert data["correct"] is False
    assert data["explanation"] == question.explain


def test_the_endpoint_accepts_a_json_body(client):
    question = loader.get_lesson("orchestration").quiz[0]
    response = client.post(_url(1, "orchestration"), json.dumps({"answer": question.answer}),
                           content_type="application/json")
    assert response.json()["correct"] is True


@pytest.mark.parametrize(
    ("url", "data", "message"),
    [
        (_url(), {"answer": "abc"}, "the answer must be a whole number"),
        (_url(), {"answer": "17"}, "the answer must be an option number"),
        (_url(), {}, "the answer is missing"),
        (_url("x"), {"answer": "0"}, "the question number must be a whole number"),
        (_url(42), {"answer": "0"}, "there is no question 42"),
    ],
)
def test_the_endpoint_answers_bad_input_with_a_400_and_a_message(client, url, data, message):
    response = client.post(url, data)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert message in response.json()["error"]


def test_the_endpoint_rejects_malformed_json(client):
    response = client.post(_url(), "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]


def test_the_endpoint_404s_for_an_unknown_lesson(client):
    response = client.post(_url(1, "no-such-lesson"), {"answer": "0"})
    assert response.status_code == 404
    assert response.json() == {"error": "no such lesson"}


def test_the_endpoint_only_accepts_posts(client):
    assert client.get(_url()).status_code == 405


def test_a_form_post_without_javascript_shows_feedback_in_the_page(client):
    question = loader.get_lesson("vms-vs-containers").quiz[0]
    response = client.post(_url(1, "vms-vs-containers"), {"answer": str(question.answer)},
                           HTTP_ACCEPT="text/html,application/xhtml+xml")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Correct." in html
    assert 'id="quiz-1"' in html


def test_a_bad_form_post_without_javascript_shows_the_error_in_the_page(client):
    response = client.post(_url(1, "vms-vs-containers"), {}, HTTP_ACCEPT="text/html")
    assert response.status_code == 400
    assert "The answer is missing." in response.content.decode()


def test_the_endpoint_says_when_a_lesson_has_no_quiz(client, quizless):
    response = client.post(_url(1, quizless.slug), {"answer": "0"})
    assert response.status_code == 400
    assert "this lesson has no quiz" in response.json()["error"]
