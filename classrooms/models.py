"""Classes (cohorts), who is in them, what is assigned, and trainers' exercises.

- Classroom: a trainer's class, with a join code (classrooms.codes) and an
  end date after which the code no longer lets anyone in; co-owners are
  other trainers who run it with the owner.
- Membership: a learner in a class (a learner may be in several).
- Exercise: a trainer's own exercise: Markdown instructions, checks from the
  vocabulary, hints, solution lines. Stored as the trainer wrote them once
  they passed classrooms.exercises; read back through the same checks.
- Assignment: a lesson, one of its steps or challenges, or an exercise,
  assigned to a class with an optional due time.

Progress is not kept here: lessons.models.Progress holds it for steps,
challenges and exercises alike, by learner.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q, QuerySet
from django.utils import timezone

from classrooms import codes


class ClassroomQuerySet(QuerySet):
    def run_by(self, user) -> QuerySet:
        """The classes `user` owns or co-owns."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(Q(owner=user) | Q(co_owners=user)).distinct()


class Classroom(models.Model):
    name = models.CharField(max_length=100)
    code = models.CharField(max_length=codes.LENGTH, unique=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="classrooms_owned",
    )
    co_owners = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="classrooms_co_owned"
    )
    # The last day the join code works (inclusive, in the site's time zone).
    ends_on = models.DateField()
    created_at = models.DateTimeField(default=timezone.now)

    objects = ClassroomQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("teach", "Can create and run classes and exercises (a trainer)")
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        if not self.code:
            self.code = _unused_code()
        super().save(*args, **kwargs)

    @property
    def shown_code(self) -> str:
        return codes.shown(self.code)

    @property
    def ended(self) -> bool:
        return self.ends_on < timezone.localdate()

    def is_run_by(self, user) -> bool:
        return self.owner_id == user.pk or self.co_owners.filter(pk=user.pk).exists()


def _unused_code() -> str:
    for _ in range(20):
        code = codes.new_code()
        if not Classroom.objects.filter(code=code).exists():
            return code
    raise RuntimeError(
        "could not find an unused join code"
    )  # 20 collisions in 2^39: never


class Membership(models.Model):
    classroom = models.ForeignKey(
        Classroom, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="class_memberships",
    )
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["classroom", "user"], name="one_membership_per_class"
            )
        ]
        ordering = ["classroom", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.classroom}"


class Exercise(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="exercises"
    )
    title = models.CharField(max_length=200)
    instructions = models.TextField()  # Markdown, rendered with raw HTML escaped
    checks = models.JSONField(
        default=list
    )  # [{"check": name, "with": {...}}], as written
    hints = models.JSONField(default=list, blank=True)  # one line each
    solution = models.JSONField(default=list, blank=True)  # lab command lines
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title", "id"]

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        """The admin's form checks an exercise as the editor does."""
        from classrooms.exercises import (
            InvalidExercise,
            clean_exercise,
        )  # deferred: cycle

        try:
            clean_exercise(
                self.title, self.instructions, self.checks, self.hints, self.solution
            )
        except InvalidExercise as exc:
            from django.core.exceptions import ValidationError

            raise ValidationError(exc.message) from None

    def as_item(self):
        """The exercise as lessons.progress checks it (checks validated again on the way)."""
        from classrooms.exercises import as_item  # deferred: cycle

        return as_item(self)


class Assignment(models.Model):
    LESSON = "lesson"
    STEP = "step"
    CHALLENGE = "challenge"
    EXERCISE = "exercise"
    KINDS = [
        (LESSON, "lesson"),
        (STEP, "step"),
        (CHALLENGE, "challenge"),
        (EXERCISE, "exercise"),
    ]

    classroom = models.ForeignKey(
        Classroom, on_delete=models.CASCADE, related_name="assignments"
    )
    kind = models.CharField(max_length=10, choices=KINDS)
    lesson = models.CharField(
        max_length=64, blank=True
    )  # a lesson's slug; "" for an exercise
    number = models.PositiveSmallIntegerField(
        null=True, blank=True
    )  # a step's or challenge's
    exercise = models.ForeignKey(
        Exercise,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="assignments",
    )
    due_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["classroom", "created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(kind="lesson", number__isnull=True, exercise__isnull=True)
                    | Q(
                        kind__in=["step", "challenge"],
                        number__isnull=False,
                        exercise__isnull=True,
                    )
                    | Q(
                        kind="exercise",
                        lesson="",
                        number__isnull=True,
                        exercise__isnull=False,
                    )
                ),
                name="assignment_names_one_item",
            )
        ]

    def __str__(self) -> str:
        return f"{self.classroom}: {self.key}"

    @property
    def key(self) -> str:
        """The assigned item's key: lesson:SLUG, step:SLUG:N, challenge:SLUG:N, exercise:ID."""
        if self.kind == self.EXERCISE:
            return f"exercise:{self.exercise_id}"
        if self.kind == self.LESSON:
            return f"lesson:{self.lesson}"
        return f"{self.kind}:{self.lesson}:{self.number}"

    @property
    def overdue(self) -> bool:
        return self.due_at is not None and self.due_at < timezone.now()
