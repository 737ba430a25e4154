"""Lesson 09 in the browser, on the classroom swarm: its Try lines, in order.

Build, create a service of three replicas, scale it, kill a task from the
live picture and see a new one run in its slot, update to v2, roll back,
and remove it. The swarm is the real one (`make swarm`); the sandbox's
objects leave it afterwards (sandboxes_made).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.learners import connected, open_app, sign_up, try_line

pytestmark = pytest.mark.browser

LESSON = "/lessons/orchestration/"
LONG = 180_000


def _try(page, panel, label: str) -> None:
    """Press the Try button of one lesson line and wait until the swarm action ended well."""
    output = try_line(page, label, timeout=LONG)
    expect(output).to_contain_text(f"$ {label}")


def _running(panel, service: str, count: int) -> None:
    tasks = panel.locator(
        f'[data-lab-swarm-picture] li[data-state="running"][data-task^="{service}."]'
    )
    expect(tasks).to_have_count(count, timeout=LONG)


def test_lesson_09_try_lines_create_scale_heal_update_roll_back_and_remove(
    page, live_server, sandboxes_made
):
    sign_up(page, LESSON)
    panel = page.locator("[data-lab-panel]")
    sid = connected(panel)
    sandboxes_made.append(sid)
    picture = panel.locator("[data-lab-swarm-picture]")
    expect(picture.locator(".lab-swarm-node")).to_have_count(3, timeout=30_000)
    expect(picture.locator("[data-lab-swarm-services]")).to_have_text("No services yet.")

    try_line(page, "docker build -t flask-app .", timeout=LONG)

    _try(page, panel, "docker service create --name web --replicas 3 -p 8080:5002 flask-app")
    _running(panel, "web", 3)
    expect(picture.locator("[data-lab-swarm-services]")).to_contain_text("web 3/3")
    expect(picture.locator('[data-lab-service-open="web"]')).to_have_attribute(
        "href", "/sandbox/service/web/"
    )
    app = open_app(page, live_server + "/sandbox/service/web/")
    expect(app.locator("body")).to_contain_text("Hello from Docker")
    app.close()

    # Kill web.1 from the live picture: its task dies, a new one runs in slot 1.
    first = picture.locator('li[data-task="web.1"][data-state="running"]')
    old_id = first.get_attribute("data-task-id")
    first.get_by_role("button", name="Kill").click()
    expect(panel).to_have_attribute("data-swarm-result", "ok", timeout=LONG)
    expect(picture.locator(f'li[data-task-id="{old_id}"]')).not_to_have_attribute(
        "data-state", "running", timeout=LONG
    )
    replacement = picture.locator(
        f'li[data-task="web.1"][data-state="running"]:not([data-task-id="{old_id}"])'
    )
    expect(replacement).to_have_count(1, timeout=LONG)
    _running(panel, "web", 3)

    _try(page, panel, "docker service scale web=5")
    _running(panel, "web", 5)

    try_line(page, "docker build -t flask-app:v2 .", timeout=LONG)
    _try(
        page, panel,
        "docker service update --image flask-app:v2 --update-parallelism 1 --update-delay 2s web",
    )
    expect(picture.locator("[data-lab-swarm-services]")).to_contain_text(
        "web 5/5 (flask-app:v2)", timeout=LONG
    )
    _try(page, panel, "docker service rollback web")
    expect(picture.locator("[data-lab-swarm-services]")).to_contain_text(
        re.compile(r"web 5/5 \(flask-app(:latest)?\)"), timeout=LONG
    )

    _try(page, panel, "docker service rm web")
    expect(picture.locator("[data-lab-swarm-services]")).to_have_text(
        "No services yet.", timeout=LONG
    )


def test_a_refused_swarm_line_says_why_and_changes_nothing(page, sandboxes_made):
    sign_up(page, LESSON)
    panel = page.locator("[data-lab-panel]")
    sandboxes_made.append(connected(panel))
    expect(panel.locator("[data-lab-swarm-picture] .lab-swarm-node")).to_have_count(
        3, timeout=30_000
    )
    # The rollback line before any service: the server refuses it, the page says so.
    output = try_line(page, "docker service rollback web", state="failed")
    expect(output).to_contain_text("web")
    expect(panel.locator("[data-lab-error]")).to_contain_text("web")


def _swarm(page, line: str):
    return page.evaluate(
        "async (line) => (await import('/static/js/lab/panel-swarm.js')).parseSwarmLine(line)",
        line,
    )


def test_swarm_lines_become_actions_and_shell_tricks_none(page):
    page.goto("/lessons/")
    created = _swarm(page, "$ docker service create --name web --replicas 3 -p 8080:5002 flask-app")
    assert created["action"] == "service" and created["stream"] is True
    assert created["args"] == {
        "command": "create", "name": "web", "image": "flask-app", "replicas": 3,
        "publish": "8080:5002"}
    assert _swarm(page, "$ docker kill web.1")["args"] == {"task": "web.1"}
    assert _swarm(page, "$ docker service scale web=5")["args"] == {
        "command": "scale", "name": "web", "replicas": 5}
    updated = _swarm(
        page, "$ docker service update --image flask-app:v2 --update-parallelism 1 "
        "--update-delay 2s web")
    assert updated["args"] == {"command": "update", "name": "web", "image": "flask-app:v2",
                               "update_parallelism": 1, "update_delay": 2}
    assert _swarm(page, "$ docker node update --availability drain worker1")["args"] == {
        "command": "update", "node": "worker1", "availability": "drain"}
    assert _swarm(page, "$ docker stack deploy -c stack.yaml flask")["args"] == {
        "command": "deploy", "name": "flask", "file": "stack.yaml"}
    for line in (
        "$ docker service rm web; rm -rf /",
        "$ docker service create --name ../x flask-app",
        "$ docker service create --name web --mount src=/,dst=/h flask-app",
        "$ docker kill $(docker ps -q)",
        "$ docker service scale web",
    ):
        assert _swarm(page, line) is None, line
