"""The multistage lesson builds both sample Dockerfiles and compares them."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.learners import connected, sign_up

pytestmark = pytest.mark.browser


def test_both_dockerfiles_build_under_their_tags_and_the_images_table_lists_them(
    page, sandboxes_made
):
    sign_up(page, "/lessons/multistage/")
    panel = page.locator("[data-lab-panel]")
    sandboxes_made.append(connected(panel))

    tries = page.locator('.step [data-lab-try="build"]')
    expect(tries).to_have_count(2)
    expect(tries.nth(0)).to_have_text("Try: build -t flask-app:single")
    expect(tries.nth(1)).to_have_text("Try: build -f Dockerfile.multistage -t flask-app:multi")

    tries.nth(0).click()
    expect(panel).to_have_attribute("data-build-result", "ok", timeout=180_000)
    tries.nth(1).click()
    expect(panel.locator("[data-lab-sample]")).to_have_value("Dockerfile.multistage")
    expect(panel.locator("[data-lab-tag]")).to_have_value("flask-app:multi")
    editor = panel.locator("[data-lab-dockerfile]")
    expect(editor).to_have_value(re.compile(r"AS builder"))
    expect(panel.locator("[data-lab-pane=build]")).to_contain_text(
        "COPY --from=builder", timeout=180_000
    )
    expect(panel).to_have_attribute("data-build-result", "ok", timeout=180_000)

    rows = panel.locator("[data-lab-images-rows] tr")
    expect(rows.filter(has_text="flask-app:single")).to_have_count(1)
    expect(rows.filter(has_text="flask-app:multi")).to_have_count(1)
    size = rows.filter(has_text="flask-app:multi").locator("[data-size]")
    assert int(size.get_attribute("data-size")) > 1_000_000
    expect(size).to_have_text(re.compile(r"^\d+(\.\d)? MB$"))

    # Run starts the image just built, and it answers like the single-stage one.
    panel.get_by_role("button", name="Run", exact=True).click()
    expect(panel.locator("[data-lab-container]")).to_contain_text("from flask-app:multi")
    expect(panel.locator("[data-lab-container-state]")).to_have_text(re.compile("Up"))
    panel.get_by_role("button", name="Remove").click()
    expect(panel.locator("[data-lab-container]")).to_contain_text("No container yet.")
