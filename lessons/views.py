"""Lesson pages and quiz answers, served from the in-memory lesson registry.

A slug is checked against SLUG_RE and looked up in the registry only, so an
unknown or hostile slug is a plain 404 that never reaches the filesystem.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from lessons import loader, quiz, rendering


def _lesson_or_404(slug: str) -> loader.Lesson:
    lesson = loader.get_lesson(slug)
    if lesson is None:
        raise Http404("No such lesson.")
    return lesson


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "lessons/index.html", {"lessons": loader.all_lessons()})


def _detail_context(lesson: loader.Lesson, **extra: Any) -> dict[str, Any]:
    rendered = rendering.render_lesson(lesson)
    previous, following = loader.neighbours(lesson)
    questions = [
        {"number": i, "question": q, "options": list(enumerate(q.options))}
        for i, q in enumerate(lesson.quiz, start=1)
    ]
    return {
        "lesson": lesson,
        "body": rendered.body.html,
        "toc": rendered.body.toc,
        "steps": list(zip(lesson.steps, rendered.steps)),
        "questions": questions,
        "previous": previous,
        "next": following,
        **extra,
    }


@require_GET
def detail(request: HttpRequest, slug: str) -> HttpResponse:
    lesson = _lesson_or_404(slug)
    return render(request, "lessons/detail.html", _detail_context(lesson))


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
        index, question = quiz.question_for(lesson, number)
        feedback = quiz.grade(question, _submitted_answer(request), index)
    except quiz.QuizInputError as exc:
        if wants_html:
            error = {"number": number, "message": exc.message}
            context = _detail_context(lesson, quiz_error=error)
            return render(request, "lessons/detail.html", context, status=400)
        return JsonResponse({"error": exc.message}, status=400)
    if wants_html:
        return render(request, "lessons/detail.html", _detail_context(lesson, feedback=feedback))
    return JsonResponse(feedback.as_dict())


@require_GET
def pygments_css(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(rendering.pygments_css(), content_type="text/css; charset=utf-8")
    response["Cache-Control"] = "public, max-age=86400"
    return response
