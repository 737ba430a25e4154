"""Suite-wide ordering: unit, then integration, then browser tests.

Playwright's sync API keeps an event loop running in the main thread for the
life of the browser; async tests that ran after it would find a loop already
running. Browser tests therefore go last.

Each run labels its engine objects with a deployment id of its own, so a
site's reaper on the same engine leaves them alone (and the run's reaper
tests leave the site's alone). Servers the tests start inherit it.
"""

import os
import secrets

import pytest

TIER_ORDER = {"unit": 0, "integration": 1, "browser": 2}


def pytest_collection_modifyitems(items):
    def tier(item) -> int:
        parts = item.nodeid.split("/")
        return TIER_ORDER.get(parts[1] if len(parts) > 1 else "", 1)

    items.sort(key=tier)


def pytest_configure(config):
    from django.conf import settings

    deployment = os.environ.setdefault(
        "DOCKERLAB_DEPLOYMENT", f"test-{secrets.token_hex(4)}"
    )
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
