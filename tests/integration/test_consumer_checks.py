"""Checks through the lab socket on a real engine: reasons, automatic checks, the history.

alice and bob each have a sandbox. What alice does is kept in her lab history
with its outcome; her steps turn done by themselves when an action makes
their checks pass; bob's socket can neither trigger nor read her checks or
progress, whatever fields he sends.
"""

from __future__ import annotations

import asyncio
import functools
import time

import pytest
from django.contrib.auth import get_user_model

from lessons import loader
from lessons.models import LabAction, Progress
from sandboxes import services
from sandboxes.models import Sandbox
from tests.integration.lab_socket import frames_until, open_lab_socket

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PYTHON = "python:3.12-slim"
FIRST_CHALLENGE = {"lesson": "containers", "kind": "challenge", "number": 1}


@pytest.fixture
def users(transactional_db):
    made = [
        get_user_model().objects.create_user(name, password="a-long-Passphrase-9")
        for name in ("alice-checks", "bob-checks")
    ]
    yield made
    for sandbox in Sandbox.objects.filter(user__in=made):
        services.remove_objects(sandbox.sid)


_until = functools.partial(frames_until, timeout=120.0)


async def _ask(communicator, message: dict, **kw) -> dict:
    await communicator.send_json_to(message)
    return (await _until(communicator, lambda f: f.get("ref") == message["ref"], **kw))[-1]


async def _run_command(communicator, ref: str, command: str, **args) -> tuple[str, list[dict]]:
    """`docker run IMAGE COMMAND` as the page does it: run, then follow to its exit."""
    result = await _ask(
        communicator, {"action": "run", "ref": ref, "image": PYTHON, "command": command, **args}
    )
    name = result["data"]["name"]
    await communicator.send_json_to(
        {"action": "logs", "ref": ref + "-logs", "container": name, "tail": 10000}
    )
    frames = await _until(communicator, lambda f: f["type"] == "logs.end", timeout=60)
    return name, frames


async def _watch(communicator, lesson: str, ref: str = "w") -> dict:
    frame = await _ask(communicator, {"action": "watch", "ref": ref, "lesson": lesson})
    assert frame["type"] == "result" and frame["data"]["lesson"] == lesson
    return frame["data"]


async def test_a_check_fails_with_its_reason_on_an_empty_sandbox_and_passes_after_the_work(users):
    alice, _ = users
    tab = await open_lab_socket(alice)
    try:
        first = await _ask(tab, {"action": "check", "ref": "c1", **FIRST_CHALLENGE})
        assert first["type"] == "check.result" and first["auto"] is False
        assert first["passed"] is False
        assert first["progress"]["state"] == "failing" and first["progress"]["attempts"] == 1
        reasons = [r["reason"] for r in first["results"]]
        assert all(not r["passed"] for r in first["results"])
        assert "There is no container called first in your sandbox" in reasons[0]

        for name in ("first", "second"):
            await _ask(tab, {"action": "run", "ref": name, "image": PYTHON, "name": name,
                             "command": "sleep 600"})
        again = await _ask(tab, {"action": "check", "ref": "c2", **FIRST_CHALLENGE}, timeout=60)
        assert again["passed"] is True, again["results"]
        assert again["progress"]["state"] == "done" and again["progress"]["done_at"]
        row = await Progress.objects.aget(user=alice, lesson="containers", kind="challenge")
        assert (row.state, row.attempts) == ("done", 2)
    finally:
        await tab.disconnect()


async def test_a_steps_work_is_checked_by_itself_after_the_action_and_every_tab_hears(users):
    alice, _ = users
    lesson_tab, other_tab = await open_lab_socket(alice), await open_lab_socket(alice)
    try:
        watched = await _watch(lesson_tab, "containers")
        assert watched["progress"]["steps"][2]["state"] == "not_started"
        await _watch(other_tab, "containers", ref="w2")

        name, frames = await _run_command(lesson_tab, "py", "python --version")
        assert frames[-1]["exit_code"] == 0
        frames = await _until(lesson_tab, lambda f: f["type"] == "check.result", timeout=60)
        auto = frames[-1]
        assert auto["auto"] is True and "ref" not in auto
        assert (auto["lesson"], auto["kind"], auto["number"]) == ("containers", "step", 3)
        assert auto["passed"] is True and auto["progress"]["state"] == "done"
        seen = await _until(other_tab, lambda f: f["type"] == "check.result", timeout=30)
        assert seen[-1]["number"] == 3 and seen[-1]["passed"] is True
        # Done stays done, and a new socket (a reload) is told so.
        await lesson_tab.disconnect()
        reloaded = await open_lab_socket(alice)
        try:
            steps = (await _watch(reloaded, "containers"))["progress"]["steps"]
            assert steps[2]["state"] == "done"
        finally:
            await reloaded.disconnect()
        await _ask(other_tab, {"action": "remove", "ref": "rm", "container": name})
    finally:
        await lesson_tab.disconnect()
        await other_tab.disconnect()


async def test_actions_are_kept_in_the_lab_history_with_their_outcome(users):
    alice, _ = users
    tab = await open_lab_socket(alice)
    try:
        ok_name, _ = await _run_command(tab, "ok", "python -c \"print('hello from the run')\"")
        bad_name, frames = await _run_command(tab, "bad", "python -c 'import sys; sys.exit(3)'")
        assert frames[-1]["exit_code"] == 3
        # A learner's own `docker logs` of a container (not a command's own output).
        await _ask(tab, {"action": "logs", "ref": "again", "container": ok_name})
        await _until(tab, lambda f: f["type"] == "logs.end", timeout=30)
        # A command still running when it is stopped: its run is kept at its exit.
        await _ask(tab, {"action": "run", "ref": "srv", "image": PYTHON, "name": "srv",
                         "command": "sh -c 'trap \"exit 0\" TERM; sleep 600 & wait'"})
        await _ask(tab, {"action": "logs", "ref": "follow", "container": "srv"})
        await tab.send_json_to({"action": "stop", "ref": "stop", "container": "srv"})
        frames = await _until(tab, lambda f: f.get("ref") == "stop", timeout=60)
        if not any(f["type"] == "logs.end" for f in frames):
            frames = await _until(tab, lambda f: f["type"] == "logs.end", timeout=30)
        missing = await _ask(tab, {"action": "run", "ref": "nope", "image": "no-such-image"},
                             errors_ok=True)
        assert missing["type"] == "error" and missing["code"] == "not_found"
        await _ask(tab, {"action": "inspect", "ref": "i", "kind": "container", "name": ok_name})
        for name in (ok_name, bad_name, "srv"):
            await _ask(tab, {"action": "remove", "ref": "rm-" + name, "container": name})
        # Refused before any service call: not an action.
        refused = await _ask(tab, {"action": "stop", "ref": "x"}, errors_ok=True)
        assert refused["code"] == "bad_request"
    finally:
        await tab.disconnect()

    rows = []
    deadline = time.monotonic() + 10
    while len(rows) < 10 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        rows = [row async for row in LabAction.objects.filter(user=alice).order_by("at", "id")]
    kept = [(r.action, r.ok, r.exit_code) for r in rows]
    assert kept[:3] == [("run", True, 0), ("run", False, 3), ("logs", True, None)], kept
    # The stop's result and the run's exit are seen in either order.
    assert sorted(kept[3:5]) == [("run", True, 0), ("stop", True, None)], kept
    assert kept[5:] == [
        ("run", False, None),
        ("inspect", True, None),
        ("remove", True, None),
        ("remove", True, None),
        ("remove", True, None),
    ], kept
    assert "hello from the run" in rows[0].output
    assert rows[0].args["command"] == "python -c \"print('hello from the run')\""
    assert rows[0].command.startswith("docker run")
    failed = rows[5]
    assert "no-such-image" in failed.message and failed.args == {"image": "no-such-image"}
    sandbox = await Sandbox.objects.aget(user=alice)
    assert {r.sandbox for r in rows} == {sandbox.sid}


async def test_another_learner_can_neither_trigger_nor_read_alices_checks(users):
    alice, bob = users
    alice_tab, bob_tab = await open_lab_socket(alice), await open_lab_socket(bob)
    try:
        await _watch(alice_tab, "containers")
        await _watch(bob_tab, "containers", ref="bw")
        for name in ("first", "second"):
            await _ask(alice_tab, {"action": "run", "ref": name, "image": PYTHON, "name": name,
                                   "command": "sleep 600"})
        mine = await _ask(alice_tab, {"action": "check", "ref": "a", **FIRST_CHALLENGE}, timeout=60)
        assert mine["passed"] is True

        # Bob's check of the same challenge looks at bob's sandbox only.
        his = await _ask(bob_tab, {"action": "check", "ref": "b", **FIRST_CHALLENGE}, timeout=60)
        assert his["passed"] is False
        assert "no container called first in your sandbox" in his["results"][0]["reason"]
        # No field names a learner or a sandbox: each is refused.
        alice_sid = (await Sandbox.objects.aget(user=alice)).sid
        for n, extra in enumerate([{"user": alice.username}, {"user_id": alice.pk},
                                   {"sandbox": alice_sid}, {"owner": alice.pk}]):
            refused = await _ask(bob_tab, {"action": "check", "ref": f"x{n}",
                                           **FIRST_CHALLENGE, **extra}, errors_ok=True)
            assert (refused["type"], refused["code"]) == ("error", "bad_request"), refused
        for action in ("hint", "solution"):
            answer = await _ask(bob_tab, {"action": action, "ref": action, **FIRST_CHALLENGE})
            assert answer["type"] == "result"
        # Bob's frames never reached alice's socket; bob heard none of alice's results.
        assert await alice_tab.receive_nothing(timeout=1)
        assert await bob_tab.receive_nothing(timeout=0.5)
        rows = {(r.user_id, r.state, r.hints_revealed, r.solution_revealed)
                async for r in Progress.objects.filter(lesson="containers", kind="challenge")}
        assert rows == {(alice.pk, "done", 0, False), (bob.pk, "failing", 1, True)}
        # Bob's watch of the lesson shows his progress, not alice's.
        bobs = await _watch(bob_tab, "containers", ref="bw2")
        assert bobs["progress"]["challenges"][0]["state"] == "failing"
        # Alice's automatic checks reach alice's sockets only.
        await _run_command(alice_tab, "py", "python --version")
        auto = (await _until(alice_tab, lambda f: f["type"] == "check.result", timeout=60))[-1]
        assert auto["auto"] and auto["passed"] and auto["number"] == 3
        assert await bob_tab.receive_nothing(timeout=1)
        bobs = await _watch(bob_tab, "containers", ref="bw3")
        assert bobs["progress"]["steps"][2]["state"] == "not_started"
    finally:
        await alice_tab.disconnect()
        await bob_tab.disconnect()


async def test_garbage_check_frames_get_clear_errors_on_the_real_route(users):
    alice, _ = users
    tab = await open_lab_socket(alice)
    try:
        lesson = loader.get_lesson("networking")
        cases = [
            ({"action": "check", "lesson": "networking", "kind": "step", "number": "4"},
             "bad_request"),
            ({"action": "check", "lesson": "networking", "kind": "step", "number": 99},
             "not_found"),
            ({"action": "check", "lesson": "../networking", "kind": "step", "number": 4},
             "not_found"),
            ({"action": "check", "lesson": "networking", "kind": "step", "number": 2},
             "nothing_to_check"),
            ({"action": "solution", "lesson": "networking", "kind": "quiz", "number": 1},
             "bad_request"),
            ({"action": "watch", "lesson": {"slug": "networking"}}, "bad_request"),
        ]
        for n, (message, code) in enumerate(cases):
            frame = await _ask(tab, {**message, "ref": n}, errors_ok=True)
            assert (frame["type"], frame["code"]) == ("error", code), (message, frame)
            assert frame["message"] and lesson.slug not in frame["message"].split()[:1]
        assert not await Progress.objects.filter(user=alice).aexists()
        # Still usable.
        frame = await _ask(tab, {"action": "state", "ref": "s"})
        assert frame["type"] == "state"
    finally:
        await tab.disconnect()
