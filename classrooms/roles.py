"""Who is a trainer: the `classrooms.teach` permission, held through the "trainers" group.

A trainer may create classes and exercises and see the classes they own or
co-own; nothing else about a trainer is special (they have a sandbox like
any learner, and may join other trainers' classes). The permission is the
one rule; the group is how it is given: `manage.py trainer add USERNAME`
puts a user in the group, and so does ticking the group on the user's page
in the admin (or giving the user the permission directly there). Active
superusers hold every permission, so they are trainers too.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q, QuerySet

GROUP = "trainers"
PERMISSION = "teach"  # on classrooms.Classroom: "classrooms.teach"


def is_trainer(user) -> bool:
    """Whether `user` may create and run classes."""
    return bool(
        getattr(user, "is_authenticated", False)
        and user.is_active
        and user.has_perm(f"classrooms.{PERMISSION}")
    )


def teach_permission() -> Permission:
    """The permission (made if migrations have not made it yet)."""
    from classrooms.models import (
        Classroom,
    )  # deferred: roles is imported by apps.py's code

    permission, _ = Permission.objects.get_or_create(
        content_type=ContentType.objects.get_for_model(Classroom),
        codename=PERMISSION,
        defaults={"name": "Can create and run classes and exercises (a trainer)"},
    )
    return permission


def trainer_group() -> Group:
    """The "trainers" group, holding the permission (made if missing)."""
    group, _ = Group.objects.get_or_create(name=GROUP)
    group.permissions.add(teach_permission())
    return group


def make_trainer(user) -> None:
    user.groups.add(trainer_group())


def unmake_trainer(user) -> None:
    """Take the role away: out of the group, and the permission if given directly."""
    user.groups.remove(trainer_group())
    user.user_permissions.remove(teach_permission())


def trainers() -> QuerySet:
    """Every user holding the permission, through the group or directly, or a superuser."""
    perm = Q(groups__permissions__codename=PERMISSION) & Q(
        groups__permissions__content_type__app_label="classrooms"
    )
    direct = Q(user_permissions__codename=PERMISSION) & Q(
        user_permissions__content_type__app_label="classrooms"
    )
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(perm | direct | Q(is_superuser=True))
        .distinct()
        .order_by("username")
    )
