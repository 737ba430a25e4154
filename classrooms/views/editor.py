"""The exercise editor: write, check and try an exercise before assigning it.

"Try these checks against my sandbox" evaluates the checks as they stand in
the form (not yet saved) against the trainer's OWN sandbox, exactly as a
learner's would be: it reaches the engine and may take seconds, so the view
is async and runs the evaluation in a worker thread of its own, off the
event loop and off the one thread Django's database work shares.
"""

from __future__ import annotations

import json

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import close_old_connections, connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from checks.evaluation import EvaluationBusy, evaluate
from classrooms import exercises
from classrooms.exercises import InvalidExercise
from classrooms.forms import ExerciseForm
from classrooms.models import Exercise
from classrooms.roles import is_trainer
from classrooms.views import access
from sandboxes.errors import SandboxError

MAX_TRY_BODY = 64 * 1024


def _editor(request: HttpRequest, form: ExerciseForm, exercise=None, status: int = 200):
    return render(
        request,
        "classrooms/editor.html",
        {
            "form": form,
            "exercise": exercise,
            "vocabulary": exercises.editor_vocabulary(),
            "error_path": getattr(form, "error_path", ""),
        },
        status=status,
    )


def _save(form: ExerciseForm, exercise: Exercise) -> Exercise:
    for name in ("title", "instructions", "checks", "hints", "solution"):
        setattr(exercise, name, form.cleaned_data[name])
    exercise.save()
    return exercise


@login_required
def new(request: HttpRequest) -> HttpResponse:
    access.trainer(request.user)
    form = ExerciseForm(request.POST or None)
    if request.method == "POST":
        if not form.is_valid():
            return _editor(request, form, status=400)
        exercise = _save(form, Exercise(owner=request.user))
        messages.success(
            request, f"Exercise {exercise.title} saved: assign it from a class."
        )
        return redirect("classrooms:exercise_edit", exercise.pk)
    return _editor(request, form)


@login_required
def edit(request: HttpRequest, exercise_id: int) -> HttpResponse:
    exercise = access.exercise(request.user, exercise_id)
    if request.method == "POST":
        form = ExerciseForm(request.POST)
        if not form.is_valid():
            return _editor(request, form, exercise, status=400)
        _save(form, exercise)
        messages.success(request, "Saved.")
        return redirect("classrooms:exercise_edit", exercise.pk)
    return _editor(
        request, ExerciseForm(initial=ExerciseForm.initial_for(exercise)), exercise
    )


@login_required
@require_POST
def delete(request: HttpRequest, exercise_id: int) -> HttpResponse:
    exercise = access.exercise(request.user, exercise_id)
    title = exercise.title
    exercise.delete()
    messages.success(request, f"Exercise {title} deleted, with its assignments.")
    return redirect("classrooms:index")


def _try_in_own_sandbox(user, specs) -> list[dict]:
    """Evaluate in this worker thread; its database connection is closed afterwards."""
    close_old_connections()
    try:
        return [result.as_dict() for result in evaluate(specs, user=user)]
    finally:
        connections.close_all()


def _error(status: int, code: str, message: str, field: str = "") -> JsonResponse:
    return JsonResponse(
        {"error": {"code": code, "message": message, "field": field}}, status=status
    )


@require_POST
async def try_checks(request: HttpRequest) -> HttpResponse:
    """POST {"checks": [...]}: the checks' results in the trainer's own sandbox."""
    user = await request.auser()
    if not await sync_to_async(is_trainer)(user):
        return _error(404, "not_found", access.NOT_FOUND)
    if len(request.body) > MAX_TRY_BODY:
        return _error(413, "too_large", "Too many or too long checks to try at once.")
    try:
        raw = json.loads(request.body or b"null")
        specs = exercises.clean_checks(
            raw.get("checks") if isinstance(raw, dict) else None
        )
    except ValueError as exc:
        if isinstance(exc, InvalidExercise):
            return _error(400, "invalid", exc.message, exc.path)
        return _error(400, "bad_json", 'Send JSON like {"checks": [...]}.')
    try:
        results = await sync_to_async(_try_in_own_sandbox, thread_sensitive=False)(
            user, specs
        )
    except EvaluationBusy as exc:
        return _error(429, exc.code, exc.message)
    except SandboxError as exc:
        return _error(503, exc.code, exc.message)
    return JsonResponse(
        {"passed": all(r["passed"] for r in results), "results": results}
    )
