"""GET /healthz: whether this server process reaches what every request needs.

For health checks (the site container's, a front's): 200 and
{"ok": true, "checks": {...}} when the database answers a query, the cache
keeps a value and the channel layer carries a message; 503 naming the part
that failed otherwise. The page says only which part; the reason goes to the
log, since the page is public. The Docker engine is not checked here: the
site stays useful (lessons, accounts) while the engine is away, and the home
page already says so.
"""

from __future__ import annotations

import asyncio
import logging
import secrets

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

log = logging.getLogger(__name__)


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _cache() -> None:
    key = f"healthz:{secrets.token_hex(8)}"
    cache.set(key, "1", timeout=10)
    if cache.get(key) != "1":
        raise RuntimeError("the cache did not keep a value")
    cache.delete(key)


async def _layer_round_trip() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "healthz"})
    message = await asyncio.wait_for(layer.receive(channel), timeout=5)
    if message.get("type") != "healthz":
        raise RuntimeError("the channel layer gave back another message")


def _channel_layer() -> None:
    async_to_sync(_layer_round_trip)()


CHECKS = {"database": _database, "cache": _cache, "channel_layer": _channel_layer}


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
            results[name] = "ok"
        except Exception:  # any failure is the answer, never a 500
            log.exception("health check: the %s failed", name)
            results[name] = "failing"
    ok = all(value == "ok" for value in results.values())
    return JsonResponse({"ok": ok, "checks": results}, status=200 if ok else 503)
