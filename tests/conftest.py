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
  so the tier order above holds within every worker.

A test that needs the engine to itself cannot have it (other runs, sites
and benchmarks share the engine too): it asserts only what holds whatever
other sandboxes come and go.
"""

from __future__ import annotations

import os
import secrets

import pytest

TIER_ORDER = {"unit": 0, "integration": 1, "browser": 2}


def _tier(item) -> int:
    parts = item.nodeid.split("/")
    return TIER_ORDER.get(parts[1] if len(parts) > 1 else "", 1)


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(items):
    # Before every other plugin's hook: xdist's turns the group markers into
    # scopes.
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
    yield
    # After them all: pytest-django's own ordering (database tests first)
    # would otherwise mix the tiers. A stable sort keeps the order within one.
    items.sort(key=_tier)


def _worker_id(config) -> str | None:
    return getattr(config, "workerinput", {}).get("workerid")


def pytest_configure(config):
    from django.conf import settings

    base = os.environ.setdefault("DOCKERLAB_DEPLOYMENT", f"test-{secrets.token_hex(4)}")
    worker = _worker_id(config)
    deployment = f"{base}-{worker}" if worker else base
    # Worker processes inherit the run's id; each labels with its own.
    os.environ["DOCKERLAB_DEPLOYMENT"] = deployment
    settings.DOCKERLAB_DEPLOYMENT = deployment


@pytest.fixture(autouse=True)
def default_engine():
    """Each test starts on the default engine (engine/pool.py): a sandbox that
    an earlier test bound this thread to (sandbox_for binds the caller to its
    sandbox's engine) must not carry over."""
    from engine import pool

    pool.enter("")
    yield
    pool.enter("")
