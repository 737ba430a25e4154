"""The networking lesson in the browser: the app counts visits in "db", by name."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.learners import connected, open_app, sandbox_objects, sign_up

pytestmark = pytest.mark.browser


def test_the_lessons_two_docker_run_lines_give_an_app_that_counts_visits(
    page, live_server, sandboxes_made
):
    sign_up(page, "/lessons/networking/")
    panel = page.locator("[data-lab-panel]")
    sid = connected(panel)
    sandboxes_made.append(sid)
    panel.get_by_role("button", name="Build", exact=True).click()
    expect(panel).to_have_attribute("data-build-result", "ok", timeout=180_000)

    tries = page.locator('.step [data-lab-try="command"]')
    expect(tries).to_have_count(2)
    expect(tries.nth(0)).to_have_text("Try: run db (mariadb:11)")
    expect(tries.nth(1)).to_have_text("Try: run web (flask-app)")
    output = panel.locator("[data-lab-pane=command]")

    tries.nth(0).click()
    expect(output).to_contain_text("--name db -e MARIADB_ROOT_PASSWORD=root-secret")
    expect(output).to_contain_text("--network flask-net")
    expect(panel.locator("[data-lab-container-state]")).to_have_text(re.compile("Up"))

    tries.nth(1).click()
    expect(output).to_contain_text("-e MYSQL_HOST=db")
    expect(panel.locator("[data-lab-container-name]")).to_have_text("web")
    expect(output).to_contain_text("Running on", timeout=30_000)
    open_link = panel.locator("[data-lab-open]")
    expect(open_link).to_have_attribute("href", "/sandbox/app/web/")

    # The database takes a few seconds to start; the app says so until then.
    app = open_app(page, live_server + "/sandbox/app/web/", 90, while_waiting="not answering yet")
    assert "visited 1 time." in app.locator("body").inner_text()
    app.reload()
    expect(app.locator("body")).to_contain_text("visited 2 times.")
    app.close()

    running = {c["Names"][0] for c in sandbox_objects(sid)["running"]}
    assert running == {f"/dl-{sid}-db", f"/dl-{sid}-web"}
    db_ports = [c["Ports"] for c in sandbox_objects(sid)["running"] if c["Names"][0].endswith("-db")]
    assert all(not p.get("PublicPort") for ports in db_ports for p in ports)
