"""A trainer's pages: their classes, one class (code, co-owners, assignments), its
dashboard (live), CSV export and a learner's detail. Every lookup goes through
classrooms.views.access (404 outside the trainer's classes)."""

from __future__ import annotations

from datetime import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from classrooms import dashboard, items, live
from classrooms.forms import AssignForm, ClassroomForm, CoOwnerForm
from classrooms.models import Assignment, Classroom, Exercise
from classrooms.roles import is_trainer
from classrooms.views import access
from lessons.history import history_for

HISTORY_SHOWN = 200


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """Classes the user runs (trainers) and classes they are in (everyone)."""
    context = {"learning": dashboard.learner_classes(request.user)}
    if is_trainer(request.user):
        context.update(
            trainer=True,
            classes=Classroom.objects.run_by(request.user)
            .select_related("owner")
            .order_by("-created_at"),
            exercises=Exercise.objects.filter(owner=request.user),
            form=ClassroomForm(),
        )
    return render(request, "classrooms/index.html", context)


@login_required
@require_POST
def create(request: HttpRequest) -> HttpResponse:
    access.trainer(request.user)
    form = ClassroomForm(request.POST)
    if not form.is_valid():
        return render(
            request,
            "classrooms/index.html",
            {
                "trainer": True,
                "form": form,
                "classes": Classroom.objects.run_by(request.user),
                "exercises": Exercise.objects.filter(owner=request.user),
                "learning": dashboard.learner_classes(request.user),
            },
            status=400,
        )
    classroom = form.save(commit=False)
    classroom.owner = request.user
    classroom.save()
    messages.success(
        request,
        f"Class {classroom.name} created: its join code is {classroom.shown_code}.",
    )
    return redirect("classrooms:detail", classroom.pk)


def _detail_page(
    request: HttpRequest, classroom: Classroom, status: int = 200, **forms
):
    assignments = list(classroom.assignments.select_related("exercise"))
    context = {
        "classroom": classroom,
        "is_owner": classroom.owner_id == request.user.pk,
        "co_owners": classroom.co_owners.order_by("username"),
        "members": classroom.memberships.select_related("user").order_by(
            "user__username"
        ),
        "assignments": [(a, items.describe_assignment(a)) for a in assignments],
        "edit_form": forms.get("edit_form") or ClassroomForm(instance=classroom),
        "co_owner_form": forms.get("co_owner_form") or CoOwnerForm(),
        "assign_form": forms.get("assign_form")
        or AssignForm(exercises_of=Exercise.objects.filter(owner=request.user)),
        "now": timezone.now(),
    }
    return render(request, "classrooms/detail.html", context, status=status)


@login_required
@require_GET
def detail(request: HttpRequest, classroom_id: int) -> HttpResponse:
    return _detail_page(request, access.classroom(request.user, classroom_id))


@login_required
@require_POST
def edit(request: HttpRequest, classroom_id: int) -> HttpResponse:
    classroom = access.classroom(request.user, classroom_id)
    form = ClassroomForm(request.POST, instance=classroom)
    if not form.is_valid():
        return _detail_page(request, classroom, 400, edit_form=form)
    form.save()
    messages.success(request, "Saved.")
    return redirect("classrooms:detail", classroom.pk)


@login_required
@require_POST
def new_code(request: HttpRequest, classroom_id: int) -> HttpResponse:
    """A fresh join code (the old one stops working at once)."""
    classroom = access.classroom(request.user, classroom_id)
    classroom.code = ""
    classroom.save()
    messages.success(
        request, f"New join code: {classroom.shown_code}. The old one no longer works."
    )
    return redirect("classrooms:detail", classroom.pk)


@login_required
@require_POST
def delete(request: HttpRequest, classroom_id: int) -> HttpResponse:
    classroom = access.owned_classroom(request.user, classroom_id)
    name = classroom.name
    classroom.delete()
    messages.success(
        request, f"Class {name} deleted; its learners keep their progress."
    )
    return redirect("classrooms:index")


@login_required
@require_POST
def add_co_owner(request: HttpRequest, classroom_id: int) -> HttpResponse:
    classroom = access.owned_classroom(request.user, classroom_id)
    form = CoOwnerForm(request.POST)
    if not form.is_valid():
        return _detail_page(request, classroom, 400, co_owner_form=form)
    trainer = form.cleaned_data["username"]
    if trainer.pk != classroom.owner_id:
        classroom.co_owners.add(trainer)
    messages.success(request, f"{trainer.get_username()} now runs this class with you.")
    return redirect("classrooms:detail", classroom.pk)


@login_required
@require_POST
def remove_co_owner(
    request: HttpRequest, classroom_id: int, user_id: int
) -> HttpResponse:
    classroom = access.owned_classroom(request.user, classroom_id)
    classroom.co_owners.remove(user_id)
    live.owners_changed(classroom)
    return redirect("classrooms:detail", classroom.pk)


@login_required
@require_POST
def assign(request: HttpRequest, classroom_id: int) -> HttpResponse:
    classroom = access.classroom(request.user, classroom_id)
    form = AssignForm(
        request.POST, exercises_of=Exercise.objects.filter(owner=request.user)
    )
    if not form.is_valid():
        return _detail_page(request, classroom, 400, assign_form=form)
    fields = _assignment_fields(form.cleaned_data["item"], request.user)
    due_at = form.cleaned_data["due_at"]
    with transaction.atomic():
        existing = classroom.assignments.select_for_update().filter(**fields).first()
        if existing is not None:
            existing.due_at = due_at
            existing.save(update_fields=["due_at"])
        else:
            Assignment.objects.create(classroom=classroom, due_at=due_at, **fields)
    messages.success(request, "Assigned." if existing is None else "Due time changed.")
    return redirect("classrooms:detail", classroom.pk)


def _assignment_fields(value: str, user) -> dict:
    """An assign form's item value (already one of the form's choices) as model fields."""
    kind, _, rest = value.partition(":")
    if kind == Assignment.EXERCISE:
        return {
            "kind": kind,
            "exercise": Exercise.objects.get(pk=int(rest), owner=user),
        }
    if kind == Assignment.LESSON:
        return {"kind": kind, "lesson": rest}
    lesson, _, number = rest.rpartition(":")
    return {"kind": kind, "lesson": lesson, "number": int(number)}


@login_required
@require_POST
def unassign(
    request: HttpRequest, classroom_id: int, assignment_id: int
) -> HttpResponse:
    classroom = access.classroom(request.user, classroom_id)
    classroom.assignments.filter(pk=assignment_id).delete()
    return redirect("classrooms:detail", classroom.pk)


@login_required
@require_GET
def board(request: HttpRequest, classroom_id: int) -> HttpResponse:
    classroom = access.classroom(request.user, classroom_id)
    return render(
        request, "classrooms/dashboard.html", {"board": dashboard.board(classroom)}
    )


@login_required
@require_GET
def board_csv(request: HttpRequest, classroom_id: int) -> HttpResponse:
    classroom = access.classroom(request.user, classroom_id)
    response = HttpResponse(
        dashboard.as_csv(dashboard.board(classroom)),
        content_type="text/csv; charset=utf-8",
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = (
        f'attachment; filename="class-{classroom.pk}-{stamp}.csv"'
    )
    return response


@login_required
@require_GET
def learner(request: HttpRequest, classroom_id: int, user_id: int) -> HttpResponse:
    """One learner of the class: each item's attempts and reasons, and their lab history."""
    classroom = access.classroom(request.user, classroom_id)
    membership = access.member(classroom, user_id)
    cells, results = dashboard.learner_cells(classroom, membership.user)
    rows = [(cell, results.get(cell.item.key, [])) for cell in cells]
    return render(
        request,
        "classrooms/learner.html",
        {
            "classroom": classroom,
            "membership": membership,
            "learner": membership.user,
            "rows": rows,
            "history": _history(membership.user),
        },
    )


def _history(learner) -> list[dict]:
    """The learner's lab history, newest first, with times as datetimes for the page."""
    entries = history_for(learner, limit=HISTORY_SHOWN)
    for entry in entries:
        entry["at"] = datetime.fromisoformat(entry["at"])
    return entries


@login_required
@require_POST
def remove_learner(
    request: HttpRequest, classroom_id: int, user_id: int
) -> HttpResponse:
    classroom = access.classroom(request.user, classroom_id)
    membership = access.member(classroom, user_id)
    name = membership.user.get_username()
    membership.delete()
    messages.success(
        request, f"{name} is no longer in this class (their progress stays theirs)."
    )
    return redirect("classrooms:detail", classroom.pk)
