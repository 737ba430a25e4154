"""What can be assigned, and the items a class's progress is shown by.

An assignment names a lesson, a step or challenge of one, or an exercise.
On the dashboard a lesson stands for its checked steps, its challenges and
its quiz, so the columns are items, each with a key that progress changes
are matched by (lessons.signals.progress_changed carries kind, lesson and
number):

    step:SLUG:N    challenge:SLUG:N    quiz:SLUG    exercise:ID

Lessons are named by slug; a lesson that is no longer installed is skipped
(its assignments stay, shown as gone), so editing lesson files never breaks
a class.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.urls import reverse

from lessons import loader
from lessons.loader import Lesson

STEP, CHALLENGE, QUIZ, EXERCISE = "step", "challenge", "quiz", "exercise"


def key(kind: str, lesson: str = "", number: int | None = None) -> str:
    if kind == EXERCISE:
        return f"exercise:{number}"
    if kind == QUIZ:
        return f"quiz:{lesson}"
    return f"{kind}:{lesson}:{number}"


@dataclass
class Item:
    """One column: a checked step, a challenge, a quiz or an exercise."""

    key: str
    kind: str
    lesson: str  # slug; "" for an exercise
    number: int | None
    title: str
    short: str  # the column's heading: S3, C1, Quiz, E
    group: str  # the lesson's title, or "Exercises"
    link: str  # where the learner does it
    due_at: datetime | None = None
    questions: int = 0  # a quiz's
    assignments: list = field(default_factory=list)  # the assignment ids covering it

    def cover(self, assignment) -> None:
        self.assignments.append(assignment.pk)
        due = assignment.due_at
        if due is not None and (self.due_at is None or due < self.due_at):
            self.due_at = due


def _lesson_link(lesson: Lesson, anchor: str = "") -> str:
    return reverse("lessons:detail", args=[lesson.slug]) + anchor


def _step(lesson: Lesson, number: int) -> Item:
    step = lesson.steps[number - 1]
    return Item(
        key(STEP, lesson.slug, number),
        STEP,
        lesson.slug,
        number,
        step.title,
        f"S{number}",
        lesson.title,
        _lesson_link(lesson, f"#step-{number}"),
    )


def _challenge(lesson: Lesson, number: int) -> Item:
    challenge = lesson.challenges[number - 1]
    return Item(
        key(CHALLENGE, lesson.slug, number),
        CHALLENGE,
        lesson.slug,
        number,
        challenge.title,
        f"C{number}",
        lesson.title,
        _lesson_link(lesson, f"#challenge-{number}"),
    )


def _quiz(lesson: Lesson) -> Item:
    return Item(
        key(QUIZ, lesson.slug),
        QUIZ,
        lesson.slug,
        None,
        f"{lesson.title}: quiz",
        "Quiz",
        lesson.title,
        _lesson_link(lesson, "#quiz"),
        questions=len(lesson.quiz),
    )


def lesson_items(lesson: Lesson) -> list[Item]:
    """A lesson's checked steps, its challenges and its quiz, in the lesson's order."""
    found = [_step(lesson, i) for i, step in enumerate(lesson.steps, 1) if step.checks]
    found += [_challenge(lesson, i) for i in range(1, len(lesson.challenges) + 1)]
    if lesson.quiz:
        found.append(_quiz(lesson))
    return found


def assignment_items(assignment) -> list[Item]:
    """The items one assignment stands for (none if its lesson or step is gone)."""
    kind = assignment.kind
    if kind == EXERCISE:
        exercise = assignment.exercise
        link = reverse(
            "classrooms:exercise", args=[assignment.classroom_id, assignment.pk]
        )
        return [
            Item(
                key(EXERCISE, number=exercise.pk),
                EXERCISE,
                "",
                exercise.pk,
                exercise.title,
                "E",
                "Exercises",
                link,
            )
        ]
    lesson = loader.get_lesson(assignment.lesson)
    if lesson is None:
        return []
    if kind == "lesson":
        return lesson_items(lesson)
    items = lesson.steps if kind == STEP else lesson.challenges
    if not assignment.number or assignment.number > len(items):
        return []
    if kind == STEP:
        return [_step(lesson, assignment.number)]
    return [_challenge(lesson, assignment.number)]


def columns(assignments: Iterable) -> list[Item]:
    """The items of a class's assignments, each once, lessons in course order.

    An item assigned twice (a lesson and one of its steps) keeps the earlier
    due time.
    """
    found: dict[str, Item] = {}
    for assignment in assignments:
        for item in assignment_items(assignment):
            existing = found.setdefault(item.key, item)
            existing.cover(assignment)
    order = {lesson.slug: i for i, lesson in enumerate(loader.all_lessons())}
    return sorted(
        found.values(),
        key=lambda item: (
            order.get(item.lesson, len(order)) if item.kind != EXERCISE else len(order),
            list(found).index(item.key),
        ),
    )


def describe_assignment(assignment) -> str:
    """An assignment in words, for lists."""
    if assignment.kind == EXERCISE:
        return f"Exercise: {assignment.exercise.title}"
    lesson = loader.get_lesson(assignment.lesson)
    if lesson is None:
        return f"{assignment.kind.capitalize()} of a lesson no longer on this site ({assignment.lesson})"
    if assignment.kind == "lesson":
        return f"Lesson: {lesson.title}"
    items = lesson.steps if assignment.kind == STEP else lesson.challenges
    if not assignment.number or assignment.number > len(items):
        return f"{lesson.title}: {assignment.kind} {assignment.number} (no longer in the lesson)"
    title = items[assignment.number - 1].title
    return f"{lesson.title}: {assignment.kind} {assignment.number}, {title}"


def choices(exercises: Iterable) -> list[tuple[str, list[tuple[str, str]]]]:
    """The assign form's choices, grouped: each lesson and its checked items, then exercises.

    Values: lesson:SLUG, step:SLUG:N, challenge:SLUG:N, exercise:ID.
    """
    groups = []
    for lesson in loader.all_lessons():
        options = [(f"lesson:{lesson.slug}", f"The whole lesson: {lesson.title}")]
        options += [
            (key(STEP, lesson.slug, i), f"Step {i}: {step.title}")
            for i, step in enumerate(lesson.steps, 1)
            if step.checks
        ]
        options += [
            (key(CHALLENGE, lesson.slug, i), f"Challenge {i}: {challenge.title}")
            for i, challenge in enumerate(lesson.challenges, 1)
        ]
        groups.append((lesson.title, options))
    own = [
        (key(EXERCISE, number=exercise.pk), exercise.title) for exercise in exercises
    ]
    if own:
        groups.append(("Your exercises", own))
    return groups
