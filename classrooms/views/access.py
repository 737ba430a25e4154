"""Who may see what, in one place: everything outside the caller's reach is a 404.

- Trainer pages need the trainer role (classrooms.roles) and, for a class,
  that the trainer owns or co-owns it; for an exercise, that they wrote it.
- A learner's detail page needs the class (as above) and the learner to be
  in it.
- An assigned exercise is open to the class's learners (to do) and to its
  owners (to preview).
A missing object and one outside reach look the same, as everywhere on the
site: a class id that exists but is someone else's is "not found".
"""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import get_object_or_404

from classrooms.models import Assignment, Classroom, Exercise, Membership
from classrooms.roles import is_trainer

NOT_FOUND = "Not found."


def trainer(user) -> None:
    if not is_trainer(user):
        raise Http404(NOT_FOUND)


def classroom(user, classroom_id: int) -> Classroom:
    """A class `user` runs (owner or co-owner), or 404."""
    trainer(user)
    return get_object_or_404(
        Classroom.objects.run_by(user).select_related("owner"), pk=classroom_id
    )


def owned_classroom(user, classroom_id: int) -> Classroom:
    """A class `user` owns (not only co-owns), or 404."""
    trainer(user)
    return get_object_or_404(Classroom, pk=classroom_id, owner=user)


def member(classroom: Classroom, user_id: int) -> Membership:
    return get_object_or_404(
        Membership.objects.select_related("user"), classroom=classroom, user_id=user_id
    )


def exercise(user, exercise_id: int) -> Exercise:
    """An exercise `user` wrote, or 404."""
    trainer(user)
    return get_object_or_404(Exercise, pk=exercise_id, owner=user)


def assigned_exercise(
    user, classroom_id: int, assignment_id: int
) -> tuple[Assignment, bool]:
    """An exercise assigned in a class; (assignment, preview) where preview means an owner.

    Learners of the class may open it; its owners and co-owners see a preview.
    """
    if not getattr(user, "is_authenticated", False):
        raise Http404(NOT_FOUND)
    assignment = (
        Assignment.objects.select_related("exercise", "classroom")
        .filter(pk=assignment_id, classroom_id=classroom_id, kind=Assignment.EXERCISE)
        .first()
    )
    if assignment is None:
        raise Http404(NOT_FOUND)
    if Membership.objects.filter(classroom_id=classroom_id, user=user).exists():
        return assignment, False
    if is_trainer(user) and assignment.classroom.is_run_by(user):
        return assignment, True
    raise Http404(NOT_FOUND)
