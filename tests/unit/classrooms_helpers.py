"""Shared makers for the classrooms tests: trainers, learners, classes, exercises."""

from __future__ import annotations

import json
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from classrooms import roles
from classrooms.models import Assignment, Classroom, Exercise, Membership

PASSWORD = "a-long-Passphrase-9"

TWO_CHECKS = [
    {"check": "image_exists", "with": {"image": "flask-app"}},
    {"check": "container_running", "with": {"name": "web"}},
]
QUIZ_CHECK = [{"check": "quiz_passed", "with": {"lesson": "orchestration", "min_correct": 3}}]


def user(name: str, trainer: bool = False):
    made = get_user_model().objects.create_user(name, password=PASSWORD)
    if trainer:
        roles.make_trainer(made)
    return made


def classroom(owner, name: str = "Monday group", days: int = 30, **fields) -> Classroom:
    return Classroom.objects.create(
        name=name, owner=owner, ends_on=timezone.localdate() + timedelta(days=days), **fields
    )


def member(classroom: Classroom, learner) -> Membership:
    return Membership.objects.create(classroom=classroom, user=learner)


def exercise(owner, checks=None, **fields) -> Exercise:
    values = {
        "title": "Run the app",
        "instructions": "Build **flask-app** and run it as `web`.",
        "checks": checks if checks is not None else TWO_CHECKS,
        "hints": ["Build first.", "Then docker run -d --name web flask-app."],
        "solution": ["docker build -t flask-app .", "docker run -d --name web flask-app"],
        **fields,
    }
    return Exercise.objects.create(owner=owner, **values)


def assign_exercise(classroom: Classroom, made: Exercise, due_at=None) -> Assignment:
    return Assignment.objects.create(
        classroom=classroom, kind="exercise", exercise=made, due_at=due_at
    )


def assign_lesson(classroom: Classroom, slug: str, due_at=None) -> Assignment:
    return Assignment.objects.create(classroom=classroom, kind="lesson", lesson=slug, due_at=due_at)


def editor_post(**overrides) -> dict:
    data = {
        "title": "Run the app",
        "instructions": "Build it and run it as web.",
        "checks": json.dumps(TWO_CHECKS),
        "hints": "Build first.\nThen run it.",
        "solution": "docker build -t flask-app .\ndocker run -d --name web flask-app",
    }
    data.update(overrides)
    return data
