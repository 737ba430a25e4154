"""The lab socket's check actions: arguments refused clearly, items found only in
loaded lessons, automatic checks chosen cheaply and coalesced per learner.

Nothing here reaches the engine: refusals happen before any evaluation, hints
and solutions are database work, and the coalescing is exercised with an
evaluation that waits on the test's own events.
"""

from __future__ import annotations

import asyncio

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model

from lessons import loader
from lessons.models import LabAction, Progress
from lessons.progress import ProgressError
from sandboxes import checking, slots
from sandboxes.checking import AutoChecks, Trigger, affected, trigger_for
from sandboxes.consumers import LabConsumer, ProtocolError, parse_message

# --- parse_message ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, fragment",
    [
        ('{"action": "check"}', "needs 'lesson'"),
        ('{"action": "check", "lesson": "networking", "kind": "step"}', "needs 'number'"),
        ('{"action": "check", "lesson": "", "kind": "step", "number": 1}', "must not be empty"),
        ('{"action": "check", "lesson": 7, "kind": "step", "number": 1}', "must be a string"),
        ('{"action": "check", "lesson": "x", "kind": "quiz", "number": 1}', "step, challenge"),
        ('{"action": "check", "lesson": "x", "kind": "step", "number": "4"}', "whole number"),
        ('{"action": "check", "lesson": "x", "kind": "step", "number": 4.5}', "whole number"),
        ('{"action": "check", "lesson": "x", "kind": "step", "number": true}', "whole number"),
        ('{"action": "check", "lesson": "x", "kind": "step", "number": 0}', "between 1 and"),
        ('{"action": "check", "lesson": "x", "kind": "step", "number": 10000}', "between 1 and"),
        ('{"action": "check", "lesson": "x", "kind": "step", "number": 1, "user": "bob"}',
         "takes no 'user'"),
        ('{"action": "check", "lesson": "x", "kind": "step", "number": 1, "sandbox": "ab"}',
         "takes no 'sandbox'"),
        ('{"action": "hint", "lesson": "x", "kind": "step"}', "needs 'number'"),
        ('{"action": "solution", "lesson": "' + "x" * 65 + '", "kind": "step", "number": 1}',
         "too long"),
        ('{"action": "watch"}', "needs 'lesson'"),
        ('{"action": "watch", "lesson": "x", "step": -1}', "between 1 and"),
        ('{"action": "watch", "lesson": "x", "user": 3}', "takes no 'user'"),
    ],
)
def test_check_actions_name_what_is_wrong_with_their_arguments(text, fragment):
    with pytest.raises(ProtocolError) as info:
        parse_message(text)
    assert info.value.code == "bad_request"
    assert fragment in info.value.message


def test_a_good_check_message_comes_back_checked():
    request = parse_message(
        '{"action": "check", "ref": "c1", "lesson": "networking", "kind": "challenge", "number": 1}'
    )
    assert request.action == "check" and request.ref == "c1"
    assert request.args == {"lesson": "networking", "kind": "challenge", "number": 1}


# --- items are looked up in the loaded lessons ----------------------------------------


def test_an_item_is_found_in_the_loaded_lessons():
    assert checking.item("networking", "step", 4) == ("networking", "step", 4)
    assert checking.item("networking", "challenge", 1, checked=True) == (
        "networking", "challenge", 1
    )


@pytest.mark.parametrize(
    "lesson, kind, number, code, fragment",
    [
        ("no-such-lesson", "step", 1, "not_found", "no lesson called 'no-such-lesson'"),
        ("../../etc/passwd", "step", 1, "not_found", "no lesson called"),
        ("networking", "step", 99, "not_found", "has no step 99"),
        ("networking", "challenge", 2, "not_found", "has no challenge 2"),
        ("networking", "quiz", 1, "bad_request", "step or challenge"),
    ],
)
def test_an_item_that_does_not_exist_is_refused(lesson, kind, number, code, fragment):
    with pytest.raises(ProgressError) as info:
        checking.item(lesson, kind, number)
    assert info.value.code == code
    assert fragment in info.value.message


def test_a_step_without_checks_has_nothing_to_check():
    with pytest.raises(ProgressError) as info:
        checking.item("networking", "step", 1, checked=True)
    assert info.value.code == "nothing_to_check"


# --- which items an action may have changed ---------------------------------------


def _summary(lesson, done=()):
    """A progress_for lesson entry with the (kind, number) items in `done` done."""

    def views(kind, items):
        return [
            {"kind": kind, "number": n, "checked": bool(item.checks),
             "state": "done" if (kind, n) in done else "not_started"}
            for n, item in enumerate(items, 1)
        ]

    return {"slug": lesson.slug, "steps": views("step", lesson.steps),
            "challenges": views("challenge", lesson.challenges)}


def test_a_build_checks_the_build_step_and_nothing_about_containers():
    lesson = loader.get_lesson("building-images")
    assert affected(lesson, _summary(lesson), trigger_for("build", {})) == [("step", 1)]


def test_a_run_checks_the_current_step_once_the_build_is_done():
    lesson = loader.get_lesson("building-images")
    summary = _summary(lesson, done={("step", 1)})
    assert affected(lesson, summary, trigger_for("run", {"image": "flask-app"})) == [("step", 2)]
    # Not the later steps that also look at containers (stop, remove): they
    # would only say "not yet" to a learner who has not got there.
    chosen = affected(lesson, summary, trigger_for("remove", {"container": "web"}))
    remove = next(n for n, step in enumerate(lesson.steps, 1) if step.title == "Remove the container")
    assert chosen == [("step", 2), ("step", remove)]


def test_done_items_are_never_checked_again_automatically():
    lesson = loader.get_lesson("building-images")
    everything = {("step", n) for n in range(1, len(lesson.steps) + 1)} | {("challenge", 1)}
    assert affected(lesson, _summary(lesson, done=everything), trigger_for("run", {})) == []


def test_a_command_run_checks_command_steps_only_once_it_has_exited():
    lesson = loader.get_lesson("vms-vs-containers")
    args = {"image": "python:3.12-slim", "command": "uname -r"}
    summary = _summary(lesson)
    # Its container exists (result): command_ran cannot have changed yet.
    assert affected(lesson, summary, trigger_for("run", args, ran=False)) == []
    assert affected(lesson, summary, trigger_for("run", args)) == [("step", 1)]


def test_the_step_the_learner_is_on_is_checked_too():
    lesson = loader.get_lesson("vms-vs-containers")
    trigger = trigger_for("remove", {"container": "sleeper"})
    assert affected(lesson, _summary(lesson), trigger) == []
    assert affected(lesson, _summary(lesson), trigger, focus=3) == [("step", 3)]


def test_a_look_that_changes_nothing_checks_the_step_that_asks_for_it():
    lesson = loader.get_lesson("commands")
    summary = _summary(lesson, done={("step", 1)})
    assert affected(lesson, summary, trigger_for("inspect", {"kind": "container"})) == [
        ("step", 2)
    ]
    assert affected(lesson, summary, trigger_for("prune", {})) == [("step", 2), ("step", 5)]


def test_a_challenge_is_checked_automatically_once_it_is_the_current_item():
    lesson = loader.get_lesson("containers")
    trigger = trigger_for("run", {"image": "python:3.12-slim", "name": "first"})
    assert affected(lesson, _summary(lesson), trigger) == []
    assert affected(lesson, _summary(lesson, done={("step", 3)}), trigger) == [("challenge", 1)]


# --- coalescing ----------------------------------------------------------------------


class FakeSocket:
    def __init__(self):
        self.frames = []

    def check_frame(self, frame):
        self.frames.append(frame)


class Gate:
    """An evaluation that waits for the test to let each one finish."""

    def __init__(self):
        self.calls = []
        self.release = asyncio.Event()
        self.started = asyncio.Event()

    async def evaluate(self, user, slug, kind, number):
        self.calls.append((slug, kind, number))
        self.started.set()
        await self.release.wait()
        return {"lesson": slug, "kind": kind, "number": number, "passed": True,
                "results": [], "progress": {"state": "done"}}


class Learner:
    pk = 41


async def _no_progress(lesson_slug):
    lesson = loader.get_lesson(lesson_slug)

    async def load(user):
        return {"lessons": [_summary(lesson)]}

    return load


async def test_auto_checks_keep_one_pass_running_and_one_queued_whatever_arrives():
    gate = Gate()
    checks = AutoChecks(Learner(), evaluate=gate.evaluate, load=await _no_progress("registries"))
    socket = FakeSocket()
    checks.watch(socket, "registries")
    checks.after(trigger_for("tag", {}))
    await asyncio.wait_for(gate.started.wait(), 2)
    # Forty more actions while the first evaluation runs.
    for n in range(40):
        checks.after(trigger_for("push" if n % 2 else "run", {}))
    assert checks.passes == 1 and len(gate.calls) == 1
    assert checks.queued == Trigger(
        frozenset({"image", "container", "push", "run"}), frozenset({"push", "run", "command"})
    )
    gate.release.set()
    while checks.running is not None:
        await asyncio.sleep(0.01)
    # The first pass, then one for everything that queued up.
    assert checks.passes == 2
    assert checks.queued is None
    # Each result went to the socket watching the lesson, marked automatic.
    assert [f["type"] for f in socket.frames] == ["check.result"] * len(gate.calls)
    assert all(f["auto"] is True for f in socket.frames)


async def test_auto_checks_go_only_to_sockets_watching_that_lesson():
    gate = Gate()
    gate.release.set()
    checks = AutoChecks(Learner(), evaluate=gate.evaluate, load=await _no_progress("registries"))
    on_lesson, elsewhere = FakeSocket(), FakeSocket()
    checks.watch(on_lesson, "registries")
    checks.watch(elsewhere, "compose")
    checks.after(trigger_for("tag", {}))
    while checks.running is not None:
        await asyncio.sleep(0.01)
    assert gate.calls and all(slug == "registries" for slug, _, _ in gate.calls)
    assert len(on_lesson.frames) == len(gate.calls) and elsewhere.frames == []


async def test_nothing_is_checked_when_no_page_watches_and_the_last_to_leave_stops_it():
    gate = Gate()
    checks = AutoChecks(Learner(), evaluate=gate.evaluate, load=await _no_progress("registries"))
    checks.after(trigger_for("tag", {}))
    assert checks.running is None and checks.passes == 0
    socket = FakeSocket()
    checks.watch(socket, "registries")
    checks.after(trigger_for("tag", {}))
    await asyncio.wait_for(gate.started.wait(), 2)
    checks.after(trigger_for("push", {}))
    running = checks.running
    assert checks.leave(socket) is True
    checks.stop()
    assert checks.running is None and checks.queued is None
    with pytest.raises(asyncio.CancelledError):
        await running
    assert checks.passes == 1


async def test_a_busy_learner_pass_stops_instead_of_piling_up():
    from checks.evaluation import EvaluationBusy

    calls = []

    async def busy(user, slug, kind, number):
        calls.append(number)
        raise EvaluationBusy("Earlier checks of your work are still running.")

    lesson = loader.get_lesson("commands")

    async def load(user):
        return {"lessons": [_summary(lesson, done={("step", 1)})]}

    checks = AutoChecks(Learner(), evaluate=busy, load=load)
    socket = FakeSocket()
    checks.watch(socket, "commands")
    checks.after(trigger_for("prune", {}))  # two items: steps 2 and 5
    while checks.running is not None:
        await asyncio.sleep(0.01)
    assert calls == [2] and socket.frames == []


# --- through the consumer, without the engine ---------------------------------------


@pytest.fixture(autouse=True)
def fresh_slots():
    old = slots.use_store(slots.LocalSlots())
    yield
    slots.use_store(old)


@pytest.fixture
def alice(transactional_db):
    return get_user_model().objects.create_user("alice", password="a-long-Passphrase-9")


async def _open(user) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(LabConsumer.as_asgi(), "/ws/lab/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from(timeout=5))["type"] == "hello"
    return communicator


async def _answer(communicator, message: dict) -> dict:
    await communicator.send_json_to(message)
    while True:
        frame = await communicator.receive_json_from(timeout=10)
        if frame.get("ref") == message.get("ref"):
            return frame


@pytest.mark.django_db(transaction=True)
async def test_garbage_check_frames_get_clear_errors_and_touch_nothing(alice):
    communicator = await _open(alice)
    try:
        cases = [
            ({"action": "check", "lesson": "nope", "kind": "step", "number": 1}, "not_found",
             "There is no lesson called 'nope'."),
            ({"action": "check", "lesson": "networking", "kind": "step", "number": 42},
             "not_found", "Container networking has no step 42."),
            ({"action": "check", "lesson": "networking", "kind": "step", "number": 1},
             "nothing_to_check", "This step has nothing to check: read it and go on."),
            ({"action": "hint", "lesson": "networking", "kind": "step", "number": 5},
             "no_hints", "There are no hints here."),
            ({"action": "watch", "lesson": "networking", "step": 77}, "not_found",
             "Container networking has no step 77."),
            ({"action": "check", "lesson": "networking", "kind": "step", "number": 4,
              "user": "bob"}, "bad_request", None),
        ]
        for n, (message, code, text) in enumerate(cases):
            frame = await _answer(communicator, {**message, "ref": f"g{n}"})
            assert (frame["type"], frame["code"]) == ("error", code), frame
            if text is not None:
                lesson = loader.get_lesson("networking").title
                assert frame["message"] == text.replace("Container networking", lesson)
        assert not await Progress.objects.filter(user=alice).aexists()
        assert not await LabAction.objects.filter(user=alice).aexists()
    finally:
        await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_hints_come_one_at_a_time_and_the_solution_is_recorded(alice):
    communicator = await _open(alice)
    try:
        item = {"lesson": "networking", "kind": "challenge", "number": 1}
        first = await _answer(communicator, {"action": "hint", "ref": "h1", **item})
        second = await _answer(communicator, {"action": "hint", "ref": "h2", **item})
        hints = list(loader.get_lesson("networking").challenges[0].hints)
        assert first["type"] == "result" and first["action"] == "hint"
        assert first["data"] == {**item, "hints": hints[:1], "revealed": 1, "of": len(hints)}
        assert second["data"]["hints"] == hints[:2]
        solution = await _answer(communicator, {"action": "solution", "ref": "s", **item})
        challenge = loader.get_lesson("networking").challenges[0]
        assert solution["data"]["lines"] == list(challenge.solution)
        row = await Progress.objects.aget(user=alice, lesson="networking", kind="challenge")
        assert (row.hints_revealed, row.solution_revealed, row.attempts) == (2, True, 0)
    finally:
        await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_watch_answers_with_the_lessons_progress(alice):
    communicator = await _open(alice)
    try:
        frame = await _answer(communicator, {"action": "watch", "ref": "w", "lesson": "compose"})
        assert frame["type"] == "result" and frame["action"] == "watch"
        data = frame["data"]
        assert data["lesson"] == "compose" and data["step"] is None
        assert [s["number"] for s in data["progress"]["steps"]] == [1, 2, 3, 4]
        assert {s["state"] for s in data["progress"]["steps"]} == {"not_started"}
    finally:
        await communicator.disconnect()
    assert alice.pk not in checking._learners
