"""The shipped lessons load, carry what the course promises, and render."""

from __future__ import annotations

import re

import pytest

from lessons import loader, rendering


@pytest.fixture(scope="module")
def lessons():
    return loader.load_lessons()


def test_nine_lessons_ship_in_a_fixed_order(lessons):
    assert [lesson.order for lesson in lessons] == list(range(1, 10))
    assert len({lesson.slug for lesson in lessons}) == 9


def test_the_installed_registry_is_the_shipped_content(lessons):
    assert [lesson.slug for lesson in loader.all_lessons()] == [lesson.slug for lesson in lessons]


@pytest.mark.parametrize("order", range(1, 10))
def test_every_lesson_has_a_quiz_a_time_and_a_recap(lessons, order):
    lesson = lessons[order - 1]
    assert len(lesson.quiz) >= 4
    assert lesson.time and lesson.recap and lesson.troubleshooting
    assert order == 1 or lesson.prerequisites


def test_the_networking_lesson_covers_every_driver_and_the_app_by_name(lessons):
    lesson = next(lesson for lesson in lessons if lesson.slug == "networking")
    for heading in ("### bridge", "### host", "### none", "## User-defined networks"):
        assert heading in lesson.body
    lines = [line for step in lesson.steps for line in step.text.splitlines()]
    assert any("docker network create flask-net" in line for line in lines)
    assert any("--name db --network flask-net" in line for line in lines)
    assert any("MYSQL_HOST=db" in line for line in lines)


def test_the_dockerfile_lesson_offers_the_full_lab(lessons):
    lesson = next(lesson for lesson in lessons if lesson.slug == "building-images")
    assert lesson.lab == ("build", "app", "run", "logs", "open", "stop", "remove")
    assert "sample/flaskapp/Dockerfile" in lesson.includes


def test_every_lesson_has_a_substantial_body(lessons):
    for lesson in lessons:
        words = len(re.findall(r"\w+", lesson.body))
        assert 500 <= words <= 1300, f"{lesson.source} has {words} words"


def test_the_dockerfile_lesson_shows_the_configured_base_image(lessons, settings):
    settings.DOCKERLAB_IMAGES = {"python-build": "classroom-kit/python:3.12", "mariadb": "mariadb:11",
                                 "registry": "registry:2", "python": "python:3.12-slim"}
    lesson = next(lesson for lesson in lessons if lesson.slug == "building-images")
    html = rendering.render_lesson(lesson).body.html
    assert re.search(r'<span class="k">FROM</span><span class="w"> </span>'
                     r'<span class="s">classroom-kit/python:3\.12</span>', html)


def test_every_lesson_renders_with_a_table_of_contents(lessons):
    for lesson in lessons:
        rendered = rendering.render_lesson(lesson)
        assert 'href="#' in rendered.body.toc, lesson.source
        assert "copy-button" in rendered.body.html, lesson.source


def test_the_app_loads_the_lessons_when_the_site_starts():
    from django.apps import apps

    previous = loader.all_lessons()
    loader.install([])
    try:
        apps.get_app_config("lessons").ready()
        assert len(loader.all_lessons()) == 9
    finally:
        loader.install(previous)


def test_the_error_pages_render_on_their_own():
    from django.template.loader import render_to_string

    assert "Something went wrong" in render_to_string("500.html")
    assert "Page not found" in render_to_string("404.html")
