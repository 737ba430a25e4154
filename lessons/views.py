"""Lesson pages and quiz answers, served from the in-memory lesson registry.

A slug is checked against SLUG_RE and looked up in the registry only, so an
unknown or hostile slug is a plain 404 that never reaches the filesystem.

For a signed-in learner the page is drawn with their progress from the
server (lessons.progress): each checked step's and challenge's state, the
hints and solution they revealed, their saved quiz answers and score, so it
survives reloads, restarts and the sandbox's expiry. Quiz answers of
signed-in learners are kept (progress.record_quiz); anonymous visitors'
answers are graded and forgotten.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from lessons import loader, progress, quiz, rendering
from lessons.models import QuizAnswer


def _lesson_or_404(slug: str) -> loader.Lesson:
    lesson = loader.get_lesson(slug)
    if lesson is None:
        raise Http404("No such lesson.")
    return lesson


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "lessons/index.html", {"lessons": loader.all_lessons()})


def _lesson_progress(user, lesson: loader.Lesson) -> dict[str, Any] | None:
    """This lesson's entry of the learner's progress; None for anonymous visitors."""
    if not getattr(user, "is_authenticated", False):
        return None
    for summary in progress.progress_for(user)["lessons"]:
        if summary["slug"] == lesson.slug:
            return summary
    return None


def _code_spans(text: str) -> list[tuple[bool, str]]:
    """A hint as (is_code, text) parts: `backticks` mark code, as in the lesson files.

    The template shows each part as text (in <code> or not), never as HTML.
    """
    parts = text.split("`")
    if len(parts) % 2 == 0:  # an unmatched backtick: plain text
        return [(False, text)]
    return [(i % 2 == 1, part) for i, part in enumerate(parts) if part]


def _check_box(kind: str, number: int, item: Any, view: dict | None, signed_in: bool) -> dict:
    """What the page shows of one step's or challenge's checks."""
    view = view or {}
    revealed = min(view.get("hints_revealed", 0), len(item.hints))
    return {
        "kind": kind,
        "number": number,
        "signed_in": signed_in,
        "state": view.get("state", "not_started"),
        "reason": view.get("reason", ""),
        "hints": [_code_spans(hint) for hint in item.hints[:revealed]],
        "hints_total": len(item.hints),
        "has_solution": bool(item.solution),
        "solution": list(item.solution) if view.get("solution_revealed") else None,
    }


def _boxes(kind: str, items, views: list[dict] | None, signed_in: bool) -> list[dict | None]:
    by_number = {view["number"]: view for view in views or ()}
    return [
        _check_box(kind, n, item, by_number.get(n), signed_in) if item.checks else None
        for n, item in enumerate(items, 1)
    ]


def _saved_answers(user, lesson: loader.Lesson) -> dict[int, dict[str, Any]]:
    """The learner's kept quiz answers by question number, with their feedback."""
    if not getattr(user, "is_authenticated", False):
        return {}
    saved = {}
    for answer in QuizAnswer.objects.filter(user=user, lesson=lesson.slug):
        if 1 <= answer.question <= len(lesson.quiz):
            question = lesson.quiz[answer.question - 1]
            saved[answer.question] = quiz.Feedback(
                answer.question, answer.choice, answer.correct, question.explain
            )
    return saved


def _detail_context(lesson: loader.Lesson, user=None, **extra: Any) -> dict[str, Any]:
    rendered = rendering.render_lesson(lesson)
    previous, following = loader.neighbours(lesson)
    summary = _lesson_progress(user, lesson)
    signed_in = summary is not None
    saved = _saved_answers(user, lesson)
    fresh = extra.get("feedback")
    questions = []
    for i, q in enumerate(lesson.quiz, start=1):
        shown = fresh if fresh is not None and fresh.question == i else saved.get(i)
        questions.append(
            {"number": i, "question": q, "options": list(enumerate(q.options)), "shown": shown}
        )
    step_boxes = _boxes("step", lesson.steps, summary and summary["steps"], signed_in)
    challenge_boxes = _boxes(
        "challenge", lesson.challenges, summary and summary["challenges"], signed_in
    )
    challenges = [
        (challenge, rendering.render_markdown(challenge.goal).html, box)
        for challenge, box in zip(lesson.challenges, challenge_boxes)
    ]
    return {
        "lesson": lesson,
        "body": rendered.body.html,
        "toc": rendered.body.toc,
        "steps": list(zip(lesson.steps, rendered.steps, step_boxes)),
        "challenges": challenges,
        "checkable": any(step_boxes) or any(challenge_boxes),
        "questions": questions,
        "quiz_score": summary and summary["quiz"],
        "previous": previous,
        "next": following,
        **extra,
    }


@require_GET
def detail(request: HttpRequest, slug: str) -> HttpResponse:
    lesson = _lesson_or_404(slug)
    return render(request, "lessons/detail.html", _detail_context(lesson, request.user))


def _wants_html(request: HttpRequest) -> bool:
    # A plain form post from a browser asks for HTML; the page's script and API
    # clients get JSON.
    accept = request.headers.get("Accept", "")
    return "text/html" in accept and "application/json" not in accept


def _submitted_answer(request: HttpRequest) -> Any:
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError):
            raise quiz.QuizInputError("the request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise quiz.QuizInputError('send a JSON object like {"answer": 0}')
        return data.get("answer")
    return request.POST.get("answer")


@require_POST
def quiz_answer(request: HttpRequest, slug: str, number: str) -> HttpResponse:
    lesson = loader.get_lesson(slug)
    wants_html = _wants_html(request)
    if lesson is None:
        if wants_html:
            raise Http404("No such lesson.")
        return JsonResponse({"error": "no such lesson"}, status=404)
    try:
        answer = _submitted_answer(request)
        index, question = quiz.question_for(lesson, number)
        feedback = quiz.grade(question, answer, index)
        data = feedback.as_dict()
        if request.user.is_authenticated:
            # Kept: the page shows it again, and checks (quiz_passed) read it.
            data = progress.record_quiz(request.user, lesson, index, answer)
    except quiz.QuizInputError as exc:
        if wants_html:
            error = {"number": number, "message": exc.message}
            context = _detail_context(lesson, request.user, quiz_error=error)
            return render(request, "lessons/detail.html", context, status=400)
        return JsonResponse({"error": exc.message}, status=400)
    if wants_html:
        context = _detail_context(lesson, request.user, feedback=feedback)
        return render(request, "lessons/detail.html", context)
    return JsonResponse(data)


@require_GET
def pygments_css(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(rendering.pygments_css(), content_type="text/css; charset=utf-8")
    response["Cache-Control"] = "public, max-age=86400"
    return response
