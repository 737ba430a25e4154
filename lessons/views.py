from django.shortcuts import render


def index(request):
    return render(request, "lessons/index.html", {"lessons": []})
