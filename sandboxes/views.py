from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def sandbox_page(request: HttpRequest) -> HttpResponse:
    """The learner's images and containers; filled in live by the lab websocket."""
    return render(request, "sandboxes/sandbox.html", {})
