from django.contrib.auth.decorators import login_required
from django.shortcuts import render


@login_required
def sandbox_page(request):
    return render(request, "sandboxes/sandbox.html", {})
