from django.contrib.auth.decorators import login_required
from django.http import HttpResponse


@login_required
def app_proxy(request, container, path):
    return HttpResponse("not yet", status=501)
