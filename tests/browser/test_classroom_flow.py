"""A trainer and a learner, each in a browser context of their own, on a live site.

The trainer creates a class, writes an exercise with two checks in the
editor (image_exists flask-app, container_running web), tries them against
their own (empty) sandbox, assigns it and a lesson, and opens the class
dashboard. The learner signs up with the class code (sign-up needs a code
on this site), opens the exercise, fails the check (reason and hint shown,
a hint revealed), builds and runs the app through the lab websocket (the
learner's sandbox really holds them), then passes. The trainer's open
dashboard shows the new learner and then the cell turning done, without a
reload; the CSV export holds it.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import subprocess
import sys
import uuid

import pytest
from playwright.sync_api import expect

from sandboxes import services
from tests.browser.conftest import CHROMIUM_FLAGS  # noqa: F401  (same browser set-up)
from tests.browser.learners import PASSWORD, sandbox_objects
from tests.browser.server import ROOT, LiveServer

pytestmark = pytest.mark.browser

SITE_CODE = "site-code-" + uuid.uuid4().hex[:6]

# Build flask-app, then run it as web, over the learner's own lab socket.
LAB_WORK = """
async () => {
  const ws = new WebSocket(`ws://${location.host}/ws/lab/`);
  const frames = [];
  const waiters = [];
  ws.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    frames.push(frame);
    for (const w of waiters.slice()) if (w.test(frame)) { waiters.splice(waiters.indexOf(w), 1); w.done(frame); }
  };
  const next = (test) => new Promise((done) => {
    const seen = frames.find(test);
    if (seen) done(seen); else waiters.push({ test, done });
  });
  const hello = await next((f) => f.type === "hello");
  ws.send(JSON.stringify({ action: "build", ref: "b", tag: "flask-app" }));
  const built = await next((f) => f.type === "build.done" || (f.type === "error" && f.ref === "b"));
  if (!built.ok) { ws.close(); return { sandbox: hello.sandbox, error: built }; }
  ws.send(JSON.stringify({ action: "run", ref: "r", image: "flask-app", name: "web" }));
  const ran = await next((f) => (f.type === "result" || f.type === "error") && f.ref === "r");
  ws.close();
  return { sandbox: hello.sandbox, ran: ran };
}
"""


@pytest.fixture(scope="module")
def site():
    """A live site where sign-up needs a code (the site's, or a class's)."""
    server = LiveServer(env={"DOCKERLAB_SIGNUP": "code", "DOCKERLAB_SIGNUP_CODE": SITE_CODE})
    try:
        server.start()
    except RuntimeError as exc:
        server.remove()
        pytest.fail(str(exc))
    yield server
    sids = [row[0] for row in sqlite3.connect(server.workdir / "db.sqlite3").execute(
        "SELECT sid FROM sandboxes_sandbox"
    )]
    for sid in sids:
        services.remove_objects(sid)
    server.remove()


def _trainer_account(server: LiveServer) -> str:
    name = f"trainer-{uuid.uuid4().hex[:6]}"
    subprocess.run(
        [sys.executable, "manage.py", "trainer", "add", name, "--create", "--noinput"],
        cwd=ROOT, env={**server.env, "DOCKERLAB_TRAINER_PASSWORD": PASSWORD},
        check=True, capture_output=True,
    )
    return name


def _context(browser, server):
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    return context, page


def _write_exercise(page) -> None:
    page.goto("/classes/exercises/new/")
    page.fill("#id_title", "Run the sample app")
    page.fill(
        "#id_instructions",
        "Build the sample as **flask-app** and run it as `web`.\n\n<script>alert(1)</script>",
    )
    rows = page.locator(".check-row")
    rows.nth(0).locator("select[data-field$='.check']").select_option("image_exists")
    rows.nth(0).locator('[data-param="image"]').fill("flask-app")
    page.get_by_role("button", name="Add a check").click()
    rows.nth(1).locator("select[data-field$='.check']").select_option("container_running")
    rows.nth(1).locator('[data-param="name"]').fill("web")
    page.fill("#id_hints", "Build it first, from the lab's Build button.\nThen run it named web.")
    page.fill("#id_solution", "docker build -t flask-app .\ndocker run -d --name web flask-app")

    # A port that is not a number: the server names the field, the editor marks it.
    rows.nth(1).locator('[data-param="port"]').fill("five")
    page.get_by_role("button", name="Try these checks against my sandbox").click()
    results = page.locator("[data-try-results]")
    expect(results).to_contain_text("Check 2 (container_running): port must be a port number")
    expect(rows.nth(1).locator('[data-param="port"]')).to_have_attribute("aria-invalid", "true")
    rows.nth(1).locator('[data-param="port"]').fill("")

    # Tried against the trainer's own, empty sandbox: both fail, with reasons.
    page.get_by_role("button", name="Try these checks against my sandbox").click()
    expect(results).to_contain_text("Some checks fail in your sandbox", timeout=60_000)
    expect(results.locator("li.failed")).to_have_count(2)
    expect(results).to_contain_text("no container called web in your sandbox")
    page.get_by_role("button", name="Save the exercise").click()
    expect(page.locator(".messages")).to_contain_text("Exercise Run the sample app saved")


def test_a_trainer_watches_a_learner_pass_an_exercise_live(browser, site):
    trainer_name = _trainer_account(site)
    trainer_context, trainer = _context(browser, site)
    learner_context, learner = _context(browser, site)
    try:
        trainer.goto("/accounts/login/?next=/classes/")
        trainer.fill("#id_username", trainer_name)
        trainer.fill("#id_password", PASSWORD)
        trainer.click("form button[type=submit]")
        trainer.wait_for_url("**/classes/")
        trainer.locator("details.new-class summary").click()
        trainer.fill("#id_name", "Docker 101, Monday")
        trainer.get_by_role("button", name="Create the class").click()
        code = trainer.locator("[data-join-code]").inner_text()
        assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}", code)
        class_url = trainer.url

        _write_exercise(trainer)
        trainer.goto(class_url)
        trainer.select_option("#id_item", label="Run the sample app")
        trainer.get_by_role("button", name="Assign").click()
        trainer.select_option("#id_item", label="The whole lesson: Building an image with a Dockerfile")
        trainer.get_by_role("button", name="Assign").click()
        expect(trainer.locator("table.assignments tbody tr")).to_have_count(2)

        trainer.get_by_role("link", name="Open the dashboard").click()
        expect(trainer.locator("[data-live-status]")).to_have_text(
            "Live: changes show as they happen."
        )
        trainer.evaluate("window.__sameDashboard = true")

        # The learner signs up with the class code and is in the class.
        learner.goto("/accounts/signup/?next=/classes/")
        learner_name = f"learner-{uuid.uuid4().hex[:6]}"
        learner.fill("#id_username", learner_name)
        learner.fill("#id_password1", PASSWORD)
        learner.fill("#id_password2", PASSWORD)
        learner.fill("#id_code", code.lower())
        learner.click("form button[type=submit]")
        learner.wait_for_url("**/classes/")
        expect(learner.locator(".messages")).to_contain_text("You are in the class Docker 101")

        row = trainer.locator(f"tr[data-learner]:has-text('{learner_name}')")
        expect(row).to_have_count(1)  # appeared live
        cell = row.locator("td[data-cell^='exercise:']")
        expect(cell).to_have_attribute("data-state", "not_started")

        learner.get_by_role("link", name="Exercise: Run the sample app").click()
        expect(learner.locator("h1")).to_have_text("Run the sample app")
        assert learner.locator(".exercise-text script").count() == 0
        expect(learner.locator(".exercise-text")).to_contain_text("<script>alert(1)</script>")
        learner.get_by_role("button", name="Check my work").click()
        outcome = learner.locator("[data-check-outcome]")
        expect(outcome).to_contain_text("Not yet:", timeout=60_000)
        expect(outcome.locator("li.failed").first).to_contain_text("flask-app")
        expect(outcome.locator(".check-hint").first).to_contain_text("Hint:")
        learner.get_by_role("button", name=re.compile(r"Show a hint")).click()
        expect(learner.locator("[data-hints] li")).to_have_text(
            ["Build it first, from the lab's Build button."]
        )

        # The trainer sees it failing, with the reason on hover.
        expect(cell).to_have_attribute("data-state", "failing")
        expect(cell).to_have_attribute("title", re.compile(r"failing.*flask-app"))

        # The work, done in the learner's own sandbox over the lab socket.
        done = learner.evaluate(LAB_WORK)
        assert "error" not in done, done
        assert done["ran"]["type"] == "result", done
        objects = sandbox_objects(done["sandbox"])
        assert [c["Labels"].get("org.dockerlab.sandbox") for c in objects["running"]] == [
            done["sandbox"]
        ]

        learner.get_by_role("button", name="Check my work").click()
        expect(outcome).to_contain_text("All checks passed: done!", timeout=60_000)
        expect(learner.locator(".exercise-state")).to_have_attribute("data-state", "done")

        # On the trainer's page, which never reloaded.
        expect(cell).to_have_attribute("data-state", "done", timeout=5_000)
        expect(cell.locator(".visually-hidden")).to_have_text("Run the sample app: done")
        assert trainer.evaluate("window.__sameDashboard") is True
        expect(row.locator("[data-done-count]")).to_contain_text("1/")

        csv_url = trainer.get_by_role("link", name="Download CSV").get_attribute("href")
        exported = trainer.request.get(csv_url)
        assert exported.ok
        rows = list(csv.reader(io.StringIO(exported.text())))
        column = next(i for i, title in enumerate(rows[0]) if title.endswith("Run the sample app"))
        mine = next(r for r in rows[1:] if r[0] == learner_name)
        assert mine[column] == "done"
    finally:
        trainer_context.close()
        learner_context.close()
