"""Joining a class by its code: from the join page, or while signing up.

`live_classroom` is the one place that decides whether a code opens a
class: a well-formed code of a class whose end date has not passed. Guesses
are limited per learner and per address (accounts.limits, Django's cache):
only refused codes count, so a class of learners typing the right code
from one address is never locked out by the right code.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import formats

from classrooms import codes, live
from classrooms.models import Classroom, Membership

WRONG = "No class has that code: check it with your trainer (it looks like K7QM-3XHP)."


class JoinRefused(Exception):
    """A code that lets nobody in; `message` is for the learner, `code` says why."""

    def __init__(self, message: str, code: str = "wrong"):
        super().__init__(message)
        self.message = message
        self.code = code  # "wrong" or "ended"


def find_classroom(code: object) -> Classroom:
    """The class a code opens; JoinRefused says why none (wrong, or the class ended)."""
    normal = codes.normalize(code)
    classroom = Classroom.objects.filter(code=normal).first() if normal else None
    if classroom is None:
        raise JoinRefused(WRONG)
    if classroom.ended:
        ended = formats.date_format(classroom.ends_on, "j F Y")
        raise JoinRefused(
            f"{classroom.name} ended on {ended}: its code no longer works. "
            "Ask your trainer for the code of a current class.",
            "ended",
        )
    return classroom


def live_classroom(code: object) -> Classroom | None:
    """The class this code opens now, or None."""
    try:
        return find_classroom(code)
    except JoinRefused:
        return None


def join(user, classroom: Classroom) -> bool:
    """Put `user` in `classroom`; False if they were in it already."""
    try:
        with transaction.atomic():
            _, created = Membership.objects.get_or_create(
                classroom=classroom, user=user
            )
    except IntegrityError:  # joined at the same moment from another tab
        return False
    if created:
        live.member_joined(classroom, user)
    return created
