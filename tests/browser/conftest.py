"""Browser tier: Debian's Chromium driven by Playwright against a live server.

The server is the real ASGI app under Daphne, in its own process, on a free
loopback port, with its own SQLite file. Playwright never downloads a browser:
it launches the system binary.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
    workdir = Path(tempfile.mkdtemp(prefix="dockerlab-live-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dockerlab.settings",
        "DOCKERLAB_DB": str(workdir / "db.sqlite3"),
        "DOCKERLAB_VAR_DIR": str(ROOT / "var"),
        # Every test signs a learner up from this one address.
        "DOCKERLAB_SIGNUPS_PER_HOUR": "1000",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT, env=env, check=True,
    )
    port = _free_port()
    log = open(workdir / "daphne.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dockerlab.serve", "-b", "127.0.0.1", "-p", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urlopen(url + "/lessons/", timeout=2).read()
            break
        except (URLError, ConnectionError, OSError):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                log.close()
                pytest.fail("live server did not start:\n" + (workdir / "daphne.log").read_text())
            time.sleep(0.2)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

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
