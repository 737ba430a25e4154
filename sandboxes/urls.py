from django.urls import path

from sandboxes import proxy, views

app_name = "sandboxes"
urlpatterns = [
    path("", views.sandbox_page, name="page"),
    # The learner's running app, reached only through this authenticated proxy.
    path("app/<str:container>/", proxy.app_proxy, {"path": ""}, name="app"),
    path("app/<str:container>/<path:path>", proxy.app_proxy, name="app-path"),
    # A service of the classroom swarm: one of its running tasks, through the same proxy.
    path("service/<str:service>/", proxy.service_proxy, {"path": ""}, name="service"),
    path("service/<str:service>/<path:path>", proxy.service_proxy, name="service-path"),
]
