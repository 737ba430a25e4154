"""The registries lesson in the browser: a private registry, tag, push, rmi, pull."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.learners import connected, sign_up, try_line

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

    output = try_line(page, "docker run -d --name registry -p 127.0.0.1:5000:5000 registry:2")
    expect(output).to_contain_text("registry: ")
    try_line(page, f"docker tag flask-app {REF}")
    # A push moves the whole image (~130 MB): on a busy shared engine that takes
    # about a minute, through the relay or not.
    output = try_line(page, f"docker push {REF}", timeout=180_000)
    expect(output).to_contain_text(f"Done: {REF}.")
    try_line(page, f"docker rmi {REF}")
    output = try_line(page, f"docker pull {REF}", timeout=180_000)
    expect(output).to_contain_text(f"Done: {REF}.")
    for step in ("tag", "push", "pull"):
        expect(page.locator(f'.step[data-lab-action="{step}"]')).to_have_class(
            re.compile("lab-done")
        )

    # A push to a registry the learner does not run says what to do.
    page.get_by_role("button", name="Remove", exact=True).click()
    expect(panel.locator("[data-lab-status]")).to_contain_text("Removed")
    output = try_line(page, f"docker push {REF}", state="failed")
    expect(output).to_contain_text("start your registry first")
