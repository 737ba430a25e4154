"""The middleware that gives a websocket its signed-in user.

Channels' AuthMiddlewareStack, with one change: the session middleware does
not wrap the socket's `send`. Its wrapper exists to save a changed session
and set its cookie on an HTTP response ("http.response.start"), which a
websocket never sends, yet it looks at the session on every frame: with 500
log streams that was 8% of the server's loop time. A lab socket reads the
session (at connect, to find the user) and never changes it.
"""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddleware
from channels.sessions import CookieMiddleware, InstanceSessionWrapper, SessionMiddleware


class SocketSessionMiddleware(SessionMiddleware):
    """The scope's session from its cookie; the socket's own `send` passes through."""

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        if scope["type"] != "websocket":
            return await super().__call__(scope, receive, send)
        wrapper = InstanceSessionWrapper(scope, send)
        await wrapper.resolve_session()
        return await self.inner(wrapper.scope, receive, send)


def SocketAuthStack(inner: Any) -> Any:  # noqa: N802 - named like Channels' stacks
    """Cookies, the session, then the user, in the scope of a websocket."""
    return CookieMiddleware(SocketSessionMiddleware(AuthMiddleware(inner)))
