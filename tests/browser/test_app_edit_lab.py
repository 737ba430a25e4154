"""Change the app, see the change: the building-images lesson's app.py editor.

A learner edits the greeting in app.py, rebuilds (the layers before the app
come from the cache), runs the new image and reads the new greeting through
the site's proxy. The repository's app.py is untouched.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from sandboxes.services.builds import sample_dir
from tests.browser.learners import connected, open_app, sign_up

pytestmark = pytest.mark.browser

LESSON = "/lessons/building-images/"
GREETING = "Hello from my own image!"


def test_an_edited_greeting_is_rebuilt_from_cache_and_answers_through_the_proxy(
    page, sandboxes_made
):
    original = (sample_dir() / "app.py").read_text()
    sign_up(page, LESSON)
    panel = page.locator("[data-lab-panel]")
    sandboxes_made.append(connected(panel))

    panel.get_by_role("button", name="Build").click()
    expect(panel).to_have_attribute("data-build-result", "ok", timeout=180_000)

    editor_box = panel.locator("[data-lab-app]")
    editor_box.locator("summary").click()
    editor = editor_box.get_by_label("app.py", exact=True)
    expect(editor).to_have_value(re.compile(r'GREETING = "Hello from Docker!"'))
    editor.fill(editor.input_value().replace("Hello from Docker!", GREETING))
    expect(editor_box.locator("[data-lab-app-state]")).to_contain_text("Your edited app.py")

    try_build = page.locator('.step [data-lab-try="build"]').filter(has_text="flask-app:edited")
    try_build.click()
    expect(panel).to_have_attribute("data-build-result", "ok", timeout=180_000)
    pane = panel.locator("[data-lab-pane=build]")
    expect(pane).to_contain_text("Building with your edited app.py.")
    # The dependencies and the compiled part came from the cache this time.
    steps = pane.locator(".line")
    text = steps.all_inner_texts()
    copy_all = next(i for i, line in enumerate(text) if "COPY . ." in line)
    assert sum("Using cache" in line for line in text[:copy_all]) >= 5

    panel.get_by_role("button", name="Run", exact=True).click()
    expect(panel.locator("[data-lab-container]")).to_contain_text("from flask-app:edited")
    expect(panel.locator("[data-lab-container-state]")).to_have_text(re.compile("Up"))
    href = panel.get_by_role("link", name="Open app").get_attribute("href")
    assert href.startswith("/sandbox/app/")
    app = open_app(page, href)
    expect(app.locator("body")).to_contain_text(f"{GREETING} This is container")
    app.close()

    # Reset brings the sample's text back; the repository never changed.
    editor_box.get_by_role("button", name="Reset to the sample").click()
    expect(editor).to_have_value(original)
    assert (sample_dir() / "app.py").read_text() == original
