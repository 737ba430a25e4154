"""The shipped lessons are checked: hands-on steps have checks, hands-on lessons a challenge.

Whether the checks and solutions actually work on an engine is what
`manage.py verify_lessons` shows (tests/integration/test_verify_lessons.py).
"""

from __future__ import annotations

import pytest

from checks.base import ENGINE, HISTORY, QUIZ
from lessons import loader


@pytest.fixture(scope="module")
def lessons():
    return loader.load_lessons()


def test_every_hands_on_step_has_checks(lessons):
    for lesson in lessons:
        if not lesson.lab:
            continue
        for number, step in enumerate(lesson.steps, 1):
            if step.action:
                assert step.checks, f"{lesson.source} step {number} ({step.action}) has no checks"


def test_every_hands_on_lesson_has_a_challenge_with_hints_and_a_solution(lessons):
    for lesson in lessons:
        if not lesson.lab:
            continue
        assert lesson.challenges, f"{lesson.source} has no challenge"
        hands_on = [
            c for c in lesson.challenges
            if any(spec.definition.needs - {QUIZ} for spec in c.checks)
        ]
        assert hands_on, f"{lesson.source} has no hands-on challenge"
        for challenge in hands_on:
            assert challenge.hints and challenge.solution and challenge.checks, lesson.source


def test_a_lesson_without_a_lab_has_quiz_checks_only(lessons):
    without = [lesson for lesson in lessons if not lesson.lab]
    assert [lesson.slug for lesson in without] == []
    for lesson in without:
        needs = {
            need
            for item in (*lesson.steps, *lesson.challenges)
            for spec in item.checks
            for need in spec.definition.needs
        }
        assert needs == {QUIZ}, lesson.source


def test_every_checked_step_can_be_solved_in_the_lab(lessons):
    """A step's checks pass after its solution lines and the lines before it."""
    for lesson in lessons:
        lines_so_far = 0
        for number, step in enumerate(lesson.steps, 1):
            lines_so_far += len(step.solution)
            engine_work = any(spec.definition.needs & {ENGINE, HISTORY} for spec in step.checks)
            if engine_work:
                assert lines_so_far, (
                    f"{lesson.source} step {number} has checks but nothing solves them"
                )


def test_the_checks_use_much_of_the_vocabulary(lessons):
    used = {
        spec.name
        for lesson in lessons
        for item in (*lesson.steps, *lesson.challenges)
        for spec in item.checks
    }
    assert len(used) >= 14, sorted(used)
