"""Small typed readers for settings taken from the environment.

Each raises ImproperlyConfigured naming the variable when its value cannot be
read, so a typo in a deployment fails at start-up with a clear message.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_int(name: str, default: int, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def env_float(name: str, default: float, minimum: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def env_ipv4(name: str, default: str) -> str:
    """One IPv4 address (not 0.0.0.0: something must connect to it)."""
    raw = os.environ.get(name, default).strip()
    try:
        address = ipaddress.IPv4Address(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an IPv4 address, got {raw!r}") from None
    if address.is_unspecified:
        raise ImproperlyConfigured(f"{name} must be one address to connect to, not {raw}")
    return str(address)


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return value


_HEADER_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def proxy_ssl_header(name: str, default: str) -> tuple[str, str] | None:
    """Django's SECURE_PROXY_SSL_HEADER from a header name (empty: none).

    The request counts as HTTPS when that header says "https". Set it only
    behind a proxy that always sets (or strips) the header itself.
    """
    raw = os.environ.get(name, default).strip()
    if not raw:
        return None
    if not _HEADER_RE.match(raw):
        raise ImproperlyConfigured(f"{name} must be a header name like X-Forwarded-Proto, got {raw!r}")
    return ("HTTP_" + raw.upper().replace("-", "_"), "https")


def _generated_once(path: Path, make) -> str:
    """The value kept in `path`, or a new one from `make()` written there (0600)."""
    if path.exists():
        value = path.read_text().strip()
        if value:
            return value
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


def secret_key(name: str, path: Path) -> str:
    """The secret key from the environment, or one generated once into `path`.

    The file is created with mode 0600 and reused on later starts, so sessions
    survive restarts without anyone having to invent a key.
    """
    raw = os.environ.get(name)
    if raw:
        return raw
    return _generated_once(path, lambda: secrets.token_urlsafe(50))


_DEPLOYMENT_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


def deployment_id(name: str, path: Path) -> str:
    """This deployment's id on the engine, from the environment or generated once.

    Every engine object the site creates is labelled with it, so the reaper of
    one deployment (or test run) never touches another's on a shared engine.
    """
    raw = os.environ.get(name)
    if raw is not None:
        if not _DEPLOYMENT_RE.match(raw):
            raise ImproperlyConfigured(
                f"{name} must be 1-40 lower-case letters, digits or dashes, "
                f"starting with a letter or digit; got {raw!r}"
            )
        return raw
    return _generated_once(path, lambda: secrets.token_hex(6))
