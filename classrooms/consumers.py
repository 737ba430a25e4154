"""The class dashboard's websocket (/ws/class/<id>/): live progress for the class's owners.

Listen-only and thin. On connect it checks, in the database, that the
signed-in user is a trainer who owns or co-owns class <id>; anyone else
(another trainer, a learner, an id that does not exist) gets the same
`not_found` and close code 4404, as a page would answer 404. It then joins
the class's channel-layer group, where classrooms.live sends one event per
progress change of a learner in the class, and forwards each as a frame.
A co-owner removed while watching is closed with 4404 at once.

Frames (server to client, JSON text; see docs/classrooms.md):
  {"type": "hello", "classroom": id}
  {"type": "progress", "learner": user id, "item": key, "state", "reason",
   "attempts", "hints", "solution", "at"}
  {"type": "member", "learner": user id, "name", "detail": their page's URL}
  {"type": "error", "code", "message"} then a close.
Anything the client sends is ignored.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from classrooms import live
from classrooms.models import Classroom
from classrooms.roles import is_trainer
from sandboxes import slots

CLOSE_AUTH_REQUIRED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_MANY_SOCKETS = 4429
# Dashboards one trainer may have open at once (tabs, projector, laptop).
SOCKETS_PER_TRAINER = 8


def _may_watch(user, classroom_id: int) -> bool:
    return (
        is_trainer(user)
        and Classroom.objects.run_by(user).filter(pk=classroom_id).exists()
    )


class DashboardConsumer(AsyncJsonWebsocketConsumer):
    """One open dashboard of one class."""

    async def connect(self) -> None:
        self.group = None
        self.slot = None
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self._refuse(
                "auth_required", "Sign in to watch a class.", CLOSE_AUTH_REQUIRED
            )
            return
        classroom_id = self.scope["url_route"]["kwargs"]["classroom_id"]
        if not await database_sync_to_async(_may_watch)(user, classroom_id):
            await self._refuse("not_found", "There is no such class.", CLOSE_NOT_FOUND)
            return
        self.slot = slots.take("dashboards", user.pk, SOCKETS_PER_TRAINER)
        if self.slot is None:
            await self._refuse(
                "too_many_sockets",
                f"You have {SOCKETS_PER_TRAINER} dashboards open already: close one.",
                CLOSE_TOO_MANY_SOCKETS,
            )
            return
        self.user = user
        self.group = live.group(classroom_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send_json({"type": "hello", "classroom": classroom_id})

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            self.group = None
        if self.slot is not None:
            self.slot.release()

    async def receive_json(self, content, **kwargs) -> None:
        """Listen-only: nothing a client sends changes anything."""

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        # Not parsed at all (a garbage frame costs nothing).
        return None

    async def _refuse(self, code: str, message: str, close_code: int) -> None:
        await self.send_json({"type": "error", "code": code, "message": message})
        await self.close(code=close_code)

    # -- group events ----------------------------------------------------------

    async def classroom_progress(self, event: dict) -> None:
        if self.group is not None:
            await self.send_json(event["frame"])

    async def classroom_owners(self, event: dict) -> None:
        if self.group is not None and self.user.pk not in event["owners"]:
            await self._refuse("not_found", "There is no such class.", CLOSE_NOT_FOUND)
            await self.disconnect(CLOSE_NOT_FOUND)
