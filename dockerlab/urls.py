from django.contrib import admin
from django.urls import include, path

from dockerlab import health, views

urlpatterns = [
    path("", views.home, name="home"),
    path("lessons/", include("lessons.urls")),
    path("accounts/", include("accounts.urls")),
    path("sandbox/", include("sandboxes.urls")),
    path("classes/", include("classrooms.urls")),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
]
