"""The home page: the course and the engine's state; for a signed-in learner, their
progress in every lesson, the next thing to do, and their classes' assignments."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from classrooms.dashboard import learner_classes
from classrooms.roles import is_trainer
from engine.status import engine_status
from lessons.loader import all_lessons
from lessons.progress import progress_for


def home(request: HttpRequest) -> HttpResponse:
    context = {"engine": engine_status(), "lessons": all_lessons()}
    user = request.user
    if user.is_authenticated:
        context.update(
            progress=progress_for(user),
            learning=learner_classes(user),
            trainer=is_trainer(user),
        )
    return render(request, "home.html", context)
