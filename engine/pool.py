"""The engines the lab runs sandboxes on, and which one the current work uses.

A site has one engine (DOCKERLAB_ENGINE_URL, else DOCKER_HOST, else the
local socket) or a pool of them (DOCKERLAB_ENGINES). Each sandbox lives on
one engine of the pool, chosen when it is created and kept afterwards
(Sandbox.engine holds the engine's name).

Which engine a piece of work talks to is carried by a context variable, not
passed down every call: `using(name)` sets it for a block, `enter(name)` for
the rest of the current task or thread. engine/client.py reads it whenever
it makes or picks a client. Context variables follow asyncio tasks and the
lab's worker pools (they run each call in a copy of the caller's context),
so an action started for a sandbox reaches that sandbox's engine wherever it
runs. Work that is not about one sandbox (the kit, the health page, the
reaper's sweep) runs on the default engine - the pool's first - unless it
says otherwise.

DOCKERLAB_ENGINES is a whitespace- or comma-separated list of entries
`name=url` or `name=url=publish-address`:
- `name`: 1-24 of a-z, 0-9 and "-", starting with a letter or digit; it is
  what sandboxes record, so renaming an engine orphans its sandboxes;
- `url`: unix:///path or tcp://host:port (with DOCKERLAB_ENGINE_TLS_VERIFY, a
  tcp engine's ca.pem, cert.pem and key.pem are read from
  DOCKERLAB_ENGINE_CERT_PATH/<name>/ when that folder exists, else from
  DOCKERLAB_ENGINE_CERT_PATH itself);
- `publish-address`: where this server reaches the ports that engine
  publishes for learners' apps and registries (they are published on it).
  127.0.0.1 for a unix socket's engine; for a tcp engine the url's host
  unless given.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import ipaddress
import os
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings

DEFAULT = "default"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,23}$")
LOOPBACK = "127.0.0.1"


class PoolError(ValueError):
    """DOCKERLAB_ENGINES cannot be read, or names an engine twice."""


@dataclass(frozen=True)
class Engine:
    """One engine of the pool."""

    name: str
    url: str  # "" means DOCKER_HOST, else the local socket
    cert_path: str  # "" means no TLS
    publish_host: str

    @property
    def local(self) -> bool:
        """Whether it runs on this machine (a unix socket)."""
        url = self.url or os.environ.get("DOCKER_HOST", "")
        return not url or url.startswith("unix://")

    @property
    def key(self) -> str:
        """What caches of per-engine facts are keyed by."""
        return f"{self.name}|{self.url or os.environ.get('DOCKER_HOST', '')}"


def _cert_path(name: str, url: str, verify: bool, base: str) -> str:
    if not verify or not url.startswith("tcp://") or not base:
        return ""
    own = os.path.join(base, name)
    return own if os.path.isdir(own) else base


def _publish_host(url: str, given: str) -> str:
    if given:
        try:
            return str(ipaddress.ip_address(given))
        except ValueError:
            raise PoolError(f"{given!r} is not an IP address to publish ports on.") from None
    if url.startswith("tcp://"):
        host = urllib.parse.urlsplit(url).hostname or ""
        return host or LOOPBACK
    return LOOPBACK


def parse(text: str, *, single_url: str, verify: bool, cert_base: str) -> tuple[Engine, ...]:
    """The pool that DOCKERLAB_ENGINES (`text`) describes; the single engine
    of DOCKERLAB_ENGINE_URL when it is empty."""
    entries = [entry for entry in re.split(r"[\s,]+", text.strip()) if entry]
    if not entries:
        cert = cert_base if verify else ""
        return (Engine(DEFAULT, single_url, cert, _publish_host(single_url, "")),)
    engines: list[Engine] = []
    for entry in entries:
        parts = entry.split("=", 2)
        if len(parts) < 2 or not parts[1]:
            raise PoolError(f"{entry!r} is not name=url (DOCKERLAB_ENGINES).")
        name, url = parts[0], parts[1]
        if not NAME_RE.match(name):
            raise PoolError(
                f"{name!r} is not an engine name: 1-24 of a-z, 0-9 and '-' (DOCKERLAB_ENGINES)."
            )
        if not (url.startswith("unix:///") or url.startswith("tcp://")):
            raise PoolError(f"{url!r} is neither unix:///path nor tcp://host:port (engine {name}).")
        if any(engine.name == name for engine in engines):
            raise PoolError(f"the engine name {name!r} is given twice (DOCKERLAB_ENGINES).")
        publish = _publish_host(url, parts[2] if len(parts) == 3 else "")
        engines.append(Engine(name, url, _cert_path(name, url, verify, cert_base), publish))
    return tuple(engines)


@functools.lru_cache(maxsize=8)
def _parsed(text: str, single_url: str, verify: bool, cert_base: str) -> tuple[Engine, ...]:
    return parse(text, single_url=single_url, verify=verify, cert_base=cert_base)


def engines() -> tuple[Engine, ...]:
    """Every engine of the pool, the default first (read from the settings)."""
    return _parsed(
        settings.DOCKERLAB_ENGINES,
        settings.DOCKERLAB_ENGINE_URL,
        settings.DOCKERLAB_ENGINE_TLS_VERIFY,
        settings.DOCKERLAB_ENGINE_CERT_PATH,
    )


def names() -> list[str]:
    return [engine.name for engine in engines()]


def default() -> Engine:
    return engines()[0]


class UnknownEngine(LookupError):
    """A sandbox records an engine the pool no longer has."""


def get(name: str | None) -> Engine:
    """The engine called `name`; the default one for "" or None."""
    pool = engines()
    if not name:
        return pool[0]
    for engine in pool:
        if engine.name == name:
            return engine
    raise UnknownEngine(name)


_current: contextvars.ContextVar[str] = contextvars.ContextVar("dockerlab_engine", default="")


def current() -> Engine:
    """The engine the current work talks to."""
    return get(_current.get())


def enter(name: str | None) -> None:
    """Bind the rest of the current task or thread to engine `name`."""
    _current.set(name or "")


@contextlib.contextmanager
def using(name: str | None) -> Iterator[None]:
    """Talk to engine `name` ("" or None: the default) inside the block.

    An unknown name is not refused here: engine/client.py says so to whoever
    then calls the engine, as an engine that cannot be reached.
    """
    token = _current.set(name or "")
    try:
        yield
    finally:
        _current.reset(token)
