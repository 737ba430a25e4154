"""Progress changes reach the open dashboards of the learner's classes, and only those.

lessons.progress sends progress_changed after each recorded change;
classrooms.live turns it into a frame for each class the learner is in.
These use quiz answers and quiz-only exercises, which need no engine.
"""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from classrooms.routing import websocket_urlpatterns
from lessons import loader, progress
from lessons.models import Progress
from lessons.signals import progress_changed
from tests.unit.classrooms_helpers import (
    QUIZ_CHECK,
    assign_exercise,
    classroom,
    exercise,
    member,
    user,
)

RIGHT = [q.answer for q in loader.get_lesson("orchestration").quiz]


@pytest.fixture
def heard():
    """Every progress_changed sent while the test runs."""
    calls = []

    def receiver(sender, **kwargs):
        calls.append(kwargs)

    progress_changed.connect(receiver, dispatch_uid="test-heard")
    yield calls
    progress_changed.disconnect(dispatch_uid="test-heard")


@pytest.mark.django_db
def test_progress_changed_is_sent_for_checks_hints_solutions_and_quiz_answers(heard):
    tina = user("tina", trainer=True)
    leo = user("leo")
    made = exercise(tina, checks=QUIZ_CHECK)
    item = made.as_item()
    progress.evaluate_exercise(leo, item)
    progress.reveal_exercise_hint(leo, item)
    progress.reveal_exercise_solution(leo, item)
    progress.record_quiz(leo, "orchestration", 1, RIGHT[0])
    progress.evaluate_challenge(leo, "orchestration", 1)
    kinds = [(call["kind"], call["lesson"], call["number"]) for call in heard]
    assert kinds == [
        ("exercise", "", made.pk),
        ("exercise", "", made.pk),
        ("exercise", "", made.pk),
        ("quiz", "orchestration", None),
        ("challenge", "orchestration", 1),
    ]
    assert all(call["user"] == leo for call in heard)
    assert heard[0]["progress"]["state"] == "failing" and heard[0]["progress"]["attempts"] == 1
    assert heard[1]["progress"]["hints_revealed"] == 1
    assert heard[2]["progress"]["solution_revealed"] is True
    assert heard[3]["progress"] == {"correct": 1, "questions": 4}


@pytest.mark.django_db
def test_a_failing_receiver_never_reaches_the_learner(caplog):
    def broken(sender, **kwargs):
        raise RuntimeError("boom")

    progress_changed.connect(broken, dispatch_uid="test-broken")
    try:
        feedback = progress.record_quiz(user("leo"), "orchestration", 1, RIGHT[0])
    finally:
        progress_changed.disconnect(dispatch_uid="test-broken")
    assert feedback["correct"] is True
    assert "progress_changed receiver" in caplog.text


@pytest.mark.django_db
def test_an_exercise_is_checked_hinted_and_solved_with_its_progress_kept():
    tina, leo = user("tina", trainer=True), user("leo")
    made = exercise(tina, checks=QUIZ_CHECK)
    item = made.as_item()
    evaluation = progress.evaluate_exercise(leo, item)
    assert not evaluation.passed and "0 of 4" in evaluation.results[0].reason
    for number, answer in enumerate(RIGHT[:3], 1):
        progress.record_quiz(leo, "orchestration", number, answer)
    assert progress.evaluate_exercise(leo, item).passed
    assert progress.reveal_exercise_hint(leo, item) == {
        "hints": ["Build first."], "revealed": 1, "of": 2
    }
    assert progress.reveal_exercise_hint(leo, item)["revealed"] == 2
    assert progress.reveal_exercise_hint(leo, item)["revealed"] == 2  # no more than there are
    assert progress.reveal_exercise_solution(leo, item)["lines"] == list(item.solution)
    row = Progress.objects.get(user=leo, kind="exercise", number=made.pk)
    assert (row.lesson, row.state, row.attempts, row.hints_revealed, row.solution_revealed) == (
        "", "done", 2, 2, True
    )
    # Lesson progress is not confused by it.
    assert all(
        item["kind"] != "exercise"
        for lesson in progress.progress_for(leo)["lessons"]
        for item in lesson["steps"] + lesson["challenges"]
    )
    made.delete()
    assert not Progress.objects.filter(kind="exercise", number=made.pk).exists()


async def _watch(trainer, room) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(
        URLRouter(websocket_urlpatterns), f"/ws/class/{room.pk}/"
    )
    communicator.scope["user"] = trainer
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from(timeout=5))["type"] == "hello"
    return communicator


@pytest.mark.django_db(transaction=True)
async def test_a_learners_change_reaches_the_open_dashboards_of_their_classes_only():
    tina, tom = await sync_to_async(user)("tina", True), await sync_to_async(user)("tom", True)
    leo, mia = await sync_to_async(user)("leo"), await sync_to_async(user)("mia")
    mine = await sync_to_async(classroom)(tina, "Tina's")
    other = await sync_to_async(classroom)(tina, "Tina's other")
    theirs = await sync_to_async(classroom)(tom, "Tom's")
    for room, learner in [(mine, leo), (other, leo), (theirs, mia)]:
        await sync_to_async(member)(room, learner)
    made = await sync_to_async(exercise)(tina, QUIZ_CHECK)
    await sync_to_async(assign_exercise)(mine, made)
    item = await sync_to_async(made.as_item)()
    watching = [await _watch(tina, mine), await _watch(tina, other), await _watch(tom, theirs)]

    # As the check view does: the evaluation in a worker thread of its own.
    await sync_to_async(progress.evaluate_exercise, thread_sensitive=False)(leo, item)
    for communicator in watching[:2]:
        frame = await communicator.receive_json_from(timeout=5)
        assert frame["type"] == "progress" and frame["learner"] == leo.pk
        assert frame["item"] == f"exercise:{made.pk}"
        assert frame["state"] == "failing" and "0 of 4" in frame["reason"]
        assert frame["attempts"] == 1
    assert await watching[2].receive_nothing(timeout=0.5)  # mia's trainer hears nothing

    await sync_to_async(progress.record_quiz, thread_sensitive=False)(
        mia, "orchestration", 1, RIGHT[0]
    )
    frame = await watching[2].receive_json_from(timeout=5)
    assert frame["item"] == "quiz:orchestration" and frame["learner"] == mia.pk
    assert await watching[0].receive_nothing(timeout=0.5)
    for communicator in watching:
        await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_garbage_sent_to_the_dashboard_socket_changes_nothing():
    tina = await sync_to_async(user)("tina", True)
    room = await sync_to_async(classroom)(tina)
    communicator = await _watch(tina, room)
    for frame in ["not json", json.dumps({"action": "state"}), "x" * 10000]:
        await communicator.send_to(text_data=frame)
    await communicator.send_to(bytes_data=b"\x00\xff")
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_learner_joining_adds_a_row_to_the_open_dashboard():
    from classrooms.joining import join

    tina = await sync_to_async(user)("tina", True)
    leo = await sync_to_async(user)("leo")
    room = await sync_to_async(classroom)(tina)
    communicator = await _watch(tina, room)
    assert await sync_to_async(join)(leo, room) is True
    frame = await communicator.receive_json_from(timeout=5)
    assert frame == {
        "type": "member", "learner": leo.pk, "name": "leo",
        "detail": f"/classes/{room.pk}/learners/{leo.pk}/",
    }
    assert await sync_to_async(join)(leo, room) is False  # once
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()
