"""Evidence from the database that checks read: lab history and quiz answers.

Loaded into a check context before the checks run, in the caller's thread
(the checks themselves run in threads of their own and never query). The
history is the sandbox's own: what a learner did in an earlier sandbox of
theirs does not count for the one they have now.
"""

from __future__ import annotations

from checks.base import HISTORY, QUIZ
from checks.context import Context, HistoryEntry
from lessons import loader
from lessons.models import LabAction, QuizAnswer

# The newest actions the checks look at.
HISTORY_WINDOW = 300


def load(context: Context, needs: frozenset[str]) -> None:
    if HISTORY in needs:
        rows = LabAction.objects.filter(
            user=context.user, sandbox=getattr(context.sandbox, "sid", "")
        ).order_by("-at", "-id")[:HISTORY_WINDOW]
        context.history = [
            HistoryEntry(
                action=row.action,
                args=row.args if isinstance(row.args, dict) else {},
                ok=row.ok,
                at=row.at,
                message=row.message,
                exit_code=row.exit_code,
                detail=row.detail if isinstance(row.detail, dict) else {},
            )
            for row in rows
        ]
    if QUIZ in needs:
        answers: dict[str, dict[int, bool]] = {}
        for lesson, question, correct in QuizAnswer.objects.filter(user=context.user).values_list(
            "lesson", "question", "correct"
        ):
            answers.setdefault(lesson, {})[question] = correct
        context.quiz = answers
        context.quiz_sizes = {lesson.slug: len(lesson.quiz) for lesson in loader.all_lessons()}
