"""The class dashboard: learners x assigned items with state, reason and overdue work;
its CSV; a learner's detail; a query count that does not grow with the class."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from classrooms import dashboard
from lessons import loader
from lessons.history import record_action
from lessons.models import Progress, QuizAnswer
from sandboxes.runner import Outcome
from tests.unit.classrooms_helpers import (
    assign_exercise,
    assign_lesson,
    classroom,
    exercise,
    member,
    user,
)

pytestmark = pytest.mark.django_db


def _progress(learner, kind, lesson, number, state, reason="", **fields):
    now = timezone.now()
    return Progress.objects.create(
        user=learner, lesson=lesson, kind=kind, number=number, state=state, reason=reason,
        attempts=fields.pop("attempts", 1), checked_at=now,
        done_at=now if state == "done" else None, **fields,
    )


@pytest.fixture
def room():
    tina = user("tina", trainer=True)
    made = classroom(tina)
    return made


def test_the_board_shows_each_learners_state_reason_and_overdue_work(client, room):
    made = exercise(room.owner)
    past = timezone.now() - timedelta(days=1)
    assign_exercise(room, made, due_at=past)
    assign_lesson(room, "networking")
    leo, mia = user("leo"), user("mia")
    member(room, leo)
    member(room, mia)
    _progress(leo, "exercise", "", made.pk, "failing", "web is not running.", attempts=2)
    _progress(mia, "exercise", "", made.pk, "done")
    _progress(leo, "step", "networking", 3, "done")
    client.force_login(room.owner)
    page = client.get(f"/classes/{room.pk}/dashboard/").content.decode()
    board = dashboard.board(room)
    keys = [item.key for item in board.columns]
    lesson = loader.get_lesson("networking")
    expected = [f"step:networking:{i}" for i, s in enumerate(lesson.steps, 1) if s.checks]
    expected += [f"challenge:networking:{i}" for i, _ in enumerate(lesson.challenges, 1)]
    if lesson.quiz:
        expected.append("quiz:networking")
    assert keys[: len(keys) - 1] == expected
    assert keys[-1] == f"exercise:{made.pk}"
    rows = {row.learner.username: row for row in board.rows}
    leo_cell = rows["leo"].cells[-1]
    assert (leo_cell.state, leo_cell.overdue) == ("failing", True)
    assert rows["mia"].cells[-1].overdue is False  # done is never overdue
    assert rows["leo"].done == 1
    # The reason on hover, and the same words for a screen reader.
    assert 'title="Run the app: failing, overdue. web is not running."' in page
    assert (
        '<span class="visually-hidden">Run the app: failing, overdue. web is not running.</span>'
        in page
    )
    assert 'class="cell state-failing overdue"' in page
    assert 'data-ws-path="/ws/class/' in page


def test_quizzes_of_assigned_lessons_are_columns_too(room):
    assign_lesson(room, "orchestration")
    leo = user("leo")
    member(room, leo)
    lesson = loader.get_lesson("orchestration")
    QuizAnswer.objects.create(user=leo, lesson="orchestration", question=1, choice=0,
                              correct=True, first_correct=True)
    QuizAnswer.objects.create(user=leo, lesson="orchestration", question=2, choice=0,
                              correct=False, first_correct=False)
    board = dashboard.board(room)
    quiz = next(cell for cell in board.rows[0].cells if cell.item.key == "quiz:orchestration")
    assert quiz.state == "failing"
    assert quiz.reason == f"1 of {len(lesson.quiz)} quiz answers right so far."


def test_last_activity_is_the_latest_lab_action_or_check(room):
    leo = user("leo")
    member(room, leo)
    assign_lesson(room, "containers")
    entry = record_action(leo, "state", {}, Outcome(True))
    assert dashboard.board(room).rows[0].last_activity == entry.at


def test_the_csv_holds_the_board_and_never_a_formula(client, room):
    made = exercise(room.owner, title="=HYPERLINK(\"http://evil\")")
    assign_exercise(room, made)
    leo = user("+leo")
    member(room, leo)
    _progress(leo, "exercise", "", made.pk, "done")
    client.force_login(room.owner)
    response = client.get(f"/classes/{room.pk}/dashboard.csv")
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:4] == ["learner", "last activity", "done", "of"]
    assert rows[0][4] == "Exercises / E: =HYPERLINK(\"http://evil\")"
    assert rows[1][0] == "'+leo" and rows[1][2:] == ["1", "1", "done"]


def test_a_learners_detail_shows_attempts_reasons_hints_solution_and_lab_history(client, room):
    made = exercise(room.owner)
    assign_exercise(room, made)
    leo = user("leo")
    member(room, leo)
    row = _progress(leo, "exercise", "", made.pk, "failing", "There is no image flask-app.",
                    attempts=3, hints_revealed=2, solution_revealed=True)
    row.results = [{"check": "image_exists", "description": "an image flask-app exists",
                    "passed": False, "reason": "There is no image flask-app.", "hint": ""}]
    row.save()
    record_action(leo, "run", {"image": "flask-app", "name": "web"}, Outcome(False, "No such image"))
    client.force_login(room.owner)
    page = client.get(f"/classes/{room.pk}/learners/{leo.pk}/").content.decode()
    assert "There is no image flask-app." in page
    assert "<td>3</td>" in page and "<td>2</td>" in page and "revealed" in page
    assert "docker run -d --name web" in page and "No such image" in page


def _class_of(n: int, room):
    for i in range(n):
        learner = user(f"learner{room.pk}-{i}")
        member(room, learner)
        _progress(learner, "step", "networking", 3, "done")
        _progress(learner, "step", "networking", 4, "failing", "db is not there.")
        QuizAnswer.objects.create(user=learner, lesson="containers", question=1, choice=0,
                                  correct=True, first_correct=True)
        record_action(learner, "state", {}, Outcome(True))


def _dashboard_queries(client, room) -> int:
    client.force_login(room.owner)
    client.get(f"/classes/{room.pk}/dashboard/")  # warm: sessions, caches
    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"/classes/{room.pk}/dashboard/")
    assert response.status_code == 200
    return len(captured)


def test_the_dashboards_query_count_does_not_grow_with_the_number_of_learners(client):
    rooms = []
    for size in (3, 30):
        room = classroom(user(f"trainer{size}", trainer=True), f"class of {size}")
        for lesson in loader.all_lessons():
            assign_lesson(room, lesson.slug)
        assign_exercise(room, exercise(room.owner))
        _class_of(size, room)
        rooms.append(room)
    small, large = (_dashboard_queries(client, room) for room in rooms)
    assert small == large
    assert large <= 12
    assert len(dashboard.board(rooms[1]).rows) == 30
    assert len(dashboard.board(rooms[1]).columns) >= 40


# --- a learner's own view ----------------------------------------------------------------


def test_the_home_page_shows_progress_the_next_step_and_assignments_with_due_dates(client, room):
    made = exercise(room.owner)
    assign_exercise(room, made, due_at=timezone.now() - timedelta(hours=1))
    assign_lesson(room, "containers", due_at=timezone.now() + timedelta(days=3))
    leo = user("leo")
    member(room, leo)
    lesson = loader.get_lesson("containers")
    first = next(i for i, step in enumerate(lesson.steps, 1) if step.checks)
    _progress(leo, "step", "containers", first, "done")
    client.force_login(leo)
    page = client.get("/").content.decode()
    assert "Your progress" in page
    assert '<tr data-lesson="containers">' in page and "1 of 2" in page
    assert sum(1 for step in lesson.steps if step.checks) == 1  # so the challenge is next
    assert 'Next: <a href="/lessons/containers/#challenge-1"' in page
    assert room.name in page
    assert "overdue: was due" in page  # the exercise
    assert "Lesson: Containers and Docker basics" in page and "1 of 3 done" in page


def test_the_home_page_for_visitors_is_the_course(client):
    page = client.get("/").content.decode()
    assert "Your progress" not in page and "The course" in page


def test_hostile_titles_and_reasons_are_escaped_in_the_cells(client, room):
    made = exercise(room.owner, title='Run "it" <b>now</b>')
    assign_exercise(room, made)
    leo = user("leo")
    member(room, leo)
    _progress(leo, "exercise", "", made.pk, "failing", '"><script>alert(1)</script>')
    client.force_login(room.owner)
    page = client.get(f"/classes/{room.pk}/dashboard/").content.decode()
    assert "<script>alert(1)" not in page and "<b>now</b>" not in page
    assert 'title="Run &quot;it&quot; &lt;b&gt;now&lt;/b&gt;: failing. &quot;&gt;&lt;script&gt;' in page
