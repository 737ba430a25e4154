"""A learner's progress: checked steps and challenges, hints and solutions, quizzes.

The functions here are what the lab websocket and the pages call (all
synchronous; checks reach the engine, so call `evaluate_*` from a worker
thread). Progress is kept by user, so it outlives reloads, restarts and the
sandbox's expiry. A step or challenge, once done, stays done: later steps
undo earlier ones on purpose (a container started in step 2 is removed in
step 6), and the learner did do it.

A trainer's exercise (classrooms) is checked, hinted and solved the same
way, through an `ExerciseItem`; its progress is kept in the same table.

Every recorded change is announced with `lessons.signals.progress_changed`
once it is saved (a trainer's open dashboard listens), so receivers never
see a change that is later rolled back.

`progress_table` serves a trainer's dashboard: two queries whatever the
number of learners.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from checks.evaluation import Result, evaluate
from lessons import loader, quiz
from lessons.loader import Challenge, Lesson, Step
from lessons.models import Progress, QuizAnswer
from lessons.signals import progress_changed

if TYPE_CHECKING:
    from checks.base import CheckSpec

log = logging.getLogger(__name__)

STEP = Progress.STEP
CHALLENGE = Progress.CHALLENGE
EXERCISE = Progress.EXERCISE
QUIZ = "quiz"


class ProgressError(Exception):
    """A lesson, step or challenge that does not exist, or has nothing to give."""

    def __init__(self, message: str, code: str = "not_found"):
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Evaluation:
    lesson: str
    kind: str
    number: int
    passed: bool
    results: tuple[Result, ...]
    progress: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "lesson": self.lesson,
            "kind": self.kind,
            "number": self.number,
            "passed": self.passed,
            "results": [result.as_dict() for result in self.results],
            "progress": self.progress,
        }


@dataclass(frozen=True)
class ExerciseItem:
    """A trainer's exercise as progress sees it (classrooms.models.Exercise.as_item()).

    Its checks have passed the vocabulary's schema; `id` is the exercise's.
    """

    id: int
    title: str
    checks: tuple[CheckSpec, ...]
    hints: tuple[str, ...] = ()
    solution: tuple[str, ...] = ()


def _announce(sender, user, kind: str, lesson: str, number: int | None, view: dict) -> None:
    """Send progress_changed; a receiver's fault is logged, never the learner's problem."""
    for receiver, outcome in progress_changed.send_robust(
        sender, user=user, kind=kind, lesson=lesson, number=number, progress=view
    ):
        if isinstance(outcome, Exception):
            log.error("a progress_changed receiver (%r) failed", receiver, exc_info=outcome)


def _signed_in(user) -> None:
    if not getattr(user, "is_authenticated", False):
        raise ProgressError("Sign in to have your work checked and kept.", "login_required")


def _lesson(lesson: Lesson | str) -> Lesson:
    if isinstance(lesson, Lesson):
        return lesson
    found = loader.get_lesson(lesson)
    if found is None:
        raise ProgressError("There is no such lesson.")
    return found


def _item(lesson: Lesson, kind: str, number: Any) -> Step | Challenge:
    items = {STEP: lesson.steps, CHALLENGE: lesson.challenges}.get(kind)
    if items is None:
        raise ProgressError(f"Say step or challenge, not {str(kind)[:20]!r}.", "bad_request")
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= len(items):
        raise ProgressError(f"{lesson.title} has no {kind} {str(number)[:10]}.")
    return items[number - 1]


def _row(user, slug: str, kind: str, number: int) -> Progress:
    row, _ = Progress.objects.select_for_update().get_or_create(
        user=user, lesson=slug, kind=kind, number=number
    )
    return row


def _view(
    kind: str, number: int, item: Step | Challenge | ExerciseItem, row: Progress | None
) -> dict:
    return {
        "kind": kind,
        "number": number,
        "title": item.title,
        "anchor": f"#{kind}-{number}",
        "checked": bool(item.checks),
        "state": row.state if row else Progress.NOT_STARTED,
        "attempts": row.attempts if row else 0,
        "reason": row.reason if row else "",
        "hints": len(item.hints),
        "hints_revealed": row.hints_revealed if row else 0,
        "solution_revealed": row.solution_revealed if row else False,
        "checked_at": row.checked_at.isoformat() if row and row.checked_at else None,
        "done_at": row.done_at.isoformat() if row and row.done_at else None,
    }


def _evaluate(
    user, slug: str, kind: str, number: int, item: Step | Challenge | ExerciseItem
) -> tuple[bool, tuple[Result, ...], dict]:
    """Run `item`'s checks in the learner's own sandbox and record the outcome."""
    if not item.checks:
        raise ProgressError(
            "This step has nothing to check: read it and go on.", "nothing_to_check"
        )
    results = tuple(evaluate(item.checks, user=user, lesson=slug or None))
    passed = all(result.passed for result in results)
    now = timezone.now()
    with transaction.atomic():
        row = _row(user, slug, kind, number)
        row.attempts += 1
        row.started_at = row.started_at or now
        row.checked_at = now
        row.results = [result.as_dict() for result in results]
        if passed:
            row.state, row.reason = Progress.DONE, ""
            row.done_at = row.done_at or now
        else:
            row.reason = next(r.reason for r in results if not r.passed)
            if row.state != Progress.DONE:
                row.state = Progress.FAILING
        row.save()
    view = _view(kind, number, item, row)
    _announce(Progress, user, kind, slug, number, view)
    return passed, results, view


def evaluate_item(user, lesson: Lesson | str, kind: str, number: int) -> Evaluation:
    """Check one step or challenge in the learner's own sandbox; record the outcome."""
    _signed_in(user)
    lesson = _lesson(lesson)
    item = _item(lesson, kind, number)
    passed, results, view = _evaluate(user, lesson.slug, kind, number, item)
    return Evaluation(lesson.slug, kind, number, passed, results, view)


def evaluate_step(user, lesson: Lesson | str, step: int) -> Evaluation:
    """Check step `step` (1-based) of `lesson`; see evaluate_item."""
    return evaluate_item(user, lesson, STEP, step)


def evaluate_challenge(user, lesson: Lesson | str, challenge: int) -> Evaluation:
    """Check challenge `challenge` (1-based) of `lesson`; see evaluate_item."""
    return evaluate_item(user, lesson, CHALLENGE, challenge)


def _reveal_hint(
    user, slug: str, kind: str, number: int, item: Step | Challenge | ExerciseItem
) -> dict[str, Any]:
    if not item.hints:
        raise ProgressError("There are no hints here.", "no_hints")
    with transaction.atomic():
        row = _row(user, slug, kind, number)
        row.hints_revealed = min(row.hints_revealed + 1, len(item.hints))
        row.started_at = row.started_at or timezone.now()
        row.save(update_fields=["hints_revealed", "started_at"])
    _announce(Progress, user, kind, slug, number, _view(kind, number, item, row))
    return {
        "hints": list(item.hints[: row.hints_revealed]),
        "revealed": row.hints_revealed,
        "of": len(item.hints),
    }


def _reveal_solution(
    user, slug: str, kind: str, number: int, item: Step | Challenge | ExerciseItem
) -> dict[str, Any]:
    with transaction.atomic():
        row = _row(user, slug, kind, number)
        row.solution_revealed = True
        row.started_at = row.started_at or timezone.now()
        row.save(update_fields=["solution_revealed", "started_at"])
    _announce(Progress, user, kind, slug, number, _view(kind, number, item, row))
    return {"lines": list(item.solution)}


def reveal_hint(user, lesson: Lesson | str, kind: str, number: int) -> dict[str, Any]:
    """Reveal the next hint (one at a time); returns every hint revealed so far."""
    _signed_in(user)
    lesson = _lesson(lesson)
    return _reveal_hint(user, lesson.slug, kind, number, _item(lesson, kind, number))


def reveal_solution(user, lesson: Lesson | str, kind: str, number: int) -> dict[str, Any]:
    """Reveal the solution's command lines; the progress records that it was revealed."""
    _signed_in(user)
    lesson = _lesson(lesson)
    return _reveal_solution(user, lesson.slug, kind, number, _item(lesson, kind, number))


# --- a trainer's exercises -----------------------------------------------------------


def evaluate_exercise(user, exercise: ExerciseItem) -> Evaluation:
    """Check a trainer's exercise in the learner's own sandbox; record the outcome.

    Reaches the engine (call it from a worker thread). Whether the learner may
    see the exercise is the caller's business (classrooms checks the class).
    """
    _signed_in(user)
    passed, results, view = _evaluate(user, "", EXERCISE, exercise.id, exercise)
    return Evaluation("", EXERCISE, exercise.id, passed, results, view)


def reveal_exercise_hint(user, exercise: ExerciseItem) -> dict[str, Any]:
    """Reveal the exercise's next hint; returns every hint revealed so far."""
    _signed_in(user)
    return _reveal_hint(user, "", EXERCISE, exercise.id, exercise)


def reveal_exercise_solution(user, exercise: ExerciseItem) -> dict[str, Any]:
    """Reveal the exercise's solution lines; recorded like a lesson's."""
    _signed_in(user)
    return _reveal_solution(user, "", EXERCISE, exercise.id, exercise)


def exercise_progress(user, exercise: ExerciseItem) -> dict[str, Any]:
    """The learner's progress on one exercise (as in Evaluation.progress)."""
    row = None
    if getattr(user, "is_authenticated", False):
        row = Progress.objects.filter(
            user=user, lesson="", kind=EXERCISE, number=exercise.id
        ).first()
    return _view(EXERCISE, exercise.id, exercise, row)


def record_quiz(user, lesson: Lesson | str, question: Any, choice: Any) -> dict[str, Any]:
    """Grade and keep one quiz answer (the last answer counts); returns feedback and score.

    Raises quiz.QuizInputError for a question or answer that cannot be graded.
    """
    _signed_in(user)
    lesson = _lesson(lesson)
    number, item = quiz.question_for(lesson, question)
    feedback = quiz.grade(item, choice, number)
    with transaction.atomic():
        answer = (
            QuizAnswer.objects.select_for_update()
            .filter(user=user, lesson=lesson.slug, question=number)
            .first()
        )
        if answer is None:
            QuizAnswer.objects.create(
                user=user,
                lesson=lesson.slug,
                question=number,
                choice=feedback.choice,
                correct=feedback.correct,
                first_correct=feedback.correct,
            )
        else:
            answer.choice, answer.correct = feedback.choice, feedback.correct
            answer.attempts += 1
            answer.answered_at = timezone.now()
            answer.save(update_fields=["choice", "correct", "attempts", "answered_at"])
    correct = QuizAnswer.objects.filter(user=user, lesson=lesson.slug, correct=True).count()
    score = {"correct": correct, "questions": len(lesson.quiz)}
    _announce(QuizAnswer, user, QUIZ, lesson.slug, None, score)
    return {**feedback.as_dict(), "score": score}


# --- reading progress --------------------------------------------------------------


def _summary(
    lesson: Lesson, rows: dict[tuple[str, int], Progress], answers: dict[int, QuizAnswer]
) -> dict:
    steps = [_view(STEP, i, step, rows.get((STEP, i))) for i, step in enumerate(lesson.steps, 1)]
    challenges = [
        _view(CHALLENGE, i, c, rows.get((CHALLENGE, i))) for i, c in enumerate(lesson.challenges, 1)
    ]
    correct = sum(1 for a in answers.values() if a.correct)
    checked = [item for item in steps + challenges if item["checked"]]
    done = sum(1 for item in checked if item["state"] == Progress.DONE)
    return {
        "slug": lesson.slug,
        "title": lesson.title,
        "steps": steps,
        "challenges": challenges,
        "quiz": {
            "questions": len(lesson.quiz),
            "answered": len(answers),
            "correct": correct,
            "first_try": sum(1 for a in answers.values() if a.first_correct),
        },
        "checked_done": done,
        "checked_total": len(checked),
        "done": done == len(checked) and correct == len(lesson.quiz),
    }


def _next(summaries: list[dict]) -> dict[str, Any] | None:
    """The first checked step, challenge or unfinished quiz not done, in course order."""
    for summary in summaries:
        for item in summary["steps"] + summary["challenges"]:
            if item["checked"] and item["state"] != Progress.DONE:
                return {
                    "lesson": summary["slug"],
                    "kind": item["kind"],
                    "number": item["number"],
                    "title": item["title"],
                    "anchor": item["anchor"],
                }
        quiz_state = summary["quiz"]
        if quiz_state["correct"] < quiz_state["questions"]:
            return {
                "lesson": summary["slug"],
                "kind": "quiz",
                "number": None,
                "title": "Quiz",
                "anchor": "#quiz",
            }
    return None


def progress_table(users: Iterable) -> dict[Any, dict[str, Any]]:
    """Every lesson's progress for each of `users`, by user pk; two queries in all."""
    users = list(users)
    ids = [user.pk for user in users]
    rows: dict[Any, dict[str, dict]] = defaultdict(lambda: defaultdict(dict))
    for row in Progress.objects.filter(user_id__in=ids).exclude(kind=EXERCISE):
        rows[row.user_id][row.lesson][(row.kind, row.number)] = row
    answers: dict[Any, dict[str, dict]] = defaultdict(lambda: defaultdict(dict))
    for answer in QuizAnswer.objects.filter(user_id__in=ids):
        answers[answer.user_id][answer.lesson][answer.question] = answer
    table = {}
    for pk in ids:
        summaries = [
            _summary(lesson, rows[pk][lesson.slug], answers[pk][lesson.slug])
            for lesson in loader.all_lessons()
        ]
        table[pk] = {"lessons": summaries, "next": _next(summaries)}
    return table


def progress_for(user) -> dict[str, Any]:
    """Every lesson's progress for one learner, and the next thing to do."""
    return progress_table([user])[user.pk]
