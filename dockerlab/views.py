from django.shortcuts import render

from engine.status import engine_status
from lessons.loader import all_lessons


def home(request):
    return render(request, "home.html", {"engine": engine_status(), "lessons": all_lessons()})
