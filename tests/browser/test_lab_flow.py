"""A learner's whole lab flow in a real browser against the live server.

Sign up, open the building-images lesson, build the sample image and watch
its output stream in, run it, open it through the site's proxy, see that
visit in the followed logs, then stop and remove it.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.learners import connected, sandbox_objects, sign_up

pytestmark = pytest.mark.browser

LESSON = "/lessons/building-images/"


def test_anonymous_visitors_read_the_lesson_and_are_asked_to_sign_in_for_the_lab(page):
    page.goto(LESSON)
    expect(page.locator("h1")).to_contain_text("Building")
    prompt = page.locator(".lab-signin")
    expect(prompt).to_be_visible()
    expect(prompt.get_by_role("link", name="Sign up")).to_have_attribute(
        "href", re.compile(r"/accounts/signup/\?next=/lessons/building-images/")
    )
    assert page.locator("[data-lab-panel]").count() == 0


def test_a_learner_builds_runs_opens_follows_and_cleans_up(page, sandboxes_made):
    username = sign_up(page, LESSON)
    expect(page.locator(".account-nav")).to_contain_text(username)
    panel = page.locator("[data-lab-panel]")
    sid = connected(panel)
    sandboxes_made.append(sid)

    # Build: lines arrive in several frames before the build is done.
    panel.get_by_role("button", name="Build").click()
    expect(panel).to_have_attribute("data-build-result", "ok", timeout=180_000)
    assert int(panel.get_attribute("data-build-frames")) >= 3
    build_pane = panel.locator("[data-lab-pane=build]")
    expect(build_pane.locator(".line.step").first).to_contain_text("Step 1/")
    expect(build_pane).to_contain_text("Built flask-app:latest.")
    bar = panel.locator("[data-lab-progress] progress")
    assert bar.evaluate("b => b.value === b.max && b.max > 1")
    expect(panel.locator("[data-lab-status]")).to_contain_text("Built flask-app:latest")
    expect(page.locator('.step[data-lab-action="build"]')).to_have_class(re.compile("lab-done"))

    # Run: the container shows as running with its published port.
    panel.get_by_role("button", name="Run", exact=True).click()
    container = panel.locator("[data-lab-container]")
    expect(container.locator("[data-lab-container-state]")).to_have_class(
        re.compile("state-running"), timeout=60_000
    )
    expect(container).to_contain_text("port 5002")
    name = container.locator("[data-lab-container-name]").inner_text()

    # Follow its logs, then visit the app through the site's proxy.
    panel.get_by_role("button", name="Logs").click()
    logs = panel.locator("[data-lab-pane=logs]")
    expect(logs).to_contain_text(f"Following the logs of {name}")
    open_link = panel.get_by_role("link", name="Open app")
    expect(open_link).to_have_attribute("href", f"/sandbox/app/{name}/")
    app_page = page.context.new_page()
    app_page.goto(open_link.get_attribute("href"))
    expect(app_page.locator("body")).to_contain_text("Hello from Docker!", timeout=30_000)
    app_page.close()
    expect(logs).to_contain_text('"GET / HTTP/1.1" 200', timeout=5_000)

    # Stop, then remove: nothing of the sandbox is left running.
    panel.get_by_role("button", name="Stop", exact=True).click()
    expect(panel.locator("[data-lab-status]")).to_have_text(f"Stopped {name}.", timeout=60_000)
    expect(logs).to_contain_text("No longer following the logs.", timeout=15_000)
    panel.get_by_role("button", name="Remove").click()
    expect(panel.locator("[data-lab-status]")).to_have_text(f"Removed {name}.", timeout=60_000)
    expect(container).to_contain_text("No container yet.")
    objects = sandbox_objects(sid)
    assert objects["running"] == []
    assert objects["containers"] == []


def test_the_sandbox_page_lists_inspects_and_removes_the_learners_image(page, sandboxes_made):
    sign_up(page, LESSON)
    panel = page.locator("[data-lab-panel]")
    sandboxes_made.append(connected(panel))
    panel.get_by_role("button", name="Build").click()
    expect(panel).to_have_attribute("data-build-result", "ok", timeout=180_000)

    page.get_by_role("link", name="My sandbox").click()
    page.wait_for_url("**/sandbox/")
    row = page.locator('[data-sandbox-images] tr[data-image="flask-app:latest"]')
    expect(row).to_be_visible()
    row.get_by_role("button", name="Inspect").click()
    details = page.locator("[data-sandbox-inspect] details.inspect")
    expect(details.locator("summary")).to_have_text("image flask-app:latest")
    expect(details.locator("pre")).to_contain_text('"RepoTags"')
    row.get_by_role("button", name="Remove").click()
    expect(row).to_have_count(0, timeout=30_000)
    expect(page.locator("[data-sandbox-images]")).to_contain_text("No images yet")

    page.set_viewport_size({"width": 420, "height": 800})
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Prune my sandbox…").click()
    expect(page.locator("[data-lab-status]")).to_contain_text("Pruned")


def test_the_commands_lesson_inspects_removes_the_image_and_prunes(page, sandboxes_made):
    sign_up(page, LESSON)
    page.goto("/lessons/commands/")
    panel = page.locator("[data-lab-panel]")
    sid = connected(panel)
    sandboxes_made.append(sid)
    expect(panel.get_by_role("button", name="Remove image")).to_be_disabled()
    panel.get_by_role("button", name="Build").click()
    expect(panel).to_have_attribute("data-build-result", "ok", timeout=180_000)

    panel.get_by_role("button", name="Inspect").click()
    inspect = panel.locator("[data-lab-inspect]")
    expect(inspect.locator("summary")).to_have_text("docker inspect flask-app")
    expect(inspect.locator("pre")).to_contain_text('"RepoTags"')
    # The server checks the step by itself: inspecting the image is not the
    # step's work (it wants a container named web, inspected), so no tick.
    step = page.locator('.step[data-lab-action="inspect"]')
    expect(step).to_have_attribute("data-check-state", "failing", timeout=30_000)
    expect(step.locator("[data-check-status]")).to_contain_text("no container called web")
    expect(step).not_to_have_class(re.compile("lab-done"))

    panel.get_by_role("button", name="Remove image").click()
    expect(panel.locator("[data-lab-status]")).to_have_text("Removed image flask-app.")
    expect(panel.get_by_role("button", name="Remove image")).to_be_disabled()

    page.on("dialog", lambda dialog: dialog.accept())
    panel.get_by_role("button", name="Prune…").click()
    expect(panel.locator("[data-lab-status]")).to_contain_text("Pruned")
    assert sandbox_objects(sid)["images"] == []


def test_an_edited_dockerfile_is_built_and_a_broken_one_fails_where_it_breaks(
    page, sandboxes_made
):
    sign_up(page, LESSON)
    panel = page.locator("[data-lab-panel]")
    sandboxes_made.append(connected(panel))

    panel.locator(".lab-dockerfile summary").click()
    editor = panel.locator("[data-lab-dockerfile]")
    expect(editor).to_have_value(re.compile(r"^FROM python:3\.12-slim$", re.M))
    editor.fill("FROM python:3.12-slim\nRUN echo before-the-break && exit 3\n")
    panel.get_by_role("button", name="Build").click()

    expect(panel).to_have_attribute("data-build-result", "failed", timeout=120_000)
    build_pane = panel.locator("[data-lab-pane=build]")
    expect(build_pane).to_contain_text("before-the-break")
    # FROM, the sandbox's LABEL, the RUN that breaks, the closing LABEL.
    expect(build_pane.locator(".line.bad")).to_contain_text("at step 3 of 4")
    expect(panel.locator("[data-lab-error]")).to_contain_text("non-zero code: 3")

    panel.get_by_role("button", name="Reset to the sample").click()
    expect(editor).to_have_value(re.compile(r"COPY requirements\.txt"))
