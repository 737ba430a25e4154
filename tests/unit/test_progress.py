"""Progress that lasts: checked steps and challenges, hints, solutions, quizzes, lab history.

These use checks that need no engine (quiz answers and the lab history), so
they run in the unit tier; the engine-backed checks are in
tests/integration/test_checks_engine.py.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from lessons import history, loader, progress
from lessons.models import LabAction, Progress, QuizAnswer
from lessons.quiz import QuizInputError
from sandboxes import services
from sandboxes.runner import Outcome

pytestmark = pytest.mark.django_db

ORCHESTRATION_RIGHT = [q.answer for q in loader.get_lesson("orchestration").quiz]


@pytest.fixture
def alice():
    return get_user_model().objects.create_user("alice")


def _answer(user, rights: int) -> None:
    lesson = loader.get_lesson("orchestration")
    for number, question in enumerate(lesson.quiz, 1):
        choice = (
            question.answer if number <= rights else (question.answer + 1) % len(question.options)
        )
        progress.record_quiz(user, lesson, number, choice)


def test_a_quiz_answer_is_graded_kept_and_scored(alice):
    feedback = progress.record_quiz(alice, "orchestration", 1, 3)
    assert feedback["correct"] is False and feedback["score"] == {"correct": 0, "questions": 4}
    feedback = progress.record_quiz(alice, "orchestration", "1", str(ORCHESTRATION_RIGHT[0]))
    assert feedback["correct"] is True and feedback["score"]["correct"] == 1
    answer = QuizAnswer.objects.get(user=alice, lesson="orchestration", question=1)
    assert (answer.choice, answer.correct, answer.attempts, answer.first_correct) == (
        0,
        True,
        2,
        False,
    )
    with pytest.raises(QuizInputError, match="no question 9"):
        progress.record_quiz(alice, "orchestration", 9, 0)
    with pytest.raises(QuizInputError):
        progress.record_quiz(alice, "orchestration", 1, "DROP TABLE")
    with pytest.raises(progress.ProgressError):
        progress.record_quiz(alice, "no-such-lesson", 1, 0)


def test_a_quiz_challenge_fails_until_the_quiz_is_passed_and_then_stays_done(alice):
    evaluation = progress.evaluate_challenge(alice, "orchestration", 1)
    assert not evaluation.passed
    assert "0 of 4" in evaluation.results[0].reason and evaluation.results[0].hint
    row = Progress.objects.get(user=alice, lesson="orchestration", kind="challenge", number=1)
    assert (row.state, row.attempts) == (Progress.FAILING, 1) and "0 of 4" in row.reason

    _answer(alice, rights=3)
    evaluation = progress.evaluate_challenge(alice, "orchestration", 1)
    assert evaluation.passed and evaluation.progress["state"] == Progress.DONE
    row.refresh_from_db()
    assert (row.state, row.attempts, row.reason) == (Progress.DONE, 2, "") and row.done_at

    # Done stays done: later work may undo earlier work on purpose.
    _answer(alice, rights=1)
    evaluation = progress.evaluate_challenge(alice, "orchestration", 1)
    assert not evaluation.passed
    row.refresh_from_db()
    assert row.state == Progress.DONE and row.attempts == 3 and "1 of 4" in row.reason
    assert evaluation.as_dict()["results"][0]["check"] == "quiz_passed"


def test_a_one_off_command_counts_from_the_recorded_history_of_this_sandbox(alice):
    sandbox = services.sandbox_for(alice)
    run = {"image": "python:3.12-slim", "command": "python --version", "publish": False}
    evaluation = progress.evaluate_step(alice, "containers", 3)
    assert (
        not evaluation.passed and "have not run `python --version`" in evaluation.results[0].reason
    )

    # Evidence from another sandbox (an earlier one) does not count.
    LabAction.objects.create(
        user=alice,
        sandbox="0000000000",
        action="run",
        args=run,
        command="docker run ...",
        ok=True,
        exit_code=0,
    )
    assert not progress.evaluate_step(alice, "containers", 3).passed

    history.record_action(
        alice, "run", run, Outcome(False, "Exited with code 1.", exit_code=1), sandbox=sandbox
    )
    evaluation = progress.evaluate_step(alice, "containers", 3)
    assert "exited with code 1, not 0" in evaluation.results[0].reason

    history.record_action(alice, "run", run, Outcome(True, "Exited with code 0.", exit_code=0))
    assert progress.evaluate_step(alice, "containers", 3).passed


def test_hints_come_one_at_a_time_and_solutions_are_recorded_when_revealed(alice):
    lesson = loader.get_lesson("containers")
    first = progress.reveal_hint(alice, lesson, "challenge", 1)
    assert first == {"hints": [lesson.challenges[0].hints[0]], "revealed": 1, "of": 3}
    for _ in range(5):
        last = progress.reveal_hint(alice, lesson, "challenge", 1)
    assert last["revealed"] == 3 and last["hints"] == list(lesson.challenges[0].hints)
    assert progress.reveal_solution(alice, lesson, "challenge", 1) == {
        "lines": list(lesson.challenges[0].solution)
    }
    row = Progress.objects.get(user=alice, lesson="containers", kind="challenge", number=1)
    assert (row.hints_revealed, row.solution_revealed, row.state) == (3, True, Progress.NOT_STARTED)
    assert row.started_at is not None
    assert progress.reveal_solution(alice, lesson, "step", 3)["lines"] == list(
        lesson.steps[2].solution
    )
    with pytest.raises(progress.ProgressError, match="no hints"):
        progress.reveal_hint(alice, lesson, "step", 1)


@pytest.mark.parametrize(
    ("lesson", "kind", "number", "code"),
    [
        ("no-such", "step", 1, "not_found"),
        ("../etc", "step", 1, "not_found"),
        ("containers", "step", 0, "not_found"),
        ("containers", "step", 4, "not_found"),
        ("containers", "step", True, "not_found"),
        ("containers", "step", "1", "not_found"),
        ("containers", "quiz", 1, "bad_request"),
        ("containers", "step", 1, "nothing_to_check"),
    ],
)
def test_a_step_that_does_not_exist_or_has_nothing_to_check_is_refused(
    alice, lesson, kind, number, code
):
    with pytest.raises(progress.ProgressError) as caught:
        progress.evaluate_item(alice, lesson, kind, number)
    assert caught.value.code == code
    assert not Progress.objects.exists()


def test_an_anonymous_visitor_has_nothing_checked_or_kept():
    from django.contrib.auth.models import AnonymousUser

    for call, args in [
        (progress.evaluate_challenge, ("orchestration", 1)),
        (progress.reveal_hint, ("containers", "challenge", 1)),
        (progress.reveal_solution, ("containers", "challenge", 1)),
        (progress.record_quiz, ("containers", 1, 1)),
    ]:
        with pytest.raises(progress.ProgressError) as caught:
            call(AnonymousUser(), *args)
        assert caught.value.code == "login_required"
    assert not Progress.objects.exists() and not QuizAnswer.objects.exists()


def test_progress_lists_every_lesson_and_the_next_thing_to_do(alice):
    report = progress.progress_for(alice)
    assert [lesson["slug"] for lesson in report["lessons"]] == [
        lesson.slug for lesson in loader.all_lessons()
    ]
    assert report["next"] == {
        "lesson": "containers",
        "kind": "step",
        "number": 3,
        "title": "Start a container and list it",
        "anchor": "#step-3",
    }
    first = report["lessons"][0]
    assert [s["checked"] for s in first["steps"]] == [False, False, True]
    questions = len(loader.get_lesson("containers").quiz)
    assert first["quiz"] == {"questions": questions, "answered": 0, "correct": 0, "first_try": 0}
    assert first["checked_total"] == 2 and not first["done"]

    Progress.objects.create(
        user=alice, lesson="containers", kind="step", number=3, state=Progress.DONE
    )
    assert progress.progress_for(alice)["next"]["kind"] == "challenge"


def test_a_dashboard_of_many_learners_costs_the_same_queries_as_one(django_assert_num_queries):
    users = get_user_model()
    learners = [users.objects.create_user(f"learner{i}") for i in range(30)]
    for index, learner in enumerate(learners):
        Progress.objects.create(
            user=learner,
            lesson="containers",
            kind="step",
            number=3,
            state=Progress.DONE if index % 2 else Progress.FAILING,
        )
        QuizAnswer.objects.create(
            user=learner,
            lesson="containers",
            question=1,
            choice=1,
            correct=True,
            first_correct=True,
        )
    with django_assert_num_queries(2):
        few = progress.progress_table(learners[:3])
    with django_assert_num_queries(2):
        table = progress.progress_table(learners)
    assert len(few) == 3 and len(table) == 30
    states = [table[u.pk]["lessons"][0]["steps"][2]["state"] for u in learners[:2]]
    assert states == [Progress.FAILING, Progress.DONE]
    assert table[learners[0].pk]["lessons"][0]["quiz"]["correct"] == 1


def test_the_history_keeps_what_the_lab_did_bounded_and_as_docker_commands(alice):
    huge = "FROM python:3.12-slim\n" + "RUN true\n" * 8000
    entry = history.record_action(
        alice,
        "build",
        {"tag": "flask-app:v2", "dockerfile": huge},
        Outcome(True, "x" * 5000, output="y" * 9000),
    )
    assert entry.args["tag"] == "flask-app:v2"
    assert (
        entry.args["dockerfile"]["chars"] == len(huge)
        and len(entry.args["dockerfile"]["sha256"]) == 64
    )
    assert entry.command == "docker build -t flask-app:v2 .  # with your own Dockerfile"
    assert len(entry.message) == 1000 and len(entry.output) == 4000
    history.record_action(
        alice, "run", {"image": "flask-app", "name": "web", "port": 5002}, Outcome(True)
    )
    assert [h["command"] for h in history.history_for(alice)] == [
        "docker run -d --name web -p 127.0.0.1:5002:5002 flask-app",
        "docker build -t flask-app:v2 .  # with your own Dockerfile",
    ]
    with pytest.raises(ValueError, match="not a lab action"):
        history.record_action(alice, "format_disk", {}, Outcome(True))


def test_the_history_of_a_learner_is_trimmed_to_its_newest_entries(alice, monkeypatch):
    monkeypatch.setattr(history, "KEEP", 10)
    for _ in range(60):
        history.record_action(alice, "state", {}, Outcome(True))
    assert 10 <= LabAction.objects.filter(user=alice).count() <= 60
    assert LabAction.objects.filter(user=alice).count() < 60
