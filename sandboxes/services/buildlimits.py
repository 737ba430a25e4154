"""What a build holds beyond the build API: a process cap per sandbox, and a lease.

Every step of a classic build (RUN, and the commits of the others) runs in a
container the builder makes. The build API gives those containers memory, a
CPU quota and a network mode (engine.client.build), but no process limit.
It does take `cgroupparent`, the cgroup the step containers are made under.
Where the engine is local and uses cgroup v1 with the cgroupfs driver (the
classroom set-up; the server runs as root), each sandbox gets

    /sys/fs/cgroup/pids/dockerlab/<deployment>/<sid>/pids.max = DOCKERLAB_BUILD_PIDS

and its builds run under `/dockerlab/<deployment>/<sid>`: the steps of all of
the sandbox's builds together hold at most that many processes (threads
count), so a fork bomb stops there. One cgroup per sandbox rather than one
for all: a shared cap would let one learner's fork bomb take every process
slot the other learners' builds need. They sit under one parent per
deployment, so the reaper finds those of sandboxes that are gone by listing
one directory, and a test run (its own deployment id) never touches a site's.
The engine creates the same path in the other hierarchies (memory, cpu ...);
`remove_cgroup` takes it out of all of them once it is empty.

Where that cannot be done (a remote engine, cgroup v2, the systemd driver, a
cgroup filesystem this process may not write), builds still run, without a
process limit, and a warning says so once per process (README too).

The lease: a build holds a shared `flock` on var/build-leases/<sid> while it
streams. The kernel drops it when the process ends, SIGKILL included. The
reaper takes it exclusively, without waiting, before clearing a live
sandbox's build leftovers, so it never removes what a running build uses.
Leases only see processes sharing this machine's var directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

from engine import client
from sandboxes import naming

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
PARENT = "dockerlab"

_problems: dict[tuple, str | None] = {}
_warned: set[str] = set()


# -- the process cap --------------------------------------------------------


def _relative(sid: str) -> str:
    return f"{PARENT}/{settings.DOCKERLAB_DEPLOYMENT}/{naming.check_sid(sid)}"


def _problem() -> str | None:
    """Why build cgroups cannot be used here, or None (asked once per set-up)."""
    key = (
        client.engine_key(),
        str(CGROUP_ROOT),
    )
    if key not in _problems:
        _problems[key] = _find_problem()
    return _problems[key]


def _find_problem() -> str | None:
    if not client.is_local():
        return (
            "the engine is on another machine, whose cgroups this server cannot write"
        )
    try:
        facts = client.info()
    except client.EngineError as exc:
        return f"the engine did not say how it runs containers ({exc.message})"
    version, driver = str(facts.get("CgroupVersion", "1")), facts.get("CgroupDriver")
    if version != "1" or driver != "cgroupfs":
        return (
            f"the engine uses cgroup v{version} with the {driver} driver, "
            "not v1 with cgroupfs"
        )
    pids = CGROUP_ROOT / "pids"
    if not pids.is_dir() or not os.access(pids, os.W_OK):
        return f"{pids} is not a cgroup hierarchy this server may write"
    return None


def _warn(reason: str) -> None:
    if reason not in _warned:
        _warned.add(reason)
        log.warning(
            "Build steps run without a process limit: %s. Memory, CPU and "
            "network limits still apply.",
            reason,
        )


def cgroup_parent(sid: str) -> str | None:
    """The sandbox's build cgroup, made with its process cap; None where impossible."""
    reason = _problem()
    if reason is not None:
        _warn(reason)
        return None
    relative = _relative(sid)
    path = CGROUP_ROOT / "pids" / relative
    try:
        for _ in range(2):  # the reaper may remove an empty parent meanwhile
            try:
                path.mkdir(parents=True, exist_ok=True)
                break
            except FileNotFoundError:
                continue
        (path / "pids.max").write_text(f"{settings.DOCKERLAB_BUILD_PIDS}\n")
    except OSError as exc:
        _warn(f"{path} could not be set up ({exc.strerror or exc})")
        return None
    return "/" + relative


def pids_cap_reached(sid: str) -> bool:
    """Whether the sandbox's build steps ever held as many processes as allowed."""
    path = CGROUP_ROOT / "pids" / _relative(sid)
    try:
        peak = int((path / "pids.peak").read_text())
        cap = (path / "pids.max").read_text().strip()
    except (OSError, ValueError):
        return False
    return cap.isdigit() and peak >= int(cap)


def _hierarchies() -> list[Path]:
    try:
        return [h for h in CGROUP_ROOT.iterdir() if h.is_dir() and not h.is_symlink()]
    except OSError:
        return []


def remove_cgroup(sid: str) -> int:
    """Remove the sandbox's build cgroups that are empty; how many went."""
    relative = _relative(sid)
    removed = 0
    for hierarchy in _hierarchies():
        path = hierarchy / relative
        if not path.is_dir():
            continue
        # Deepest first: cgroups of step containers the engine left behind.
        for child in sorted(path.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if child.is_dir():
                with contextlib.suppress(OSError):
                    child.rmdir()
        try:
            path.rmdir()
            removed += 1
        except OSError:
            continue  # still in use: a later sweep takes it
        # The deployment's folder and the lab's, once the last one goes (a
        # build starting meanwhile makes them again).
        for parent in (path.parent, path.parent.parent):
            with contextlib.suppress(OSError):
                parent.rmdir()
    return removed


def cgroup_sids() -> set[str]:
    """Sandbox ids with a build cgroup of this deployment."""
    parent = CGROUP_ROOT / "pids" / PARENT / settings.DOCKERLAB_DEPLOYMENT
    try:
        names = {child.name for child in parent.iterdir() if child.is_dir()}
    except OSError:
        return set()
    return {name for name in names if naming.SID_RE.match(name)}


def reset() -> None:
    """Forget what was found about the host (after settings changed, in tests)."""
    _problems.clear()
    _warned.clear()


# -- the lease --------------------------------------------------------------


def _lease_path(sid: str) -> Path:
    folder = Path(settings.VAR_DIR) / "build-leases"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{naming.check_sid(sid)}.lock"


class Lease:
    """A running build's claim on its sandbox; release() once, from any thread."""

    def __init__(self, sid: str):
        self._fd: int | None = os.open(_lease_path(sid), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_SH)
        except OSError:
            os.close(self._fd)
            raise

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing drops the lock

    def __del__(self) -> None:
        self.release()


@contextlib.contextmanager
def idle(sid: str) -> Iterator[bool]:
    """True (and no build may start meanwhile) when no build of the sandbox runs."""
    fd = os.open(_lease_path(sid), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def drop_lease(sid: str) -> None:
    """Forget a sandbox's lease file (its sandbox is gone)."""
    with contextlib.suppress(OSError):
        _lease_path(sid).unlink()
