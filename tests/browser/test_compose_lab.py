"""The Compose lesson in the browser: up, open the counting app, logs, down -v."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.learners import (
    connected,
    open_app,
    sandbox_objects,
    sign_up,
    try_line,
)

pytestmark = pytest.mark.browser


def test_compose_up_opens_a_counting_app_and_down_v_leaves_nothing(
    page, live_server, sandboxes_made
):
    sign_up(page, "/lessons/compose/")
    panel = page.locator("[data-lab-panel]")
    sid = connected(panel)
    sandboxes_made.append(sid)

    tries = page.locator('.step [data-lab-try="compose"]')
    expect(tries.first).to_have_text("Try: docker compose up -d --build")
    output = try_line(page, "docker compose up -d --build", timeout=360_000)
    expect(output).to_contain_text("Waiting for db: service healthy")
    expect(output).to_contain_text("The project is up.")

    app = open_app(page, live_server + "/sandbox/app/flaskapp-web-1/")
    expect(app.locator("body")).to_contain_text("visited 1 time.")
    app.close()

    # `docker compose logs -f web` follows the app's output, with that visit in it.
    page.get_by_role("button", name="Try: docker compose logs -f web").last.click()
    logs = page.get_by_role("button", name="Try: docker compose logs -f web").last.locator(
        "xpath=ancestor::*[@data-lab-lines]"
    )
    expect(logs.locator("[data-lab-line-output]")).to_contain_text('"GET / HTTP/1.1" 200')
    output = panel.locator("[data-lab-pane=compose]")

    page.on("dialog", lambda dialog: dialog.accept())
    panel.locator("[data-lab-compose-volumes]").check()
    panel.locator('[data-lab-compose-do="down"]').click()
    expect(output).to_contain_text("Volume flaskapp_db-data  Removed", timeout=60_000)
    objects = sandbox_objects(sid)
    assert objects["containers"] == [] and objects["volumes"] == []


def test_the_sandbox_page_lists_the_database_volume_and_removes_it_once_unused(
    page, sandboxes_made
):
    sign_up(page, "/lessons/compose/")
    panel = page.locator("[data-lab-panel]")
    sid = connected(panel)
    sandboxes_made.append(sid)
    panel.locator('[data-lab-compose-do="up"]').click()
    expect(panel).to_have_attribute("data-compose-result", "ok", timeout=180_000)

    page.goto("/sandbox/")
    row = page.locator('[data-sandbox-volumes] tr[data-volume="flaskapp_db-data"]')
    expect(row).to_contain_text("flaskapp-db-1")
    expect(row.get_by_role("button", name="Remove")).to_be_disabled()
    page.locator('[data-sandbox-containers] tr[data-container="flaskapp-db-1"]').get_by_role(
        "button", name="Remove"
    ).click()
    expect(row.get_by_role("button", name="Remove")).to_be_enabled()
    row.get_by_role("button", name="Remove").click()
    expect(page.locator("[data-sandbox-volumes]")).to_contain_text("No volumes.")
    assert sandbox_objects(sid)["volumes"] == []


def test_an_edited_compose_file_that_is_broken_is_refused_with_the_reason(
    page, sandboxes_made
):
    sign_up(page, "/lessons/compose/")
    panel = page.locator("[data-lab-panel]")
    sandboxes_made.append(connected(panel))
    panel.locator(".lab-compose-file summary").click()
    editor = panel.locator("[data-lab-compose-file]")
    expect(editor).to_have_value(re.compile(r"condition: service_healthy"))
    editor.fill("services:\n  web:\n    image: python:3.12-slim\n    volumes: ['/etc:/host']\n")
    panel.locator('[data-lab-compose-do="up"]').click()
    expect(panel.locator("[data-lab-error]")).to_contain_text("no folders of the host")
    expect(panel.locator('[data-lab-compose-do="up"]')).to_be_enabled()
    panel.get_by_role("button", name="Reset to the sample").click()
    expect(editor).to_have_value(re.compile(r"condition: service_healthy"))
