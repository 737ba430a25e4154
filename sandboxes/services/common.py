"""The sandbox itself, its network, and engine errors turned into sandbox errors."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Self, TypeVar

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from engine import client, pool
from sandboxes import naming
from sandboxes.errors import NotInSandbox, SandboxError
from sandboxes.models import Sandbox
from sandboxes.services import placement

log = logging.getLogger(__name__)
T = TypeVar("T")

# Engine calls that must not interleave for one sandbox (network creation,
# the container quota check) take this sandbox's lock.


class SandboxLock:
    """One sandbox's lock: held by one thread of one server process at a time.

    A re-entrant thread lock orders this process's threads (a service holding
    it may call another that takes it). The outermost holder also takes an
    exclusive flock on var/sandbox-locks/<sid>, which orders the server
    processes sharing this machine's var directory (`make run-multi`, the
    compose deployment): without it a learner's two tabs, served by two
    processes, could both pass the container quota check. The kernel drops
    the flock if the process dies. Lock files are never removed: a file
    removed while another process waits on it would let two holders in.
    """

    def __init__(self, sid: str):
        self.sid = naming.check_sid(sid)
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    def __enter__(self) -> Self:
        self._thread_lock.acquire()
        try:
            if self._depth == 0:
                self._fd = self._lock_file()
            self._depth += 1
        except BaseException:
            self._thread_lock.release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        self._thread_lock.release()

    def _lock_file(self) -> int:
        folder = Path(settings.VAR_DIR) / "sandbox-locks"
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / self.sid, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        return fd


_locks: dict[str, SandboxLock] = {}
_locks_guard = threading.Lock()


def sandbox_lock(sandbox: Sandbox) -> SandboxLock:
    with _locks_guard:
        lock = _locks.get(sandbox.sid)
        if lock is None:
            lock = _locks[sandbox.sid] = SandboxLock(sandbox.sid)
        return lock


def sandbox_for(user) -> Sandbox:
    """The user's sandbox, created on first use; use extends its expiry."""
    if not getattr(user, "is_authenticated", False):
        raise SandboxError("Log in to use a sandbox.", code="login_required")
    ttl = timedelta(hours=settings.DOCKERLAB_SANDBOX_TTL_HOURS)
    now = timezone.now()
    sandbox = Sandbox.objects.filter(user=user).first()
    attempts = 0
    # Asking the engines for their load takes a moment: not inside the transaction.
    engine = placement.choose() if sandbox is None else ""
    while sandbox is None:
        attempts += 1
        try:
            with transaction.atomic():
                created = Sandbox.objects.create(
                    user=user, sid=naming.new_sid(), expires_at=now + ttl, engine=engine
                )
            pool.enter(created.engine)
            return created
        except IntegrityError:
            # Another request created this user's sandbox first, or (rarely)
            # the random id was taken: look again, retry a few times.
            sandbox = Sandbox.objects.filter(user=user).first()
            if sandbox is None and attempts >= 5:
                raise SandboxError("Could not create a sandbox; try again.") from None
    # Writing on every action would be wasteful; halfway through is soon enough.
    if sandbox.expires_at - now < ttl / 2:
        sandbox.expires_at = now + ttl
        sandbox.save(update_fields=["expires_at"])
    # What this task or thread does next is about this sandbox: on its engine.
    pool.enter(sandbox.engine)
    return sandbox


def on_each_engine(work: Callable[[], T], deferred: str) -> dict[str, T]:
    """`work()` on every engine of the pool in turn (engine/pool.py), bound to
    it; the results by engine name. An engine that does not answer is logged
    ("...; `deferred`") and left out until it answers again; with none
    answering, its error is raised, as on a one-engine site."""
    results: dict[str, T] = {}
    down: list[SandboxError] = []
    for name in pool.names():
        with pool.using(name):
            try:
                results[name] = work()
            except SandboxError as exc:
                if exc.code != "engine_unavailable":
                    raise
                log.warning("the engine %s is not answering; %s", name, deferred)
                down.append(exc)
    if down and not results:
        raise down[0]
    return results


@contextlib.contextmanager
def engine_call(
    sandbox: Sandbox | None = None, *, not_found: str | None = None
) -> Iterator[None]:
    """Run engine calls; errors come out as SandboxError, prefixes stripped."""

    def shown(message: str) -> str:
        return naming.strip(sandbox.sid, message) if sandbox is not None else message

    # A sandbox's calls go to its engine; others stay on the current one.
    bound = pool.using(sandbox.engine) if sandbox is not None else contextlib.nullcontext()
    try:
        with client.translate_errors(), bound:
            yield
    except client.EngineUnavailable as exc:
        raise SandboxError(exc.message, code="engine_unavailable") from exc
    except client.NotFound as exc:
        raise NotInSandbox(not_found or shown(exc.message)) from exc
    except client.Conflict as exc:
        raise SandboxError(shown(exc.message), code="conflict") from exc
    except client.BuildFailed as exc:
        raise SandboxError(shown(exc.message), code="build_failed") from exc
    except client.EngineError as exc:
        raise SandboxError(shown(exc.message), code="engine_error") from exc


# The host guard that scripts/engine-up.sh installs refuses traffic from
# interfaces called dl-* to the host itself, so every sandbox network names
# its bridge so: dl-<sid> is 13 characters, under the kernel's limit of 15.
BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"


def bridge_name(sandbox: Sandbox) -> str:
    """The host interface of the sandbox's bridge network."""
    return f"dl-{sandbox.sid}"


def ensure_network(sandbox: Sandbox) -> str:
    """The sandbox's own bridge network, created if missing; returns its name.

    A network made before bridges were named (so outside the host guard) is
    made again while the sandbox has no container; until then it is kept,
    and the last container's removal drops it anyway (drop_idle_network).
    """
    name = sandbox.network
    with sandbox_lock(sandbox), engine_call(sandbox):
        api = client.api()
        for net in api.networks(names=[name]):
            if net.get("Name") != name:
                continue
            if (net.get("Labels") or {}).get("org.dockerlab.sandbox") != sandbox.sid:
                raise SandboxError(
                    f"A network called {name} exists but is not this sandbox's.",
                    code="conflict",
                )
            if (net.get("Options") or {}).get(BRIDGE_NAME_OPTION) == bridge_name(
                sandbox
            ) or not _replaceable(api, sandbox, net):
                return name
        try:
            with client.translate_errors():
                api.create_network(
                    name,
                    driver="bridge",
                    labels=sandbox.labels(),
                    options={BRIDGE_NAME_OPTION: bridge_name(sandbox)},
                    check_duplicate=True,
                )
        except client.Conflict:
            pass  # created meanwhile by another process: fine
    return name


def _replaceable(api, sandbox: Sandbox, net: dict) -> bool:
    """Remove an unguarded network of the sandbox if no container holds it."""
    if api.containers(all=True, filters=sandbox.label_filter()):
        log.info("sandbox %s keeps its unnamed bridge while in use", sandbox.sid)
        return False
    try:
        with client.translate_errors():
            api.remove_network(net["Id"])
    except client.NotFound:
        return True  # gone meanwhile: make the new one
    except client.Conflict:
        return False
    return True


def drop_idle_network(sandbox: Sandbox) -> bool:
    """Remove the sandbox network once no container of the sandbox is left.

    An engine has a limited number of address pools for bridge networks, so
    only sandboxes with containers hold one; the next run creates it again.
    """
    with sandbox_lock(sandbox), engine_call(sandbox):
        api = client.api()
        if api.containers(all=True, filters=sandbox.label_filter()):
            return False
        for net in api.networks(
            names=[sandbox.network], filters=sandbox.label_filter()
        ):
            if net.get("Name") == sandbox.network:
                with contextlib.suppress(client.NotFound, client.Conflict):
                    with client.translate_errors():
                        api.remove_network(net["Id"])
                return True
    return False
