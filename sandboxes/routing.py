"""Websocket routes (all under /ws/)."""

from django.urls import path

from sandboxes.consumers import LabConsumer

websocket_urlpatterns = [
    path("ws/lab/", LabConsumer.as_asgi()),
]
