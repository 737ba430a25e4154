"""Who learned what, on the lesson page in a real browser against the live server.

A step turns done only when the server's check says so (by itself after the
lab action, or on "Check my work") and stays done after a reload; a failing
check says why and how to fix it; a challenge's hints and solution are
revealed one at a time and kept; quiz answers are kept. The page is drawn
at a laptop's, a phone's and a projector's size, and looked at.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from lessons import loader
from tests.browser.learners import connected, sandbox_objects, sign_up

pytestmark = pytest.mark.browser

LESSON = "/lessons/containers/"
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


def test_a_steps_try_line_makes_it_done_by_itself_and_it_stays_done(page, sandboxes_made):
    sign_up(page, LESSON)
    panel = page.locator("[data-lab-panel]")
    sid = connected(panel)
    sandboxes_made.append(sid)
    step = page.locator("#step-3")
    expect(step).to_have_attribute("data-check-state", "not_started")
    expect(step.locator("[data-check-status]")).to_have_text("Not checked yet.")
    expect(step).not_to_have_class(re.compile("lab-done"))

    step.locator("[data-lab-try]").first.click()
    expect(panel).to_have_attribute("data-command-exit", "0", timeout=60_000)
    # No button press ticks it: the server's automatic check does.
    expect(step).to_have_class(re.compile("lab-done"), timeout=30_000)
    expect(step).to_have_attribute("data-check-state", "done")
    expect(step.locator("[data-check-status]")).to_have_text("Done: your work passed its checks.")
    box = step.locator("[data-check-box]")
    expect(box).to_have_attribute("data-checked-by", "auto")
    expect(box.locator(".check-result")).to_contain_text("✓")

    page.reload()
    connected(panel)
    expect(step).to_have_class(re.compile("lab-done"))
    expect(step.locator("[data-check-status]")).to_have_text("Done: your work passed its checks.")
    assert sandbox_objects(sid)["containers"] == []  # --rm


def test_a_failing_check_says_why_and_the_challenge_reveals_hints_then_the_solution(
    page, sandboxes_made
):
    sign_up(page, LESSON)
    sandboxes_made.append(connected(page.locator("[data-lab-panel]")))
    challenge = page.locator("#challenge-1")
    box = challenge.locator("[data-check-box]")
    expect(challenge.locator(".challenge-goal")).to_contain_text("first")

    box.get_by_role("button", name="Check my work").click()
    expect(box.locator("[data-check-status]")).to_have_text(
        "Not yet: There is no container called first in your sandbox.", timeout=30_000
    )
    expect(challenge).to_have_attribute("data-check-state", "failing")
    first = box.locator(".check-result").first
    expect(first).to_have_attribute("data-passed", "false")
    expect(first.locator(".check-reason")).to_have_text(
        "There is no container called first in your sandbox."
    )
    expect(first.locator(".check-hint")).to_have_text(
        "Hint: Start it with docker run and --name first."
    )

    hints = loader.get_lesson("containers").challenges[0].hints
    hint_items = box.locator("[data-check-hints] li")
    box.get_by_role("button", name="Show a hint").click()
    expect(hint_items).to_have_count(1)
    expect(hint_items.first).to_have_text(hints[0].replace("`", ""))
    expect(hint_items.first.locator("code").first).to_have_text("-d")
    box.get_by_role("button", name="Show another hint").click()
    expect(hint_items).to_have_count(2)

    solution = box.locator("[data-check-solution]")
    expect(solution).to_be_hidden()
    # Declining the confirmation shows nothing.
    page.once("dialog", lambda dialog: dialog.dismiss())
    box.get_by_role("button", name="Show the solution").click()
    expect(solution).to_be_hidden()
    page.once("dialog", lambda dialog: dialog.accept())
    box.get_by_role("button", name="Show the solution").click()
    expect(solution.locator("pre")).to_contain_text("docker run -d --name first")
    expect(box.get_by_role("button", name="Show the solution")).to_be_hidden()

    # What was revealed is kept; the state too.
    page.reload()
    expect(hint_items).to_have_count(2)
    expect(solution.locator("pre")).to_contain_text("docker run -d --name first")
    expect(box.locator("[data-check-status]")).to_have_text(
        "Not yet: There is no container called first in your sandbox."
    )


def test_a_quiz_answer_is_remembered_after_a_reload(page, sandboxes_made):
    sign_up(page, LESSON)
    sandboxes_made.append(connected(page.locator("[data-lab-panel]")))
    question = loader.get_lesson("containers").quiz[0]
    total = len(loader.get_lesson("containers").quiz)
    form = page.locator("#quiz-1")
    form.locator(f'input[value="{question.answer}"]').check()
    form.get_by_role("button", name="Check answer").click()
    expect(form.locator(".quiz-feedback")).to_contain_text("Correct.")
    expect(page.locator("[data-quiz-score]")).to_have_text(f"Your score: 1 of {total} correct.")

    page.reload()
    expect(form.locator(f'input[value="{question.answer}"]')).to_be_checked()
    expect(form.locator(".quiz-feedback")).to_contain_text("Correct.")
    expect(page.locator("[data-quiz-score]")).to_have_text(f"Your score: 1 of {total} correct.")


def test_an_anonymous_visitor_is_asked_to_sign_in_to_check_their_work(page):
    page.goto(LESSON)
    link = page.locator("#step-3").get_by_role("link", name="Sign in to check your work")
    expect(link).to_have_attribute("href", re.compile(r"next=/lessons/containers/%23step-3"))
    expect(page.locator("#challenge-1")).to_contain_text("Sign in to check your work")
    assert page.locator("[data-check-box]").count() == 0


@pytest.mark.parametrize(
    "screen",
    [
        {"viewport": {"width": 1280, "height": 800}},
        {"viewport": {"width": 375, "height": 740}, "is_mobile": True, "has_touch": True},
        {"viewport": {"width": 1280, "height": 720}, "device_scale_factor": 1.5},
    ],
    ids=["laptop", "phone", "projector"],
)
def test_check_boxes_fit_the_screen_they_are_read_on(
    browser, live_server, screen, sandboxes_made, request
):
    context = browser.new_context(base_url=live_server, **screen)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        sign_up(page, LESSON)
        sandboxes_made.append(connected(page.locator("[data-lab-panel]")))
        box = page.locator("#challenge-1 [data-check-box]")
        box.get_by_role("button", name="Check my work").click()
        expect(box.locator(".check-result").first).to_be_visible(timeout=30_000)
        box.get_by_role("button", name="Show a hint").click()
        expect(box.locator("[data-check-hints] li")).to_have_count(1)
        width = page.viewport_size["width"]
        for part in ("#step-3 [data-check-box]", "#challenge-1", "#challenge-1 .check-tools"):
            shape = page.locator(part).bounding_box()
            assert shape["x"] >= 0 and shape["x"] + shape["width"] <= width + 1, (part, shape)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        for button in box.locator("button:visible").all():
            assert button.bounding_box()["height"] >= 24  # big enough to press
        SHOTS.mkdir(parents=True, exist_ok=True)
        box.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / f"checks-{request.node.callspec.id}.png"))
    finally:
        context.close()
