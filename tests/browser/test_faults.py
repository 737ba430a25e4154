"""Faults under an open lesson page: the engine stops, the server restarts.

A learner follows a running container's output. The engine then stops (or
the server restarts); the page says so in words for a learner, recovers by
itself when it is back, and follows the same container's output again.

The engine here is a private dockerd of this module's own (tests/engines.py),
with --live-restore so the learner's container outlives it, and the site is a
Daphne of its own pointed at it: the host's shared engine is never stopped.
"""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from playwright.sync_api import expect

from sandboxes import health
from tests.browser.learners import connected, sign_up
from tests.browser.server import LiveServer
from tests.engines import private_engine

pytestmark = pytest.mark.browser

# Prints "tick N" twice a second, forever.
TICKER = (
    'python -u -c "import itertools, time; '
    "[print('tick', i, flush=True) or time.sleep(0.5) for i in itertools.count()]\""
)


@pytest.fixture(scope="module")
def engine():
    with private_engine(settings.DOCKERLAB_IMAGES["python"]) as engine:
        yield engine


@pytest.fixture(scope="module")
def site(engine):
    server = LiveServer({"DOCKERLAB_ENGINE_URL": engine.url})
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture
def lab_page(browser, site):
    context = browser.new_context(base_url=site.url, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def _last_tick(pane) -> int:
    return pane.evaluate(
        """pane => Math.max(-1, ...Array.from(pane.querySelectorAll('.line'), line => {
             const m = /^tick (\\d+)$/.exec(line.textContent);
             return m ? Number(m[1]) : -1;
           }))"""
    )


def _wait_for_ticks_after(page, pane, last: int, timeout: float = 60_000) -> None:
    page.wait_for_function(
        """([pane, last]) => Array.from(pane.querySelectorAll('.line')).some(line => {
             const m = /^tick (\\d+)$/.exec(line.textContent);
             return m && Number(m[1]) > last + 2;
           })""",
        arg=[pane.element_handle(), last],
        timeout=timeout,
    )


def _follow_a_ticker(page):
    """Sign a learner up and run the ticker; return (panel, pane, sandbox id)."""
    sign_up(page, "/lessons/containers/")
    panel = page.locator("[data-lab-panel]")
    sid = connected(panel)
    panel.locator("[data-lab-command-rm]").uncheck()
    panel.locator("[data-lab-command-text]").fill(TICKER)
    panel.get_by_role("button", name="Run command").click()
    pane = panel.locator("[data-lab-pane=command]")
    expect(pane).to_contain_text("tick 3", timeout=60_000)
    return panel, pane, sid


def _started_at(engine, sid: str) -> str:
    ids = engine.docker("ps", "-q", "--filter", f"label=org.dockerlab.sandbox={sid}")
    (container,) = ids.stdout.decode().split()
    return engine.docker("inspect", "-f", "{{.State.StartedAt}}", container).stdout.decode()


def test_the_page_says_the_engine_stopped_and_follows_again_when_it_is_back(
    lab_page, engine
):
    panel, pane, sid = _follow_a_ticker(lab_page)
    started = _started_at(engine, sid)

    engine.stop()
    banner = panel.locator("[data-lab-engine]")
    expect(banner).to_have_text(health.DOWN_MESSAGE)
    expect(panel).to_have_attribute("data-engine", "down")
    expect(pane).to_contain_text("The lab's Docker engine stopped answering")
    assert "make engine" not in panel.inner_text()
    last = _last_tick(pane)
    assert last >= 3

    engine.start()
    expect(panel).to_have_attribute("data-engine", "up", timeout=30_000)
    expect(banner).to_have_text(health.UP_MESSAGE)
    expect(pane).to_contain_text(re.compile(r"Following \S+ again"))
    # The same container goes on counting: it outlived the engine's restart.
    _wait_for_ticks_after(lab_page, pane, last)
    assert _started_at(engine, sid) == started
    expect(banner).to_be_hidden(timeout=15_000)


def test_the_page_reconnects_after_a_server_restart_and_follows_again(lab_page, site):
    panel, pane, _ = _follow_a_ticker(lab_page)
    status = panel.locator("[data-lab-status]")

    site.stop()
    expect(status).to_contain_text("Connection lost")
    expect(pane).to_contain_text("The connection to the lab dropped")
    last = _last_tick(pane)

    site.start()
    expect(status).to_have_text("Connected to your sandbox.", timeout=60_000)
    expect(pane).to_contain_text(re.compile(r"Following \S+ again"))
    _wait_for_ticks_after(lab_page, pane, last)


def test_a_lab_module_that_fails_to_download_reloads_the_page(page, sandboxes_made):
    sign_up(page, "/lessons/containers/")
    panel = page.locator("[data-lab-panel]")
    sandboxes_made.append(connected(panel))
    failed: list[str] = []

    def fail_once(route):
        if failed:
            route.continue_()
        else:
            failed.append(route.request.url)
            route.abort("internetdisconnected")

    # One module of the lab's graph fails (a network hiccup): the page
    # reloads by itself and the lab connects.
    page.route("**/static/js/lab/parse.js", fail_once)
    page.reload()
    expect(panel.locator("[data-lab-status]")).to_have_text("Connected to your sandbox.")
    assert len(failed) == 1

    # A download that keeps failing is said where the lab shows its status.
    page.unroute("**/static/js/lab/parse.js")
    page.route("**/static/js/lab/parse.js", lambda route: route.abort("internetdisconnected"))
    page.reload()
    expect(panel.locator("[data-lab-status]")).to_contain_text("The lab did not load")
