"""Evaluation under deadlines: a check that takes too long fails, saying so; nothing piles up.

The checks here are registered for the test and need neither the engine nor
the database: what is tested is the evaluation's own bounds.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from checks import base
from checks.base import CheckSpec, define, failed, passed
from checks.evaluation import MAX_IN_FLIGHT_PER_USER, EvaluationBusy, evaluate
from sandboxes.errors import SandboxError


@pytest.fixture
def register():
    added = []

    def add(name, evaluate_fn, budget=None):
        define(
            name,
            summary="a test check",
            params={},
            describe=lambda p: f"test {name}",
            needs=frozenset(),
            budget=budget,
        )(evaluate_fn)
        added.append(name)
        return CheckSpec(name, {})

    base.vocabulary()
    yield add
    for name in added:
        base._VOCABULARY.pop(name, None)


@pytest.fixture
def release():
    gate = threading.Event()
    yield gate
    gate.set()  # lets abandoned checks end


def learner(pk=1):
    return SimpleNamespace(pk=pk)


def test_a_check_that_takes_too_long_fails_saying_it_timed_out(register, release):
    slow = register(
        "t_slow", lambda ctx, p: (release.wait(30), passed("late"))[1], budget=lambda p: 0.5
    )
    started = time.monotonic()
    (result,) = evaluate([slow], user=learner(101))
    assert time.monotonic() - started < 3
    assert not result.passed and result.timed_out
    assert "took longer than" in result.reason and "not passed" in result.reason
    assert result.description == "test t_slow"


def test_a_late_pass_never_turns_a_timeout_into_a_pass(register):
    late = register(
        "t_late", lambda ctx, p: (time.sleep(1.8), passed("too late"))[1], budget=lambda p: 0.3
    )
    (result,) = evaluate([late], user=learner(102))
    time.sleep(1.8)  # the check's own thread finishes meanwhile
    assert not result.passed and result.timed_out


def test_the_whole_evaluation_has_a_deadline(register, release):
    slow = register(
        "t_slow2", lambda ctx, p: (release.wait(30), passed("late"))[1], budget=lambda p: 0.6
    )
    quick = register("t_quick", lambda ctx, p: passed("quick"))
    started = time.monotonic()
    results = evaluate([slow, slow, quick], user=learner(103), seconds=1.0)
    assert time.monotonic() - started < 4
    assert [r.passed for r in results] == [False, False, False]
    assert "Not checked" in results[2].reason and results[2].timed_out


def test_a_check_that_breaks_or_cannot_look_fails(register):
    def breaks(ctx, p):
        raise RuntimeError("a bug")

    def cannot_look(ctx, p):
        raise SandboxError("The Docker engine is not reachable.", code="engine_unavailable")

    results = evaluate(
        [
            register("t_bug", breaks),
            register("t_engine", cannot_look),
            register("t_ok", lambda c, p: passed("fine")),
        ],
        user=learner(104),
    )
    assert [r.passed for r in results] == [False, False, True]
    assert "fault on the server" in results[0].reason
    assert (
        "could not look at your sandbox: The Docker engine is not reachable." in results[1].reason
    )
    assert results[2].as_dict() == {
        "check": "t_ok",
        "description": "test t_ok",
        "passed": True,
        "reason": "fine",
        "hint": "",
        "timed_out": False,
        "seconds": results[2].seconds,
    }


def test_abandoned_checks_count_until_they_end_so_presses_cannot_pile_up(register, release):
    stuck = register(
        "t_stuck", lambda ctx, p: (release.wait(30), failed("x"))[1], budget=lambda p: 0.2
    )
    user = learner(105)
    for _ in range(MAX_IN_FLIGHT_PER_USER):
        evaluate([stuck], user=user)
    with pytest.raises(EvaluationBusy, match="still running"):
        evaluate([stuck], user=user)
    # Another learner is not held up by this one.
    assert evaluate([register("t_other", lambda c, p: passed("ok"))], user=learner(106))[0].passed
    release.set()
    deadline = time.monotonic() + 5
    while True:
        try:
            evaluate(
                [register(f"t_after{int(time.monotonic() * 1000)}", lambda c, p: passed("ok"))],
                user=user,
            )
            break
        except EvaluationBusy:
            assert time.monotonic() < deadline, "the abandoned checks never ended"
            time.sleep(0.05)
