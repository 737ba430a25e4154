"""A lesson page keeps objectives, steps and lab in sight on the screens it is read on.

A laptop (1280x800) and a projector (1920x1080 at 150%, which a page sees as
1280x720): the steps on the left, objectives and lab beside them, all in the
window at once. A phone (375 px): one column in reading order, nothing wider
than the screen. Long output scrolls inside its pane.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.learners import connected, sign_up

pytestmark = pytest.mark.browser

LESSON = "/lessons/building-images/"


@pytest.fixture(scope="module")
def learner(browser, live_server):
    """A signed-in learner's storage state (cookies), made once; their sandbox goes after."""
    from sandboxes import services

    context = browser.new_context(base_url=live_server)
    try:
        page = context.new_page()
        sign_up(page, LESSON)
        sid = connected(page.locator("[data-lab-panel]"))
        state = context.storage_state()
    finally:
        context.close()
    yield state
    services.remove_objects(sid)


def _open(browser, live_server, learner, **screen):
    context = browser.new_context(base_url=live_server, storage_state=learner, **screen)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(LESSON)
    connected(page.locator("[data-lab-panel]"))
    return context, page


def _box(page, selector: str) -> dict:
    return page.locator(selector).first.bounding_box()


def _in_window(page, selector: str) -> bool:
    box = _box(page, selector)
    height = page.viewport_size["height"]
    return box["y"] >= -1 and box["y"] + min(box["height"], 40) <= height


@pytest.mark.parametrize(
    "screen",
    [
        {"viewport": {"width": 1280, "height": 800}},
        {"viewport": {"width": 1280, "height": 720}, "device_scale_factor": 1.5},
    ],
    ids=["laptop", "projector"],
)
def test_steps_objectives_and_lab_are_in_sight_together(browser, live_server, learner, screen):
    context, page = _open(browser, live_server, learner, **screen)
    try:
        page.locator("#step-2").evaluate("step => step.scrollIntoView()")
        for part in ("#step-2 h3", ".objectives h2", "[data-lab-panel] .lab-toolbar",
                     "[data-lab-status]"):
            assert _in_window(page, part), (part, _box(page, part))
        # The lab is beside the steps, not under them.
        assert _box(page, "[data-lab-panel]")["x"] > _box(page, "#step-2")["x"] + 300
        # "Do this in the lab" keeps the reader's place in the steps.
        page.locator("#step-2 .step-lab-link").click()
        assert page.url.endswith("#lab")
        assert _in_window(page, "#step-2 h3")
    finally:
        context.close()


def test_a_phone_reads_one_column_in_order(browser, live_server, learner):
    context, page = _open(browser, live_server, learner, viewport={"width": 375, "height": 812},
                          is_mobile=True, has_touch=True)
    try:
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        tops = [_box(page, part)["y"] for part in
                (".objectives", ".lesson-body", "#steps", "#lab", ".lesson-pager")]
        assert tops == sorted(tops)
        assert _box(page, "[data-lab-panel]")["width"] <= 375
    finally:
        context.close()


def test_long_output_scrolls_inside_its_pane(browser, live_server, learner):
    context, page = _open(browser, live_server, learner, viewport={"width": 1280, "height": 800})
    try:
        pane = page.locator("[data-lab-pane=logs]")
        height = pane.evaluate("p => p.getBoundingClientRect().height")
        pane.evaluate("""async (p) => {
            const {Pane} = await import('/static/js/lab/pane.js');
            new Pane(p).add(Array.from({length: 3000}, (_, i) => 'line ' + i));
        }""")
        expect(pane).to_contain_text("line 2999")
        assert pane.evaluate("p => p.getBoundingClientRect().height") == height
        assert pane.evaluate("p => p.scrollHeight > 10 * p.clientHeight")
        assert height < page.viewport_size["height"] / 2
    finally:
        context.close()


def test_the_sandbox_page_fits_a_phone(browser, live_server, learner):
    context = browser.new_context(base_url=live_server, storage_state=learner,
                                  viewport={"width": 375, "height": 812}, is_mobile=True)
    try:
        page = context.new_page()
        page.goto("/sandbox/")
        expect(page.locator("[data-lab-status]")).to_have_text("Connected to your sandbox.")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
    finally:
        context.close()

