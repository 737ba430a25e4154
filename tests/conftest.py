"""Suite-wide ordering, parallel workers, and what each worker has of its own.

Tiers: unit, then integration, then browser tests. Playwright's sync API
keeps an event loop running in the main thread for the life of the browser;
async tests that ran after it in the same process would find a loop already
running. Browser tests therefore go last, in every process.

Each run labels its engine objects with a deployment id of its own, so a
site's reaper on the same engine leaves them alone (and the run's reaper
tests leave the site's alone). Servers the tests start inherit it.

`make test` runs the suite in several worker processes (pytest-xdist, `-n`
in pytest.ini; `-n 0` runs everything in one process). The invariants that
keep workers apart:

- every worker has a deployment id of its own (`<run id>-gw0`, ...), so one
  worker's reaper and clean-up by label never touch another's objects, and
  its database (SQLite file per process, PostgreSQL on ports of its own),
  servers (free ports), live servers and browser are its own;
- a test module's tests all run in one worker, one after another, in file
  order (each module is an xdist group unless it names a group itself), so
  module-scoped fixtures are set up once and nothing of a module overlaps;
- workers take their work in collection order (`--no-loadscope-reorder`),
  so the tier order above holds within every worker;
- a test marked `alone` (it counts what every sandbox on the engine holds)
  runs while no other test of this run runs: it takes a lock that the other
  workers' tests share (below). Such tests go first in their tier, where
  the other workers are mostly busy with quick tests.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import tempfile
from pathlib import Path

import pytest

TIER_ORDER = {"unit": 0, "integration": 1, "browser": 2}
RUN_ENV = "DOCKERLAB_TEST_RUN"
_turns_key = pytest.StashKey["EngineTurns | None"]()


def _tier(item) -> int:
    parts = item.nodeid.split("/")
    return TIER_ORDER.get(parts[1] if len(parts) > 1 else "", 1)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    # Before xdist's own hook, which turns the group markers into scopes.
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
    order = {id(item): index for index, item in enumerate(items)}
    items.sort(
        key=lambda item: (
            _tier(item),
            item.get_closest_marker("alone") is None,
            order[id(item)],
        )
    )


def _worker_id(config) -> str | None:
    return getattr(config, "workerinput", {}).get("workerid")


def pytest_configure(config):
    from django.conf import settings

    run = os.environ.setdefault(RUN_ENV, f"test-{secrets.token_hex(4)}")
    base = os.environ.setdefault("DOCKERLAB_DEPLOYMENT", run)
    worker = _worker_id(config)
    deployment = f"{base}-{worker}" if worker else base
    # Worker processes inherit the run's id; each labels with its own.
    os.environ["DOCKERLAB_DEPLOYMENT"] = deployment
    settings.DOCKERLAB_DEPLOYMENT = deployment
    config.stash[_turns_key] = EngineTurns(run) if worker else None


class EngineTurns:
    """A readers-writer lock shared by one run's workers (flock on two files).

    Every test holds it shared; an `alone` test holds it exclusively. The
    gate is taken by a waiting `alone` test first, so the other workers'
    next tests queue behind it instead of starving it.
    """

    def __init__(self, run: str) -> None:
        folder = Path(tempfile.gettempdir())
        self.gate = folder / f"dockerlab-{run}.gate"
        self.turn = folder / f"dockerlab-{run}.turn"

    @contextlib.contextmanager
    def shared(self):
        with open(self.gate, "a") as gate, open(self.turn, "a") as turn:
            fcntl.flock(gate, fcntl.LOCK_EX)
            fcntl.flock(turn, fcntl.LOCK_SH)
            fcntl.flock(gate, fcntl.LOCK_UN)
            yield

    @contextlib.contextmanager
    def alone(self):
        with open(self.gate, "a") as gate, open(self.turn, "a") as turn:
            fcntl.flock(gate, fcntl.LOCK_EX)
            fcntl.flock(turn, fcntl.LOCK_EX)
            yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    # Around setup, call and teardown, module and session fixtures included.
    turns = item.config.stash.get(_turns_key, None)
    if turns is None:
        return (yield)
    with turns.alone() if item.get_closest_marker("alone") else turns.shared():
        return (yield)


def pytest_unconfigure(config):
    if config.stash.get(_turns_key, None) is None and _worker_id(config) is None:
        run = os.environ.get(RUN_ENV, "")
        for suffix in ("gate", "turn"):
            with contextlib.suppress(OSError):
                (Path(tempfile.gettempdir()) / f"dockerlab-{run}.{suffix}").unlink()
