"""Settings for dockerlab, read from the environment (see README: Configuration)."""

import os
from pathlib import Path

from dockerlab import stores
from dockerlab.env import (
    deployment_id,
    env_bool,
    env_float,
    env_int,
    env_ipv4,
    env_list,
    env_str,
    secret_key,
)

BASE_DIR = Path(__file__).resolve().parent.parent
# Local state that must not be committed: generated secret key, SQLite file,
# the classroom kit's debootstrap cache.
VAR_DIR = Path(env_str("DOCKERLAB_VAR_DIR", str(BASE_DIR / "var")))

SECRET_KEY = secret_key("DOCKERLAB_SECRET_KEY", VAR_DIR / "secret_key")
DEBUG = env_bool("DOCKERLAB_DEBUG", False)
ALLOWED_HOSTS = env_list("DOCKERLAB_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DOCKERLAB_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "engine",
    "lessons",
    "accounts",
    "sandboxes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "dockerlab.urls"
ASGI_APPLICATION = "dockerlab.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Shared state: database, channel layer, cache (dockerlab/stores.py) ---------
# One server process (`make run`): SQLite and this process's memory. Several
# processes (`make run-multi`, docker-compose.yml): PostgreSQL and Redis, so
# every process sees the same accounts, sessions, learner tabs and counters.
DATABASES = {
    "default": stores.database(
        "DOCKERLAB_DATABASE_URL",
        sqlite_path=env_str("DOCKERLAB_DB", str(VAR_DIR / "db.sqlite3")),
        # Tests use a file (not :memory:) so threads of the test process share
        # it; one per process, so test runs side by side do not clobber each other.
        sqlite_test_path=env_str(
            "DOCKERLAB_TEST_DB", str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")
        ),
    )
}
CHANNEL_LAYERS = {"default": stores.channel_layer("DOCKERLAB_REDIS_URL")}
CACHES = {"default": stores.cache("DOCKERLAB_CACHE_URL", fallback="DOCKERLAB_REDIS_URL")}
# The images docker-compose.yml runs beside the site (`manage.py kit --deploy`
# builds them from Debian packages where they cannot be pulled).
DOCKERLAB_DEPLOY_IMAGES = {
    "postgres": env_str("DOCKERLAB_POSTGRES_IMAGE", "postgres:15"),
    "redis": env_str("DOCKERLAB_REDIS_IMAGE", "redis:7"),
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the finders when collectstatic has not run (dev, tests).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- The engine -------------------------------------------------------------
# Empty means: DOCKER_HOST if set, else the default local socket.
DOCKERLAB_ENGINE_URL = env_str("DOCKERLAB_ENGINE_URL", "")
DOCKERLAB_ENGINE_TLS_VERIFY = env_bool("DOCKERLAB_ENGINE_TLS_VERIFY", False)
DOCKERLAB_ENGINE_CERT_PATH = env_str("DOCKERLAB_ENGINE_CERT_PATH", "")
DOCKERLAB_ENGINE_TIMEOUT = env_float("DOCKERLAB_ENGINE_TIMEOUT", 60.0, minimum=1.0)

# The images lessons build FROM and run. The defaults are the official names;
# where they cannot be pulled, `manage.py kit` builds local equivalents from
# Debian packages under the same names (labelled as kit builds).
DOCKERLAB_IMAGES = {
    "python": env_str("DOCKERLAB_PYTHON_IMAGE", "python:3.12-slim"),
    "mariadb": env_str("DOCKERLAB_MARIADB_IMAGE", "mariadb:11"),
    "registry": env_str("DOCKERLAB_REGISTRY_IMAGE", "registry:2"),
}
# Where the kit keeps its debootstrap'd root filesystem between runs.
DOCKERLAB_KIT_DIR = Path(env_str("DOCKERLAB_KIT_DIR", str(VAR_DIR / "kit")))
# Debian suite for the kit's base image.
DOCKERLAB_KIT_SUITE = env_str("DOCKERLAB_KIT_SUITE", "bookworm")

# --- Sandboxes ----------------------------------------------------------------
# Labels every engine object of this site; the reaper sweeps only its own.
DOCKERLAB_DEPLOYMENT = deployment_id("DOCKERLAB_DEPLOYMENT", VAR_DIR / "deployment_id")
DOCKERLAB_SANDBOX_TTL_HOURS = env_int("DOCKERLAB_SANDBOX_TTL_HOURS", 8, minimum=1)
DOCKERLAB_CONTAINER_MEMORY_MB = env_int("DOCKERLAB_CONTAINER_MEMORY_MB", 256, minimum=16)
DOCKERLAB_CONTAINER_CPUS = env_float("DOCKERLAB_CONTAINER_CPUS", 0.5, minimum=0.05)
DOCKERLAB_CONTAINER_PIDS = env_int("DOCKERLAB_CONTAINER_PIDS", 128, minimum=8)
DOCKERLAB_CONTAINER_LOG_MAX_SIZE = env_str("DOCKERLAB_CONTAINER_LOG_MAX_SIZE", "1m")
DOCKERLAB_MAX_CONTAINERS = env_int("DOCKERLAB_MAX_CONTAINERS", 5, minimum=1)
DOCKERLAB_MAX_IMAGES = env_int("DOCKERLAB_MAX_IMAGES", 20, minimum=1)
# The build context of the lab's Build button.
DOCKERLAB_SAMPLE_APP_DIR = Path(
    env_str("DOCKERLAB_SAMPLE_APP_DIR", str(BASE_DIR / "sample" / "flaskapp"))
)
# The relay between the engine and a learner's registry (one per push or pull,
# sandboxes/services/relay.py): the address it listens on, which the engine
# must reach and treat as a plain-HTTP registry (any 127.0.0.0/8 address is
# one by default), and its bounds on each push or pull.
DOCKERLAB_REGISTRY_RELAY_HOST = env_ipv4("DOCKERLAB_REGISTRY_RELAY_HOST", "127.0.0.1")
DOCKERLAB_REGISTRY_RELAY_MAX_MB = env_int("DOCKERLAB_REGISTRY_RELAY_MAX_MB", 2048, minimum=1)
DOCKERLAB_REGISTRY_RELAY_SECONDS = env_int("DOCKERLAB_REGISTRY_RELAY_SECONDS", 600, minimum=10)
# Websocket streaming: per-socket bounded queue (lines) and batching window.
DOCKERLAB_WS_QUEUE_LINES = env_int("DOCKERLAB_WS_QUEUE_LINES", 5000, minimum=100)
DOCKERLAB_WS_BATCH_MS = env_int("DOCKERLAB_WS_BATCH_MS", 25, minimum=0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("DOCKERLAB_LOG_LEVEL", "INFO")},
}
