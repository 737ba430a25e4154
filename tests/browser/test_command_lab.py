"""One-off commands from the first lessons, run for real in the learner's sandbox."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from playwright.sync_api import expect

from engine import kit
from tests.browser.learners import connected, sandbox_objects, sign_up

pytestmark = pytest.mark.browser


def test_a_lessons_docker_run_line_runs_in_the_sandbox_and_cleans_up_after_itself(
    page, sandboxes_made
):
    sign_up(page, "/lessons/containers/")
    panel = page.locator("[data-lab-panel]")
    sid = connected(panel)
    sandboxes_made.append(sid)

    # Where the python image is the classroom kit's build, the panel says so.
    notice = panel.locator("[data-lab-kit-notice]")
    if kit.image_state(settings.DOCKERLAB_IMAGES["python"]) == kit.KIT_BUILT:
        expect(notice).to_contain_text("report Debian's versions")
    else:
        expect(notice).to_have_count(0)

    # The step's `docker run --rm python:3.12-slim python --version` is offered as is;
    # its output and exit code show under the block.
    line = "docker run --rm python:3.12-slim python --version"
    try_it = page.locator('.step [data-lab-try="run"]').first
    expect(try_it).to_have_text("Try: " + line)
    expect(try_it).to_be_enabled()
    try_it.click()
    box = try_it.locator("xpath=ancestor::*[@data-lab-lines]")
    output = box.locator("[data-lab-line-output]")
    expect(output).to_contain_text("$ " + line)
    expect(output).to_contain_text(re.compile(r"Python 3\.\d+"), timeout=60_000)
    expect(box).to_have_attribute("data-line-state", "ok", timeout=30_000)
    expect(box).to_have_attribute("data-line-exit", "0")
    expect(output).to_contain_text("Exited with code 0. Removed it (--rm).")
    assert sandbox_objects(sid)["containers"] == []
    expect(page.locator('.step[data-lab-action="command"]').first).to_have_class(
        re.compile("lab-done")
    )

    # A line the lab cannot do says so instead of offering a button.
    host_only = page.locator('[data-lab-host-only="host_only"]').first
    expect(host_only).to_contain_text("On your own machine:")
    expect(host_only).to_contain_text("docker info")


def test_a_typed_command_that_fails_shows_its_output_and_exit_code(page, sandboxes_made):
    sign_up(page, "/lessons/vms-vs-containers/")
    panel = page.locator("[data-lab-panel]")
    sandboxes_made.append(connected(panel))

    panel.locator("[data-lab-command-rm]").uncheck()
    panel.locator("[data-lab-command-text]").fill(
        "sh -c 'echo \"<b>not bold</b>\"; echo to stderr >&2; exit 4'"
    )
    panel.get_by_role("button", name="Run command").click()
    output = panel.locator("[data-lab-pane=command]")
    expect(panel).to_have_attribute("data-command-exit", "4", timeout=60_000)
    expect(output).to_contain_text("<b>not bold</b>")  # text, never markup
    assert output.locator("b").count() == 0
    expect(output).to_contain_text("to stderr")
    expect(output).to_contain_text("Exited with code 4")
    # Without --rm the stopped container stays; the panel can remove it.
    expect(panel.locator("[data-lab-container-state]")).to_contain_text("Exited")
    panel.get_by_role("button", name="Remove").click()
    expect(panel.locator("[data-lab-container]")).to_contain_text("No container yet.")

    # A quote left open is refused with a reason, and nothing starts.
    panel.locator("[data-lab-command-text]").fill("echo 'oops")
    panel.get_by_role("button", name="Run command").click()
    expect(panel.locator("[data-lab-error]")).to_contain_text("quote")
    expect(panel.get_by_role("button", name="Run command")).to_be_enabled()
