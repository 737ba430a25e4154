"""The multistage lesson builds both sample Dockerfiles and compares them."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.learners import connected, sign_up, try_line

pytestmark = pytest.mark.browser


def test_both_dockerfiles_build_under_their_tags_and_the_images_table_lists_them(
    page, sandboxes_made
):
    sign_up(page, "/lessons/multistage/")
    panel = page.locator("[data-lab-panel]")
    sandboxes_made.append(connected(panel))

    single = "docker build -t flask-app:single ."
    multi = "docker build -f Dockerfile.multistage -t flask-app:multi ."
    tries = page.locator('.step [data-lab-try="build"]')
    expect(tries).to_have_count(2)
    expect(tries.nth(0)).to_have_text("Try: " + single)
    expect(tries.nth(1)).to_have_text("Try: " + multi)

    try_line(page, single, timeout=180_000)
    output = try_line(page, multi, timeout=360_000)
    # Sandboxes share no build cache: the builder stage runs before this step.
    expect(output).to_contain_text("COPY --from=builder")
    expect(output).to_contain_text("Built flask-app:multi.")

    rows = panel.locator("[data-lab-images-rows] tr")
    expect(rows.filter(has_text="flask-app:single")).to_have_count(1)
    expect(rows.filter(has_text="flask-app:multi")).to_have_count(1)
    size = rows.filter(has_text="flask-app:multi").locator("[data-size]")
    assert int(size.get_attribute("data-size")) > 1_000_000
    expect(size).to_have_text(re.compile(r"^\d+(\.\d)? MB$"))

    # The step's run line starts the image just built.
    try_line(page, "docker run -d --name multi -p 127.0.0.1:5002:5002 flask-app:multi")
    expect(panel.locator("[data-lab-container]")).to_contain_text("from flask-app:multi")
    expect(panel.locator("[data-lab-container-state]")).to_have_text(re.compile("Up"))
    panel.get_by_role("button", name="Remove").click()
    expect(panel.locator("[data-lab-container]")).to_contain_text("No container yet.")
