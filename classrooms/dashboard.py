"""A class's progress: learners x assigned items, and each learner's own view.

`board(classroom)` reads everything in a fixed number of queries whatever
the number of learners or items (assignments, members, progress, quiz
answers, the last lab action): each table is read once, filtered by the
class's members through a join, and only the columns needed are fetched
(no model instances for the thousands of cells of a large class).

Cells carry what the page shows and the CSV exports: the state (not
started, failing, done), the last failing reason, attempts, hints and
solution used, and whether the item is overdue for that learner (its due
time passed and it is not done).
"""

from __future__ import annotations

import csv
import html
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count, Max, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from classrooms import items
from classrooms.items import Item
from classrooms.live import DONE, FAILING, NOT_STARTED, quiz_state
from classrooms.models import Assignment, Classroom, Membership
from lessons.models import LabAction, Progress, QuizAnswer

LABELS = {DONE: "done", FAILING: "failing", NOT_STARTED: "not started"}
MARKS = {DONE: "✓", FAILING: "✗", NOT_STARTED: "·"}


@dataclass
class Cell:
    item: Item
    state: str = NOT_STARTED
    reason: str = ""
    attempts: int = 0
    hints: int = 0
    solution: bool = False
    checked_at: datetime | None = None
    done_at: datetime | None = None
    overdue: bool = False

    @property
    def label(self) -> str:
        return LABELS[self.state]

    @property
    def mark(self) -> str:
        return MARKS[self.state]

    @property
    def title(self) -> str:
        """What hovering (and a screen reader) tells: the state and why it fails."""
        text = f"{self.item.title}: {self.label}"
        if self.overdue:
            text += ", overdue"
        if self.state == FAILING and self.reason:
            text += f". {self.reason}"
        return text

    @property
    def css(self) -> str:
        return f"cell state-{self.state}" + (" overdue" if self.overdue else "")

    def html(self) -> str:
        """The cell as the dashboard's <td> (dashboard.js repaints it the same way).

        Built here rather than in the template: a class of 30 on every lesson
        is over a thousand cells, and the template language would spend most
        of the page's time on them.
        """
        # The standard library's escape (quotes too): Django's lazy-aware one
        # costs more than the rest of the cell over a thousand cells.
        title = html.escape(self.title)
        due = f' data-due="{self.item.due_at.isoformat()}"' if self.item.due_at else ""
        return (
            f'<td class="{self.css}" data-cell="{html.escape(self.item.key)}" '
            f'data-state="{self.state}"{due} title="{title}" tabindex="0">'
            f'<span aria-hidden="true">{self.mark}</span>'
            f'<span class="visually-hidden">{title}</span></td>'
        )


@dataclass
class Row:
    learner: Any  # a user
    cells: list[Cell]
    last_activity: datetime | None = None

    @property
    def done(self) -> int:
        return sum(1 for cell in self.cells if cell.state == DONE)

    @property
    def cells_html(self) -> SafeString:
        return mark_safe("".join(cell.html() for cell in self.cells))  # noqa: S308 (escaped)


@dataclass
class Board:
    classroom: Classroom
    columns: list[Item]
    rows: list[Row]
    groups: list[tuple[str, int]] = field(
        default_factory=list
    )  # (lesson title, columns)
    now: datetime = field(default_factory=timezone.now)


def _groups(columns: list[Item]) -> list[tuple[str, int]]:
    groups: list[tuple[str, int]] = []
    for item in columns:
        if groups and groups[-1][0] == item.group:
            groups[-1] = (item.group, groups[-1][1] + 1)
        else:
            groups.append((item.group, 1))
    return groups


def _progress_filter(columns: list[Item]) -> Q:
    lessons = {
        item.lesson for item in columns if item.kind in (items.STEP, items.CHALLENGE)
    }
    exercises = [item.number for item in columns if item.kind == items.EXERCISE]
    query = Q(kind__in=[items.STEP, items.CHALLENGE], lesson__in=sorted(lessons))
    if exercises:
        query |= Q(kind=items.EXERCISE, number__in=exercises)
    return query


_PROGRESS_FIELDS = (
    "user_id",
    "kind",
    "lesson",
    "number",
    "state",
    "reason",
    "attempts",
    "hints_revealed",
    "solution_revealed",
    "checked_at",
    "done_at",
)


def _progress(members_of: Q, columns: list[Item]) -> dict[tuple[int, str], tuple]:
    found = {}
    rows = Progress.objects.filter(members_of, _progress_filter(columns)).values_list(
        *_PROGRESS_FIELDS
    )
    for row in rows:
        user_id, kind, lesson, number = row[:4]
        found[(user_id, items.key(kind, lesson, number))] = row[4:]
    return found


def _quizzes(members_of: Q, columns: list[Item]) -> dict[tuple[int, str], tuple]:
    slugs = [item.lesson for item in columns if item.kind == items.QUIZ]
    if not slugs:
        return {}
    rows = (
        QuizAnswer.objects.filter(members_of, lesson__in=slugs)
        .values("user_id", "lesson")
        .annotate(
            answered=Count("id"),
            correct=Count("id", filter=Q(correct=True)),
            last=Max("answered_at"),
        )
    )
    return {
        (row["user_id"], items.key(items.QUIZ, row["lesson"])): (
            row["answered"],
            row["correct"] or 0,
            row["last"],
        )
        for row in rows
    }


def _last_lab_actions(members_of: Q) -> dict[int, datetime]:
    rows = (
        LabAction.objects.filter(members_of).values("user_id").annotate(last=Max("at"))
    )
    return {row["user_id"]: row["last"] for row in rows}


def _cell(
    item: Item, progress: tuple | None, quiz: tuple | None, now: datetime
) -> Cell:
    cell = Cell(item)
    if item.kind == items.QUIZ:
        if quiz is not None:
            answered, correct, cell.checked_at = quiz
            cell.state, cell.reason = quiz_state(correct, item.questions, answered)
            cell.attempts = answered
    elif progress is not None:
        (
            cell.state,
            reason,
            cell.attempts,
            cell.hints,
            cell.solution,
            cell.checked_at,
            cell.done_at,
        ) = progress
        cell.reason = reason if cell.state == FAILING else ""
    cell.overdue = item.due_at is not None and item.due_at < now and cell.state != DONE
    return cell


def _latest(*moments: datetime | None) -> datetime | None:
    present = [moment for moment in moments if moment is not None]
    return max(present) if present else None


def board(classroom: Classroom) -> Board:
    """The class's whole dashboard, in a fixed number of queries."""
    assignments = list(classroom.assignments.select_related("exercise"))
    columns = items.columns(assignments)
    members = list(
        Membership.objects.filter(classroom=classroom)
        .select_related("user")
        .order_by("user__username")
    )
    members_of = Q(user__class_memberships__classroom=classroom)
    progress = _progress(members_of, columns) if columns else {}
    quizzes = _quizzes(members_of, columns)
    lab = _last_lab_actions(members_of)
    now = timezone.now()
    rows = []
    for member in members:
        uid = member.user_id
        cells = [
            _cell(
                item, progress.get((uid, item.key)), quizzes.get((uid, item.key)), now
            )
            for item in columns
        ]
        last = _latest(lab.get(uid), *(cell.checked_at for cell in cells))
        rows.append(Row(member.user, cells, last))
    return Board(classroom, columns, rows, _groups(columns), now)


# --- CSV ------------------------------------------------------------------------------


def _safe(value: Any) -> str:
    """A CSV value a spreadsheet shows as text (never runs it as a formula)."""
    text = "" if value is None else str(value)
    if text and text[0] in "=+-@\t\r":
        return "'" + text
    return text


def as_csv(result: Board) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    header = ["learner", "last activity", "done", "of"]
    header += [f"{item.group} / {item.short}: {item.title}" for item in result.columns]
    writer.writerow([_safe(value) for value in header])
    for row in result.rows:
        values = [
            row.learner.get_username(),
            row.last_activity.isoformat() if row.last_activity else "",
            row.done,
            len(row.cells),
        ]
        values += [
            cell.label + (" (overdue)" if cell.overdue else "") for cell in row.cells
        ]
        writer.writerow([_safe(value) for value in values])
    return out.getvalue()


# --- one learner -----------------------------------------------------------------------


def learner_cells(classroom: Classroom, learner) -> tuple[list[Cell], dict[str, dict]]:
    """Every item of the class for one learner, and the stored results of their last checks."""
    columns = items.columns(classroom.assignments.select_related("exercise"))
    mine = Q(user=learner)
    progress = _progress(mine, columns) if columns else {}
    quizzes = _quizzes(mine, columns)
    now = timezone.now()
    cells = [
        _cell(
            item,
            progress.get((learner.pk, item.key)),
            quizzes.get((learner.pk, item.key)),
            now,
        )
        for item in columns
    ]
    results = {}
    if columns:
        for kind, lesson, number, stored in Progress.objects.filter(
            mine, _progress_filter(columns)
        ).values_list("kind", "lesson", "number", "results"):
            results[items.key(kind, lesson, number)] = (
                stored if isinstance(stored, list) else []
            )
    return cells, results


@dataclass
class LearnerAssignment:
    assignment: Any
    title: str
    link: str
    state: str
    done: int
    total: int
    overdue: bool


def learner_classes(user) -> list[tuple[Classroom, list[LearnerAssignment]]]:
    """The classes `user` is in, each with its assignments and the learner's state of each."""
    memberships = list(
        Membership.objects.filter(user=user)
        .select_related("classroom")
        .order_by("-joined_at")
    )
    if not memberships:
        return []
    by_class = defaultdict(list)
    for assignment in Assignment.objects.filter(
        classroom__memberships__user=user
    ).select_related("exercise"):
        by_class[assignment.classroom_id].append(assignment)
    every = [a for assignments in by_class.values() for a in assignments]
    columns = items.columns(every)
    mine = Q(user=user)
    progress = _progress(mine, columns) if columns else {}
    quizzes = _quizzes(mine, columns)
    now = timezone.now()
    result = []
    for membership in memberships:
        listed = []
        for assignment in by_class.get(membership.classroom_id, []):
            covered = items.assignment_items(assignment)
            states = [
                _cell(
                    item,
                    progress.get((user.pk, item.key)),
                    quizzes.get((user.pk, item.key)),
                    now,
                ).state
                for item in covered
            ]
            listed.append(_learner_assignment(assignment, covered, states))
        result.append((membership.classroom, listed))
    return result


def _learner_assignment(
    assignment, covered: list[Item], states: list[str]
) -> LearnerAssignment:
    done = sum(1 for state in states if state == DONE)
    if states and done == len(states):
        state = DONE
    elif any(state != NOT_STARTED for state in states):
        state = FAILING
    else:
        state = NOT_STARTED
    if len(covered) == 1:
        link = covered[0].link
    elif covered:
        link = reverse("lessons:detail", args=[assignment.lesson])
    else:
        link = ""
    return LearnerAssignment(
        assignment,
        items.describe_assignment(assignment),
        link,
        state,
        done,
        len(states),
        assignment.overdue and state != DONE,
    )
