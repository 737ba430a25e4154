"""Browser tier: Debian's Chromium driven by Playwright against a live server.

The server is the real ASGI app under Daphne, in its own process, on a free
loopback port, with its own SQLite file (tests/browser/server.py). Playwright
never downloads a browser: it launches the system binary.
"""

from __future__ import annotations

import shutil

import pytest

from tests.browser.server import LiveServer

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(autouse=True)
def _live_server_helper():
    """Shadow pytest-django's helper of the same name.

    Our `live_server` is a separate Daphne process with its own database, so
    pytest-django must not set up a test database or patch settings for it.
    """
    yield


@pytest.fixture(scope="session")
def live_server():
    """Start Daphne serving dockerlab; yield its base URL."""
    server = LiveServer()
    try:
        server.start()
    except RuntimeError as exc:
        server.remove()
        pytest.fail(str(exc))
    yield server.url
    server.remove()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import expect, sync_playwright

    # As long as a page's own default (below): the suite shares its machine's
    # cores with builds and other work, and 5 s is short under load.
    expect.set_options(timeout=15_000)

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if not executable:
        pytest.fail("Browser tests need Debian's chromium (run `make test`, which installs it).",
                    pytrace=False)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True,
                                     args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 800})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def sandboxes_made():
    """Sandbox ids the test used; everything labelled with them goes afterwards."""
    from sandboxes import services

    sids: list[str] = []
    yield sids
    for sid in sids:
        services.remove_objects(sid)
