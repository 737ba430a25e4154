"""Websocket routes of the classrooms app (under /ws/, next to the lab's)."""

from django.urls import path

from classrooms.consumers import DashboardConsumer

websocket_urlpatterns = [
    path("ws/class/<int:classroom_id>/", DashboardConsumer.as_asgi()),
]
