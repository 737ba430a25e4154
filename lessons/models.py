"""What a learner has done, kept by user (not by sandbox): it outlives reloads,
restarts and the sandbox's expiry.

Three tables, each filtered by user first, so a page of many learners'
progress costs one query per table whatever the number of learners:
- Progress: one row per learner and checked step, challenge or exercise (a
  trainer's, classrooms.models.Exercise: kind "exercise", `lesson` empty,
  `number` the exercise's id; its rows go when the exercise does);
- QuizAnswer: one row per learner and quiz question (the last answer);
- LabAction: the lab history, one row per action the websocket layer (or
  the solution runner) performed, with its outcome.
Lessons are named by slug and steps by their 1-based position, as the
lesson files order them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Progress(models.Model):
    STEP = "step"
    CHALLENGE = "challenge"
    EXERCISE = "exercise"
    KINDS = [(STEP, "step"), (CHALLENGE, "challenge"), (EXERCISE, "exercise")]

    NOT_STARTED = "not_started"
    FAILING = "failing"
    DONE = "done"
    STATES = [(NOT_STARTED, "not started"), (FAILING, "failing"), (DONE, "done")]

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="lesson_progress"
    )
    lesson = models.CharField(max_length=64, blank=True)  # "" for an exercise
    kind = models.CharField(max_length=10, choices=KINDS)
    # 1-based, in the lesson file's order; an exercise's id for an exercise.
    number = models.PositiveIntegerField()
    state = models.CharField(max_length=12, choices=STATES, default=NOT_STARTED)
    attempts = models.PositiveIntegerField(default=0)
    hints_revealed = models.PositiveSmallIntegerField(default=0)
    solution_revealed = models.BooleanField(default=False)
    # Why the last check failed (empty once done), and every result of it.
    reason = models.TextField(blank=True)
    results = models.JSONField(default=list, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "lesson", "kind", "number"], name="one_progress_per_item"
            )
        ]
        ordering = ["user", "lesson", "kind", "number"]

    def __str__(self) -> str:
        return f"{self.user_id} {self.lesson} {self.kind} {self.number}: {self.state}"


class QuizAnswer(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quiz_answers"
    )
    lesson = models.CharField(max_length=64)
    question = models.PositiveSmallIntegerField()  # 1-based
    choice = models.SmallIntegerField()  # the last answer, a 0-based option index
    correct = models.BooleanField()
    attempts = models.PositiveIntegerField(default=1)
    first_correct = models.BooleanField()  # right at the first try
    answered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "lesson", "question"], name="one_answer_per_question"
            )
        ]
        ordering = ["user", "lesson", "question"]


class LabAction(models.Model):
    """One action done in a learner's sandbox, and how it went."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="lab_actions"
    )
    sandbox = models.CharField(max_length=10, blank=True)  # the sandbox id it was done in
    action = models.CharField(max_length=16)  # a websocket action name
    args = models.JSONField(default=dict, blank=True)  # its arguments, long texts digested
    command = models.CharField(max_length=500)  # the docker command it stands for
    ok = models.BooleanField()
    message = models.TextField(blank=True)
    exit_code = models.IntegerField(null=True, blank=True)  # a finished run's
    output = models.TextField(blank=True)  # the last lines of a run's output
    detail = models.JSONField(default=dict, blank=True)  # e.g. the image id built or pushed
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["user", "sandbox", "-at"], name="lab_history_recent")]
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.user_id} {self.command} ({'ok' if self.ok else 'error'})"
