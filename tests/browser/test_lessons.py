"""Lesson pages in a real browser: highlighted code, copy buttons, quiz feedback."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_a_lesson_page_shows_highlighted_code(page):
    page.goto("/lessons/building-images/")
    keyword = page.locator(".code-include .codehilite pre span.k", has_text="FROM").first
    expect(keyword).to_be_visible()
    # The Pygments stylesheet is loaded: keywords are coloured, not plain text.
    color = keyword.evaluate("el => getComputedStyle(el).color")
    plain = page.locator(".lesson-body p").first.evaluate("el => getComputedStyle(el).color")
    assert color != plain
    expect(page.locator(".code-include figcaption").first).to_contain_text("sample/flaskapp/")


def test_the_copy_button_copies_the_code_block(page):
    page.goto("/lessons/building-images/")
    block = page.locator(".lesson-body .codehilite").filter(has_text="docker build -t flask-app").first
    button = block.locator(".copy-button")
    expect(button).to_be_visible()
    button.click()
    expect(button).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == block.locator("pre").text_content()
    assert "$ docker build -t flask-app ." in copied


def test_a_quiz_answer_gets_feedback_in_place(page):
    page.goto("/lessons/containers/")
    form = page.locator("#quiz-1")
    form.locator("input[name=answer][value='0']").check()
    form.get_by_role("button", name="Check answer").click()
    expect(form.locator(".quiz-feedback .verdict")).to_have_text("Not quite.")
    expect(form.locator(".quiz-feedback .explanation")).to_contain_text("read-only")

    form.locator("input[name=answer][value='1']").check()
    form.get_by_role("button", name="Check answer").click()
    expect(form.locator(".quiz-feedback .verdict")).to_have_text("Correct.")
    # Answered by the script: the page did not navigate to the form's action.
    assert page.url.endswith("/lessons/containers/")


def test_a_quiz_works_without_javascript(browser, live_server):
    context = browser.new_context(base_url=live_server, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto("/lessons/orchestration/")
        form = page.locator("#quiz-2")
        form.locator("input[name=answer][value='1']").check()
        form.get_by_role("button", name="Check answer").click()
        page.wait_for_url("**/lessons/orchestration/quiz/2/**")
        expect(page.locator("#quiz-2 .quiz-feedback .verdict")).to_have_text("Correct.")
    finally:
        context.close()


def test_a_step_with_a_lab_action_points_to_the_lab(page):
    page.goto("/lessons/building-images/")
    link = page.locator("#step-1 .step-lab-link")
    expect(link).to_have_text("Do this in the lab")
    link.click()
    assert page.url.endswith("#lab")
    # Every lesson has a lab now, the orchestration one too: its lab step links to it.
    page.goto("/lessons/orchestration/")
    expect(page.locator(".step-lab-link")).to_have_count(1)
