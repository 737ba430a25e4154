"""The home page: a way into the lessons and the engine's state, even when it is down."""

import pytest

from engine import client


@pytest.fixture
def engine_down(settings, tmp_path):
    settings.DOCKERLAB_ENGINE_URL = f"unix://{tmp_path}/no-engine.sock"
    client.reset()
    yield
    client.reset()


def test_it_links_to_the_lessons(client, engine_down):
    response = client.get("/")
    assert response.status_code == 200
    assert b'href="/lessons/"' in response.content


def test_it_says_plainly_when_the_engine_is_unreachable(client, engine_down):
    response = client.get("/")
    assert response.status_code == 200
    text = response.content.decode()
    assert 'data-engine="unreachable"' in text
    assert "The Docker engine is not reachable" in text


def test_it_names_missing_lesson_images_and_the_command_that_makes_them(client, monkeypatch):
    status = {
        "reachable": True, "version": "20.10.24", "api_version": "1.41", "message": "",
        "images": [
            {"role": "python", "name": "python:3.12-slim", "state": "kit", "kit": True},
            {"role": "mariadb", "name": "mariadb:11", "state": "missing", "kit": False},
        ],
        "missing": ["mariadb"], "ready": False, "fix": "make kit",
    }
    monkeypatch.setattr("dockerlab.views.engine_status", lambda: status)
    text = client.get("/").content.decode()
    assert "Docker 20.10.24" in text
    assert 'data-images="missing"' in text
    assert "missing: mariadb" in text
    assert "<code>make kit</code>" in text
    assert "ready (classroom kit build)" in text


def test_it_lists_every_lesson_in_order(client, engine_down):
    from lessons.loader import all_lessons

    text = client.get("/").content.decode()
    positions = [text.find(f'href="/lessons/{lesson.slug}/"') for lesson in all_lessons()]
    assert len(positions) == 9
    assert -1 not in positions
    assert positions == sorted(positions)
