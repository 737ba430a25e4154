"""Settings for dockerlab, read from the environment (see README: Configuration)."""

import os
from pathlib import Path

from dockerlab import stores
from dockerlab.env import (
    deployment_id,
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_ipv4,
    env_list,
    env_str,
    proxy_ssl_header,
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
    "orchestration",
    "checks",
    "classrooms",
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
# Per-learner limits (sockets, streams, builds, actions, proxy requests) are
# counted in Redis when processes share it (sandboxes/slots.py).
DOCKERLAB_SLOTS_REDIS_URL = stores.redis_url("DOCKERLAB_REDIS_URL")
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
# A pool of engines instead of the one above: "name=url[=publish-address] ..."
# (engine/pool.py). New sandboxes go to the least loaded engine that answers
# and stay there. Empty: the one engine of DOCKERLAB_ENGINE_URL.
DOCKERLAB_ENGINES = env_str("DOCKERLAB_ENGINES", "")

# The images lessons build FROM and run. The defaults are the official names;
# where they cannot be pulled, `manage.py kit` builds local equivalents from
# Debian packages under the same names (labelled as kit builds).
DOCKERLAB_IMAGES = {
    "python": env_str("DOCKERLAB_PYTHON_IMAGE", "python:3.12-slim"),
    "mariadb": env_str("DOCKERLAB_MARIADB_IMAGE", "mariadb:11"),
    "registry": env_str("DOCKERLAB_REGISTRY_IMAGE", "registry:2"),
    # The full Python image: a C compiler and Python's headers, for the
    # multistage lesson's builder stage.
    "python-build": env_str("DOCKERLAB_PYTHON_BUILD_IMAGE", "python:3.12"),
}
# Where the kit keeps its debootstrap'd root filesystem between runs.
DOCKERLAB_KIT_DIR = Path(env_str("DOCKERLAB_KIT_DIR", str(VAR_DIR / "kit")))
# Debian suite for the kit's base image.
DOCKERLAB_KIT_SUITE = env_str("DOCKERLAB_KIT_SUITE", "bookworm")

# --- Orchestration: the classroom swarm (see README: The classroom swarm) -----
DOCKERLAB_SWARM = env_bool("DOCKERLAB_SWARM", True)
# An existing swarm's manager (unix:// or tcp://): use it, start none.
DOCKERLAB_SWARM_MANAGER_URL = env_str("DOCKERLAB_SWARM_MANAGER_URL", "")
DOCKERLAB_SWARM_MANAGER_CERT_PATH = env_str("DOCKERLAB_SWARM_MANAGER_CERT_PATH", "")
# With an existing swarm: the registry (host:port) its nodes pull from and this
# site's engine pushes to.
DOCKERLAB_SWARM_REGISTRY = env_str("DOCKERLAB_SWARM_REGISTRY", "")
# The swarm the site starts itself: names, private network, registry port, nodes.
DOCKERLAB_SWARM_NAME = env_str("DOCKERLAB_SWARM_NAME", "dockerlab-swarm")
DOCKERLAB_SWARM_SUBNET = env_str("DOCKERLAB_SWARM_SUBNET", "10.213.0.0/24")
DOCKERLAB_SWARM_REGISTRY_PORT = env_int("DOCKERLAB_SWARM_REGISTRY_PORT", 5050, minimum=0)
DOCKERLAB_SWARM_WORKERS = env_int("DOCKERLAB_SWARM_WORKERS", 2, minimum=0)
DOCKERLAB_SWARM_NODE_MEMORY_MB = env_int("DOCKERLAB_SWARM_NODE_MEMORY_MB", 1024, minimum=256)
DOCKERLAB_SWARM_NODE_CPUS = env_float("DOCKERLAB_SWARM_NODE_CPUS", 1.0, minimum=0.1)
# Learners' services on the swarm: per sandbox, services (a stack's count),
# replicas of one service, published ports; how often open pages' live
# pictures are refreshed from the manager (milliseconds).
DOCKERLAB_SWARM_MAX_SERVICES = env_int("DOCKERLAB_SWARM_MAX_SERVICES", 4, minimum=1)
DOCKERLAB_SWARM_MAX_REPLICAS = env_int("DOCKERLAB_SWARM_MAX_REPLICAS", 5, minimum=1)
DOCKERLAB_SWARM_MAX_PORTS = env_int("DOCKERLAB_SWARM_MAX_PORTS", 3, minimum=0)
DOCKERLAB_SWARM_WATCH_MS = env_int("DOCKERLAB_SWARM_WATCH_MS", 250, minimum=50)

# --- Sandboxes ----------------------------------------------------------------
# Labels every engine object of this site; the reaper sweeps only its own.
DOCKERLAB_DEPLOYMENT = deployment_id("DOCKERLAB_DEPLOYMENT", VAR_DIR / "deployment_id")
DOCKERLAB_SANDBOX_TTL_HOURS = env_int("DOCKERLAB_SANDBOX_TTL_HOURS", 8, minimum=1)
DOCKERLAB_CONTAINER_MEMORY_MB = env_int("DOCKERLAB_CONTAINER_MEMORY_MB", 256, minimum=16)
DOCKERLAB_CONTAINER_CPUS = env_float("DOCKERLAB_CONTAINER_CPUS", 0.5, minimum=0.05)
DOCKERLAB_CONTAINER_PIDS = env_int("DOCKERLAB_CONTAINER_PIDS", 128, minimum=8)
DOCKERLAB_CONTAINER_LOG_MAX_SIZE = env_str("DOCKERLAB_CONTAINER_LOG_MAX_SIZE", "1m")
# Build steps (RUN): their network, and how many processes all the steps of
# one sandbox's builds may hold at once (through a cgroup, where the host allows).
DOCKERLAB_BUILD_NETWORK = env_choice("DOCKERLAB_BUILD_NETWORK", "none", ("none", "default", "bridge"))
DOCKERLAB_BUILD_PIDS = env_int("DOCKERLAB_BUILD_PIDS", DOCKERLAB_CONTAINER_PIDS, minimum=8)
DOCKERLAB_MAX_CONTAINERS = env_int("DOCKERLAB_MAX_CONTAINERS", 5, minimum=1)
DOCKERLAB_MAX_IMAGES = env_int("DOCKERLAB_MAX_IMAGES", 20, minimum=1)
# Networks a learner may create (`docker network create`), besides the
# sandbox's own; and how long a `docker exec` may run and how much it may print.
DOCKERLAB_MAX_NETWORKS = env_int("DOCKERLAB_MAX_NETWORKS", 3, minimum=0)
DOCKERLAB_EXEC_SECONDS = env_int("DOCKERLAB_EXEC_SECONDS", 30, minimum=1)
DOCKERLAB_EXEC_MAX_BYTES = env_int("DOCKERLAB_EXEC_MAX_BYTES", 1024 * 1024, minimum=1024)
# Disk: a sandbox's total (writable layers, volumes, the image layers only it
# holds) is measured against the first; where the engine has quotas, each
# container's writable layer and each volume also get a size of their own.
DOCKERLAB_SANDBOX_DISK_MB = env_int("DOCKERLAB_SANDBOX_DISK_MB", 2048, minimum=64)
DOCKERLAB_CONTAINER_DISK_MB = env_int(
    "DOCKERLAB_CONTAINER_DISK_MB", max(32, DOCKERLAB_SANDBOX_DISK_MB // 4), minimum=32
)
DOCKERLAB_VOLUME_DISK_MB = env_int(
    "DOCKERLAB_VOLUME_DISK_MB", max(32, DOCKERLAB_SANDBOX_DISK_MB // 4), minimum=32
)
DOCKERLAB_DISK_CHECK_EVERY = env_int("DOCKERLAB_DISK_CHECK_EVERY", 60, minimum=10)
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
# Checks of a learner's work: seconds one check may take (unless it says
# otherwise), and one evaluation of a step's or challenge's checks in all.
DOCKERLAB_CHECK_SECONDS = env_float("DOCKERLAB_CHECK_SECONDS", 10.0, minimum=1.0)
DOCKERLAB_CHECKS_SECONDS = env_float("DOCKERLAB_CHECKS_SECONDS", 60.0, minimum=1.0)
# Websocket streaming: per-socket bounded queue (lines and bytes) and batching window.
DOCKERLAB_WS_QUEUE_LINES = env_int("DOCKERLAB_WS_QUEUE_LINES", 5000, minimum=100)
DOCKERLAB_WS_QUEUE_BYTES = env_int("DOCKERLAB_WS_QUEUE_BYTES", 1024 * 1024, minimum=64 * 1024)
DOCKERLAB_WS_BATCH_MS = env_int("DOCKERLAB_WS_BATCH_MS", 25, minimum=0)

# --- What one learner may have going at once (across all their sockets) --------
DOCKERLAB_WS_SOCKETS_PER_USER = env_int("DOCKERLAB_WS_SOCKETS_PER_USER", 8, minimum=1)
DOCKERLAB_STREAMS_PER_USER = env_int("DOCKERLAB_STREAMS_PER_USER", 8, minimum=1)
DOCKERLAB_BUILDS_PER_USER = env_int("DOCKERLAB_BUILDS_PER_USER", 2, minimum=1)
DOCKERLAB_ACTIONS_PER_USER = env_int("DOCKERLAB_ACTIONS_PER_USER", 8, minimum=1)
# Engine calls run in pools of this many threads; one learner has at most
# DOCKERLAB_ENGINE_CALLS_PER_USER of them busy at a time.
DOCKERLAB_ENGINE_THREADS = env_int("DOCKERLAB_ENGINE_THREADS", 16, minimum=2)
DOCKERLAB_ENGINE_CALLS_PER_USER = env_int("DOCKERLAB_ENGINE_CALLS_PER_USER", 2, minimum=1)
# The app proxy: requests at once per learner and in all, and the deadline
# for a whole request (connect, send, response).
DOCKERLAB_PROXY_PER_USER = env_int("DOCKERLAB_PROXY_PER_USER", 4, minimum=1)
DOCKERLAB_PROXY_TOTAL = env_int("DOCKERLAB_PROXY_TOTAL", 32, minimum=1)
DOCKERLAB_PROXY_DEADLINE = env_float("DOCKERLAB_PROXY_DEADLINE", 30.0, minimum=1.0)

# --- How much the whole lab may hold (sandboxes/services/capacity.py) -----------
# 0 means: derived from the engine's machine when first needed.
DOCKERLAB_LAB_MEMORY_MB = env_int("DOCKERLAB_LAB_MEMORY_MB", 0, minimum=0)
DOCKERLAB_LAB_MAX_CONTAINERS = env_int("DOCKERLAB_LAB_MAX_CONTAINERS", 0, minimum=0)
DOCKERLAB_LAB_MAX_NETWORKS = env_int("DOCKERLAB_LAB_MAX_NETWORKS", 0, minimum=0)

# --- Accounts -------------------------------------------------------------------
# open: anyone may sign up; code: with DOCKERLAB_SIGNUP_CODE; closed: nobody.
DOCKERLAB_SIGNUP = env_choice("DOCKERLAB_SIGNUP", "open", ("open", "code", "closed"))
DOCKERLAB_SIGNUP_CODE = env_str("DOCKERLAB_SIGNUP_CODE", "")
DOCKERLAB_SIGNUPS_PER_HOUR = env_int("DOCKERLAB_SIGNUPS_PER_HOUR", 5, minimum=0)
DOCKERLAB_LOGIN_FAILURES_PER_USER = env_int("DOCKERLAB_LOGIN_FAILURES_PER_USER", 10, minimum=1)
DOCKERLAB_LOGIN_FAILURES_PER_ADDRESS = env_int(
    "DOCKERLAB_LOGIN_FAILURES_PER_ADDRESS", 30, minimum=1
)
DOCKERLAB_LOGIN_LOCKOUT_MINUTES = env_int("DOCKERLAB_LOGIN_LOCKOUT_MINUTES", 15, minimum=1)

# --- Classes (classrooms/): wrong join codes allowed before a pause ---------------
DOCKERLAB_JOIN_FAILURES_PER_USER = env_int("DOCKERLAB_JOIN_FAILURES_PER_USER", 10, minimum=1)
DOCKERLAB_JOIN_FAILURES_PER_ADDRESS = env_int("DOCKERLAB_JOIN_FAILURES_PER_ADDRESS", 30, minimum=1)
DOCKERLAB_JOIN_LOCKOUT_MINUTES = env_int("DOCKERLAB_JOIN_LOCKOUT_MINUTES", 15, minimum=1)

# Counters (sign-up and sign-in limits) live in Django's cache (CACHES above):
# this process's memory unless DOCKERLAB_CACHE_URL names a shared one, which
# several server processes need.

# --- Behind TLS (a reverse proxy that terminates HTTPS) --------------------------
# Off by default: `make run` serves plain HTTP on the loopback.
DOCKERLAB_TLS = env_bool("DOCKERLAB_TLS", False)
SESSION_COOKIE_SECURE = env_bool("DOCKERLAB_SESSION_COOKIE_SECURE", DOCKERLAB_TLS)
CSRF_COOKIE_SECURE = env_bool("DOCKERLAB_CSRF_COOKIE_SECURE", DOCKERLAB_TLS)
SECURE_SSL_REDIRECT = env_bool("DOCKERLAB_SSL_REDIRECT", DOCKERLAB_TLS)
SECURE_HSTS_SECONDS = env_int("DOCKERLAB_HSTS_SECONDS", 0, minimum=0)
# The header the TLS proxy sets to "https", e.g. X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = proxy_ssl_header("DOCKERLAB_PROXY_SSL_HEADER", "")
# Take the client's address from X-Forwarded-For (only behind a proxy that sets it).
DOCKERLAB_PROXY_HEADERS = env_bool("DOCKERLAB_PROXY_HEADERS", False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("DOCKERLAB_LOG_LEVEL", "INFO")},
}
