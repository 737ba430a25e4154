from django.shortcuts import render

from engine.status import engine_status


def home(request):
    return render(request, "home.html", {"engine": engine_status()})
