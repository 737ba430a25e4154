"""The networking lesson in the browser: the app counts visits in "db", by name."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.learners import connected, open_app, sandbox_objects, sign_up

pytestmark = pytest.mark.browser


def test_the_lessons_network_and_run_lines_give_an_app_that_counts_visits_by_name(
    page, live_server, sandboxes_made
):
    sign_up(page, "/lessons/networking/")
    panel = page.locator("[data-lab-panel]")
    sid = connected(panel)
    sandboxes_made.append(sid)
    panel.get_by_role("button", name="Build", exact=True).click()
    expect(panel).to_have_attribute("data-build-result", "ok", timeout=180_000)

    # The steps' lines, as the server marked them: a network, then the two runs.
    tries = page.locator(".step [data-lab-try]")
    expect(tries).to_have_count(6)
    expect(tries.nth(4)).to_have_text("Try: docker rm -f web db")
    expect(tries.nth(5)).to_have_text("Try: docker network rm flask-net")
    expect(tries.nth(0)).to_have_text("Try: docker network ls")
    expect(tries.nth(1)).to_have_text("Try: docker network create flask-net")
    expect(tries.nth(2)).to_have_attribute("data-lab-try", "run")
    expect(tries.nth(2)).to_contain_text("--name db --network flask-net")
    expect(tries.nth(3)).to_contain_text("--name web --network flask-net")

    def attempt(button):
        expect(button).to_be_enabled()
        button.click()
        box = button.locator("xpath=ancestor::*[@data-lab-lines]")
        expect(box).to_have_attribute("data-line-state", "ok", timeout=60_000)
        return box.locator("[data-lab-line-output]")

    attempt(tries.nth(1))
    output = attempt(tries.nth(0))
    expect(output).to_contain_text(re.compile(r"flask-net\s+bridge"), use_inner_text=True)
    for name in ("bridge", "host", "none"):
        expect(output).to_contain_text(re.compile(rf"^{name}\s", re.MULTILINE), use_inner_text=True)

    output = attempt(tries.nth(2))
    expect(output).to_contain_text("db: ")
    output = attempt(tries.nth(3))
    expect(output).to_contain_text("web: ")
    expect(panel.locator("[data-lab-container-name]")).to_have_text("web")
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

    # The clean-up step's two lines leave nothing of the pair behind.
    attempt(tries.nth(4))
    attempt(tries.nth(5))
    assert sandbox_objects(sid)["containers"] == []
    assert not [n for n in sandbox_objects(sid)["networks"] if n["Name"].endswith("flask-net")]
