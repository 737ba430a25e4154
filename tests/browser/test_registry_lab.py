"""The registries lesson in the browser: a private registry, tag, push, rmi, pull."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.learners import connected, sign_up

pytestmark = pytest.mark.browser

REF = "127.0.0.1:5000/flask-app:v1"


def test_the_lessons_lines_push_an_image_to_the_learners_registry_and_pull_it_back(
    page, sandboxes_made
):
    sign_up(page, "/lessons/registries/")
    panel = page.locator("[data-lab-panel]")
    sandboxes_made.append(connected(panel))
    panel.get_by_role("button", name="Build", exact=True).click()
    expect(panel).to_have_attribute("data-build-result", "ok", timeout=180_000)

    page.get_by_role("button", name="Try: run registry (registry:2)").click()
    output = panel.locator("[data-lab-pane=command]")
    expect(output).to_contain_text("-p 127.0.0.1:<any free port>:5000 registry:2")
    expect(panel.locator("[data-lab-container-state]")).to_contain_text("Up")

    page.get_by_role("button", name=f"Try: docker tag flask-app {REF}").click()
    expect(output).to_contain_text(f"Tagged flask-app as {REF}.")
    page.get_by_role("button", name=f"Try: docker push {REF}").click()
    # A push moves the whole image (~130 MB): on a busy shared engine that takes
    # about a minute, through the relay or not.
    expect(panel).to_have_attribute("data-registry-result", "push ok", timeout=180_000)
    expect(output).to_contain_text("Pushed")

    page.get_by_role("button", name=f"Try: docker rmi {REF}").click()
    expect(output).to_contain_text(f"Untagged: {REF}")
    page.get_by_role("button", name=f"Try: docker pull {REF}").click()
    expect(panel).to_have_attribute("data-registry-result", "pull ok", timeout=180_000)
    expect(output).to_contain_text(f"Pulled {REF}.")
    for step in ("tag", "push", "pull"):
        expect(page.locator(f'.step[data-lab-action="{step}"]')).to_have_class(
            "step lab-done"
        )

    # A push to a registry the learner does not run says what to do.
    page.get_by_role("button", name="Remove", exact=True).click()
    expect(panel.locator("[data-lab-status]")).to_contain_text("Removed")
    page.get_by_role("button", name=f"Try: docker push {REF}").click()
    expect(panel.locator("[data-lab-error]")).to_contain_text("start your registry first")
