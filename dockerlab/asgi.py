"""ASGI entry point: Django for HTTP, Channels for websockets under /ws/.

Serve it with `python -m dockerlab.serve` (dockerlab/serve.py), which sets
the websocket frame limits and send back-pressure that this app relies on.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dockerlab.settings")
# Django must be set up before anything imports models (the consumers do).
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from classrooms.routing import websocket_urlpatterns as classroom_patterns  # noqa: E402
from dockerlab.origins import SameOriginValidator  # noqa: E402
from dockerlab.sockets import SocketAuthStack  # noqa: E402
from sandboxes.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # The Origin must be this site's own: scheme, host and port. The user
        # comes from the session cookie (dockerlab/sockets.py).
        "websocket": SameOriginValidator(
            SocketAuthStack(URLRouter(websocket_urlpatterns + classroom_patterns))
        ),
    }
)
