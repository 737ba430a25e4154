"""A lesson's quiz was passed, from the answers the server graded and kept."""

from __future__ import annotations

from typing import Any

from checks.base import QUIZ, define, failed, passed
from checks.context import Context
from checks.schema import Integer, Slug


@define(
    "quiz_passed",
    summary="The learner answered a lesson's quiz correctly (all questions, or at least some).",
    params={
        "lesson": Slug(doc="the lesson whose quiz counts (default: the check's own lesson)"),
        "min_correct": Integer(
            minimum=1, maximum=100, doc="how many right answers are enough (default: all)"
        ),
    },
    describe=lambda p: (
        f"you answered {'at least ' + str(p['min_correct']) if 'min_correct' in p else 'every'} "
        "question of the " + (f"{p['lesson']} " if "lesson" in p else "") + "quiz correctly"
    ),
    needs=frozenset({QUIZ}),
)
def quiz_passed(ctx: Context, p: dict[str, Any]):
    slug = p.get("lesson") or ctx.lesson
    total = ctx.quiz_sizes.get(slug or "")
    if not total:
        return failed(f"There is no lesson {slug!r} with a quiz.")
    correct = sum(1 for right in ctx.quiz.get(slug, {}).values() if right)
    needed = min(p.get("min_correct", total), total)
    if correct >= needed:
        return passed(f"You answered {correct} of {total} quiz questions correctly.")
    return failed(
        f"You have answered {correct} of {total} quiz questions correctly so far; {needed} are needed.",
        "Answer the quiz at the end of the lesson: every answer, right or wrong, is explained.",
    )
