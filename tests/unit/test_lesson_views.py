"""Lesson pages: the index, details, and 404s for unknown or hostile slugs."""

from __future__ import annotations

import builtins
import io
import os

import pytest
from django.utils.html import escape

from lessons import loader

EXPECTED_SLUGS = [
    "containers", "vms-vs-containers", "building-images", "networking", "compose",
    "registries", "commands", "multistage", "orchestration",
]


def test_the_index_lists_all_nine_lessons_in_order(client):
    response = client.get("/lessons/")
    assert response.status_code == 200
    html = response.content.decode()
    positions = [html.index(f'href="/lessons/{slug}/"') for slug in EXPECTED_SLUGS]
    assert positions == sorted(positions)
    for lesson in loader.all_lessons():
        assert lesson.summary in html
        assert lesson.objectives[0] in html


def test_the_home_page_links_to_the_lessons(client):
    assert 'href="/lessons/"' in client.get("/").content.decode()


@pytest.mark.parametrize("slug", EXPECTED_SLUGS)
def test_every_lesson_page_renders(client, slug):
    response = client.get(f"/lessons/{slug}/")
    assert response.status_code == 200
    html = response.content.decode()
    lesson = loader.get_lesson(slug)
    assert f"<h1>{lesson.title}</h1>" in html or lesson.title in html
    assert 'class="lesson-toc"' in html
    assert 'class="codehilite"' in html
    assert "js/lessons.js" in html
    assert "/lessons/pygments.css" in html


def test_a_detail_page_shows_objectives_steps_and_neighbours(client):
    html = client.get("/lessons/networking/").content.decode()
    lesson = loader.get_lesson("networking")
    for objective in lesson.objectives:
        assert objective in html
    for number, step in enumerate(lesson.steps, start=1):
        assert f'id="step-{number}"' in html and escape(step.title) in html
    assert 'rel="prev" href="/lessons/building-images/"' in html
    assert 'rel="next" href="/lessons/compose/"' in html


def test_the_first_and_last_lessons_have_one_neighbour(client):
    first = client.get("/lessons/containers/").content.decode()
    last = client.get("/lessons/orchestration/").content.decode()
    assert 'rel="prev"' not in first and 'rel="next"' in first
    assert 'rel="prev"' in last and 'rel="next"' not in last


def test_a_lesson_with_a_lab_includes_the_lab_panel(client):
    with_lab = client.get("/lessons/building-images/")
    swarm = client.get("/lessons/orchestration/")  # its lab is the classroom swarm's
    for page in (with_lab, swarm):
        assert "sandboxes/_lab_panel.html" in [t.name for t in page.templates]
        assert 'id="lab"' in page.content.decode()


def test_a_lesson_with_a_quiz_shows_a_form_per_question(client):
    html = client.get("/lessons/containers/").content.decode()
    count = len(loader.get_lesson("containers").quiz)
    for number in range(1, count + 1):
        assert f'action="/lessons/containers/quiz/{number}/#quiz-{number}"' in html
    assert "csrfmiddlewaretoken" in html


def test_the_pygments_stylesheet_is_served(client):
    response = client.get("/lessons/pygments.css")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    assert ".codehilite" in response.content.decode()


def test_an_unknown_slug_is_the_sites_404_page(client):
    response = client.get("/lessons/no-such-lesson/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


@pytest.fixture
def filesystem_spy(monkeypatch):
    """Record every path opened or stat'ed; loading lessons at all is a failure."""
    seen: list[str] = []
    real_open, real_stat, real_lstat = builtins.open, os.stat, os.lstat

    def spy_open(file, *args, **kwargs):
        seen.append(str(file))
        return real_open(file, *args, **kwargs)

    def spy_stat(path, *args, **kwargs):
        seen.append(str(path))
        return real_stat(path, *args, **kwargs)

    def spy_lstat(path, *args, **kwargs):
        seen.append(str(path))
        return real_lstat(path, *args, **kwargs)

    def no_loading(*args, **kwargs):
        raise AssertionError("a request must not load lesson files")

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(io, "open", spy_open)
    monkeypatch.setattr(os, "stat", spy_stat)
    monkeypatch.setattr(os, "lstat", spy_lstat)
    monkeypatch.setattr(loader, "load_lessons", no_loading)
    monkeypatch.setattr(loader, "parse_lesson", no_loading)
    return seen


def test_the_filesystem_spy_sees_lesson_file_reads(filesystem_spy):
    next(iter(loader.CONTENT_DIR.glob("*.md"))).read_text()
    assert any("lessons/content" in path for path in filesystem_spy)


@pytest.mark.parametrize(
    "url",
    [
        "/lessons/..%2f..%2fetc%2fpasswd/",
        "/lessons/..%2F..%2Fetc%2Fpasswd/quiz/1/",
        "/lessons/UPPER/",
        "/lessons/a/b/",
        "/lessons/%2e%2e/",
        "/lessons/containers%00/",
        "/lessons/../../etc/passwd",
        "/lessons/" + "a" * 300 + "/",
    ],
)
def test_it_rejects_a_hostile_slug_without_touching_the_filesystem(client, filesystem_spy, url):
    client.get("/lessons/no-such-lesson/")  # warm the template cache
    filesystem_spy.clear()
    response = client.get(url)
    assert response.status_code == 404
    touched = [p for p in filesystem_spy
               if "passwd" in p or "lessons/content" in p or "/sample" in p or "UPPER" in p]
    assert touched == []
