"""A learner's side: joining a class by code, and doing an assigned exercise.

"Check my work" is an HTTP POST that evaluates the exercise's checks
against the learner's own sandbox and records the outcome
(lessons.progress.evaluate_exercise). It reaches the engine and may take
seconds, so the view is async and runs it in a worker thread of its own.
Hints are revealed one at a time and the solution on request; both are
recorded, and the trainer sees that they were used.

A page's script sends `Accept: application/json` and gets JSON; a plain
form post gets the page again with the outcome in it.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import close_old_connections, connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET, require_POST

from accounts import limits
from checks.evaluation import EvaluationBusy
from classrooms import exercises
from classrooms.exercises import InvalidExercise
from classrooms.forms import JoinForm
from classrooms.joining import JoinRefused, find_classroom
from classrooms.joining import join as join_class
from classrooms.markdown import render_untrusted
from classrooms.views import access
from lessons import progress
from sandboxes.errors import SandboxError

BROKEN = (
    "This exercise's checks no longer match what the lab can check: "
    "tell your trainer, who can fix it in the editor."
)


@login_required
def join(request: HttpRequest) -> HttpResponse:
    form = JoinForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        if limits.join_locked(request, request.user):
            form.add_error("code", limits.join_lockout_message())
            status = 429
        else:
            try:
                classroom = find_classroom(form.cleaned_data["code"])
            except JoinRefused as exc:
                limits.join_failed(request, request.user)
                form.add_error("code", exc.message)
                status = 400
            else:
                if join_class(request.user, classroom):
                    messages.success(request, f"You joined {classroom.name}.")
                else:
                    messages.info(request, f"You are in {classroom.name} already.")
                return redirect("classrooms:index")
    elif request.method == "POST":
        status = 400
    return render(request, "classrooms/join.html", {"form": form}, status=status)


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _page(
    request, assignment, preview: bool, status: int = 200, **outcome
) -> HttpResponse:
    exercise = assignment.exercise
    context = {
        "assignment": assignment,
        "classroom": assignment.classroom,
        "exercise": exercise,
        "preview": preview,
        "instructions": render_untrusted(exercise.instructions),
        **outcome,
    }
    try:
        item = exercise.as_item()
    except InvalidExercise:
        context["broken"] = BROKEN
    else:
        context["goals"] = exercises.describe(item.checks)
        context["progress"] = progress.exercise_progress(request.user, item)
        revealed = context["progress"]["hints_revealed"]
        context["hints"] = list(item.hints[:revealed])
        context["hints_left"] = len(item.hints) - revealed
        if context["progress"]["solution_revealed"] or preview:
            context.setdefault("solution", list(item.solution))
    return TemplateResponse(request, "classrooms/exercise.html", context, status=status)


@login_required
@require_GET
def exercise(
    request: HttpRequest, classroom_id: int, assignment_id: int
) -> HttpResponse:
    assignment, preview = access.assigned_exercise(
        request.user, classroom_id, assignment_id
    )
    return _page(request, assignment, preview)


def _check_in_own_sandbox(user, item) -> dict:
    close_old_connections()
    try:
        return progress.evaluate_exercise(user, item).as_dict()
    finally:
        connections.close_all()


def _refusal(request, assignment, preview, status: int, code: str, message: str):
    if _wants_json(request):
        return JsonResponse(
            {"error": {"code": code, "message": message}}, status=status
        )
    return _page(request, assignment, preview, status, error=message)


def _learner_item(user, classroom_id: int, assignment_id: int):
    """(assignment, preview, item or None) for a learner's POST."""
    assignment, preview = access.assigned_exercise(user, classroom_id, assignment_id)
    try:
        return assignment, preview, assignment.exercise.as_item()
    except InvalidExercise:
        return assignment, preview, None


@login_required
@require_POST
async def check(
    request: HttpRequest, classroom_id: int, assignment_id: int
) -> HttpResponse:
    """Evaluate the exercise against the learner's own sandbox; record and return it."""
    user = await request.auser()
    assignment, preview, item = await sync_to_async(_learner_item)(
        user, classroom_id, assignment_id
    )
    if preview:
        return await sync_to_async(_refusal)(
            request,
            assignment,
            preview,
            400,
            "preview",
            "This is a preview: learners check their work here; try your checks in the editor.",
        )
    if item is None:
        return await sync_to_async(_refusal)(
            request, assignment, preview, 409, "broken", BROKEN
        )
    try:
        outcome = await sync_to_async(_check_in_own_sandbox, thread_sensitive=False)(
            user, item
        )
    except EvaluationBusy as exc:
        return await sync_to_async(_refusal)(
            request, assignment, preview, 429, exc.code, exc.message
        )
    except SandboxError as exc:
        return await sync_to_async(_refusal)(
            request, assignment, preview, 503, exc.code, exc.message
        )
    if _wants_json(request):
        return JsonResponse(outcome)
    return await sync_to_async(_page)(request, assignment, preview, evaluation=outcome)


def _reveal(request, classroom_id: int, assignment_id: int, what: str) -> HttpResponse:
    assignment, preview, item = _learner_item(request.user, classroom_id, assignment_id)
    if preview:
        return _refusal(
            request, assignment, preview, 400, "preview", "This is a preview."
        )
    if item is None:
        return _refusal(request, assignment, preview, 409, "broken", BROKEN)
    try:
        if what == "hint":
            data = progress.reveal_exercise_hint(request.user, item)
        else:
            data = progress.reveal_exercise_solution(request.user, item)
    except progress.ProgressError as exc:
        return _refusal(request, assignment, preview, 400, exc.code, exc.message)
    if _wants_json(request):
        return JsonResponse(data)
    return redirect("classrooms:exercise", classroom_id, assignment_id)


@login_required
@require_POST
def hint(request: HttpRequest, classroom_id: int, assignment_id: int) -> HttpResponse:
    return _reveal(request, classroom_id, assignment_id, "hint")


@login_required
@require_POST
def solution(
    request: HttpRequest, classroom_id: int, assignment_id: int
) -> HttpResponse:
    return _reveal(request, classroom_id, assignment_id, "solution")
