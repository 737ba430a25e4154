"""Signal receivers of the classrooms app, connected once from ClassroomsConfig.ready."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_migrate


def _trainer_group(sender, **kwargs) -> None:
    from classrooms.roles import trainer_group

    trainer_group()


def _exercise_deleted(sender, instance, **kwargs) -> None:
    # Progress names an exercise by id (lessons.models.Progress): its rows go with it.
    from lessons.models import Progress

    Progress.objects.filter(kind=Progress.EXERCISE, number=instance.pk).delete()


def connect() -> None:
    from django.apps import apps

    from classrooms import live
    from classrooms.models import Exercise
    from lessons.signals import progress_changed

    progress_changed.connect(live.on_progress_changed, dispatch_uid="classrooms.live")
    post_delete.connect(
        _exercise_deleted, sender=Exercise, dispatch_uid="classrooms.exercise"
    )
    post_migrate.connect(
        _trainer_group,
        sender=apps.get_app_config("classrooms"),
        dispatch_uid="classrooms.group",
    )
