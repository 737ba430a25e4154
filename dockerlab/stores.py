"""What the site's server processes share: the database, the channel layer, the cache.

One server process (`make run`) needs nothing shared: SQLite, and channel
layer and cache in the process's memory. Several processes behind one address
(`make run-multi`, docker-compose.yml) must share all three, or a learner's
second tab, served by another process, would never hear of a change made in
the first, and each process would count sign-in failures on its own:

    DOCKERLAB_DATABASE_URL  postgres://USER:PASSWORD@HOST:PORT/NAME[?sslmode=...]
    DOCKERLAB_REDIS_URL     redis://[:PASSWORD@]HOST:PORT/DB  (the channel layer)
    DOCKERLAB_CACHE_URL     redis://...  (the cache; default: DOCKERLAB_REDIS_URL)

Each reader returns the Django (or Channels) configuration dict and raises
ImproperlyConfigured naming the variable when its value cannot be used, so a
typo stops start-up instead of silently falling back to a per-process store.
Passwords in URLs are percent-encoded, as in any URL.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

POSTGRES_SCHEMES = ("postgres", "postgresql")
REDIS_SCHEMES = ("redis", "rediss", "unix")
# Connection parameters of libpq a URL may carry (anything else is a typo).
POSTGRES_OPTIONS = {
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "connect_timeout",
    "application_name",
    "target_session_attrs",
}
# Keys of ours in Redis start with this, so a Redis shared with other
# applications keeps them apart.
REDIS_PREFIX = "dockerlab"
# The channel layer waits for messages with a blocking pop of 5 seconds
# (channels_redis' brpop_timeout). redis-py 8 gives every connection a
# 5-second read timeout by default, which races that pop and tears the
# learner's websocket down after 5 quiet seconds; a read may take longer
# than the pop, and still not forever.
REDIS_LAYER_READ_TIMEOUT = 15.0


# SQLite in write-ahead-log mode: readers do not wait for a writer, and a
# commit is not flushed to disk on its own (a crash of the machine may lose
# the last commits, never corrupt the file). Each write (a learner's action
# goes to the lab history) took 1.8 ms in the default mode and 0.04 ms so.
SQLITE_INIT = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"


def _url(name: str) -> str:
    return os.environ.get(name, "").strip()


def database(name: str, sqlite_path: str, sqlite_test_path: str) -> dict:
    """Django's default database: PostgreSQL from the URL in `name`, else SQLite.

    A test run against PostgreSQL gets a database of its own per process, as
    the SQLite test file is.
    """
    raw = _url(name)
    if not raw:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": sqlite_path,
            "TEST": {"NAME": sqlite_test_path},
            "OPTIONS": {"init_command": SQLITE_INIT},
        }
    config = parse_postgres_url(name, raw)
    config["TEST"] = {"NAME": f"test_{config['NAME']}_{os.getpid()}"}
    return config


def parse_postgres_url(name: str, raw: str) -> dict:
    """A postgres:// URL as Django's DATABASES entry (psycopg)."""
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} is not a usable URL ({exc}): {_masked(raw)}") from None
    if parts.scheme not in POSTGRES_SCHEMES:
        raise ImproperlyConfigured(
            f"{name} must be a postgres://user:password@host:port/name URL, got {_masked(raw)}"
        )
    database_name = unquote(parts.path.lstrip("/"))
    if not database_name or "/" in database_name:
        raise ImproperlyConfigured(f"{name} must name one database after the host: {_masked(raw)}")
    options = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in POSTGRES_OPTIONS:
            known = ", ".join(sorted(POSTGRES_OPTIONS))
            raise ImproperlyConfigured(f"{name}: unknown parameter {key!r} (known: {known})")
        options[key] = value
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": database_name,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        # A host starting with "/" (percent-encoded in the URL) is a socket directory.
        "HOST": unquote(parts.hostname or ""),
        "PORT": str(port or ""),
        "OPTIONS": options,
        # Connections are not kept between requests: a server process's
        # threads come and go, and each kept connection holds a server slot.
        "CONN_MAX_AGE": 0,
    }


def _check_redis_url(name: str, raw: str) -> str:
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} is not a usable URL ({exc}): {_masked(raw)}") from None
    if parts.scheme not in REDIS_SCHEMES or not (parts.hostname or parts.path):
        raise ImproperlyConfigured(
            f"{name} must be a redis://[:password@]host:port/db URL, got {_masked(raw)}"
        )
    return raw


def channel_layer(name: str) -> dict:
    """The Channels layer: Redis from the URL in `name`, else this process's memory."""
    raw = _url(name)
    if not raw:
        return {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    return {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": _check_redis_url(name, raw),
                    "socket_timeout": REDIS_LAYER_READ_TIMEOUT,
                }
            ],
            "prefix": REDIS_PREFIX,
        },
    }


def redis_url(name: str) -> str:
    """The checked Redis URL in `name`, or "" when unset (one process, no Redis)."""
    raw = _url(name)
    return _check_redis_url(name, raw) if raw else ""


def cache(name: str, fallback: str) -> dict:
    """Django's default cache: Redis from `name` (unset: from `fallback`), else memory.

    Set `name` to an empty value to keep the cache in memory while the
    channel layer uses Redis.
    """
    source = name if name in os.environ else fallback
    raw = _url(source)
    if not raw:
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    return {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": _check_redis_url(source, raw),
        "KEY_PREFIX": REDIS_PREFIX,
    }


def _masked(raw: str) -> str:
    """The URL with its password hidden, for messages."""
    try:
        parts = urlsplit(raw)
        if parts.password is None:
            return repr(raw)
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return repr(parts._replace(netloc=netloc).geturl())
    except ValueError:
        return "(a URL that does not parse)"
