"""Database, channel layer and cache settings from URLs (dockerlab/stores.py)."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from dockerlab import stores


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("X_DB", "X_REDIS", "X_CACHE"):
        monkeypatch.delenv(name, raising=False)


def test_without_a_url_the_database_is_the_sqlite_file():
    config = stores.database("X_DB", "/v/db.sqlite3", "/v/test.sqlite3")
    assert config == {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": "/v/db.sqlite3",
        "TEST": {"NAME": "/v/test.sqlite3"},
        "OPTIONS": {"init_command": stores.SQLITE_INIT},
    }


@pytest.mark.django_db
def test_the_sqlite_database_writes_ahead_and_syncs_at_checkpoints():
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("the suite runs on PostgreSQL here")  # DOCKERLAB_DB set for this run
    with connection.cursor() as cursor:
        assert cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert cursor.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


def test_a_postgres_url_gives_every_part_decoded(monkeypatch):
    monkeypatch.setenv("X_DB", "postgres://lab:p%40ss%2Fw@db.example:5544/school?sslmode=require")
    config = stores.database("X_DB", "unused", "unused")
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["NAME"], config["USER"], config["PASSWORD"]) == ("school", "lab", "p@ss/w")
    assert (config["HOST"], config["PORT"]) == ("db.example", "5544")
    assert config["OPTIONS"] == {"sslmode": "require"}
    # One test database per process, as for SQLite.
    assert config["TEST"]["NAME"].startswith("test_school_")


def test_a_socket_directory_may_stand_for_the_host(monkeypatch):
    monkeypatch.setenv("X_DB", "postgresql://lab@%2Frun%2Fpostgresql/school")
    config = stores.database("X_DB", "unused", "unused")
    assert (config["HOST"], config["PORT"], config["PASSWORD"]) == ("/run/postgresql", "", "")


@pytest.mark.parametrize(
    "url, message",
    [
        ("mysql://lab:pw@db/school", "must be a postgres://"),
        ("postgres://lab:pw@db:5432/", "must name one database"),
        ("postgres://lab:pw@db:5432/a/b", "must name one database"),
        ("postgres://lab:pw@db:99999/school", "not a usable URL"),
        ("postgres://lab:pw@db/school?sslmod=require", "unknown parameter 'sslmod'"),
    ],
)
def test_a_bad_database_url_stops_start_up_naming_the_variable(monkeypatch, url, message):
    monkeypatch.setenv("X_DB", url)
    with pytest.raises(ImproperlyConfigured, match=message) as refused:
        stores.database("X_DB", "unused", "unused")
    assert "X_DB" in str(refused.value)


def test_a_refused_url_never_shows_its_password(monkeypatch):
    monkeypatch.setenv("X_DB", "mysql://lab:hunter2@db/school")
    with pytest.raises(ImproperlyConfigured) as refused:
        stores.database("X_DB", "unused", "unused")
    assert "hunter2" not in str(refused.value)
    assert "***" in str(refused.value)


def test_without_redis_the_channel_layer_is_in_memory():
    assert stores.channel_layer("X_REDIS") == {"BACKEND": "channels.layers.InMemoryChannelLayer"}


def test_a_redis_url_gives_the_redis_channel_layer(monkeypatch):
    monkeypatch.setenv("X_REDIS", "redis://:secret@127.0.0.1:6380/0")
    assert stores.channel_layer("X_REDIS") == {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [
                {"address": "redis://:secret@127.0.0.1:6380/0", "socket_timeout": 15.0},
            ],
            "prefix": "dockerlab",
        },
    }


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379/0", "redis://", "redis://h:port/0"])
def test_a_bad_redis_url_stops_start_up(monkeypatch, url):
    monkeypatch.setenv("X_REDIS", url)
    with pytest.raises(ImproperlyConfigured, match="X_REDIS"):
        stores.channel_layer("X_REDIS")


def test_the_cache_follows_the_channel_layers_redis_unless_told_otherwise(monkeypatch):
    assert stores.cache("X_CACHE", "X_REDIS")["BACKEND"].endswith("LocMemCache")
    monkeypatch.setenv("X_REDIS", "redis://127.0.0.1:6380/0")
    assert stores.cache("X_CACHE", "X_REDIS") == {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:6380/0",
        "KEY_PREFIX": "dockerlab",
    }
    monkeypatch.setenv("X_CACHE", "redis://127.0.0.1:6380/1")
    assert stores.cache("X_CACHE", "X_REDIS")["LOCATION"] == "redis://127.0.0.1:6380/1"
    # Set but empty: memory, whatever the channel layer uses.
    monkeypatch.setenv("X_CACHE", "")
    assert stores.cache("X_CACHE", "X_REDIS")["BACKEND"].endswith("LocMemCache")


def test_a_bad_cache_url_is_named(monkeypatch):
    monkeypatch.setenv("X_CACHE", "memcached://127.0.0.1:11211")
    with pytest.raises(ImproperlyConfigured, match="X_CACHE"):
        stores.cache("X_CACHE", "X_REDIS")
