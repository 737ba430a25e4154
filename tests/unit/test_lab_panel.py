"""The lab panel's Dockerfile editor starts from the sample, as it would be built."""

import re

import pytest


@pytest.mark.django_db
def test_the_editor_holds_the_sample_dockerfile_with_the_configured_image(
    client, django_user_model, settings
):
    settings.DOCKERLAB_IMAGES = {
        **settings.DOCKERLAB_IMAGES,
        "python-build": "classroom.local:5000/python:3.11",
    }
    client.force_login(django_user_model.objects.create_user("editor"))
    html = client.get("/lessons/building-images/").content.decode()
    editor = re.search(r"<textarea data-lab-dockerfile[^>]*>(.*?)</textarea>", html, re.S)
    assert editor, "no Dockerfile editor on the lab panel"
    assert editor.group(1).startswith("FROM classroom.local:5000/python:3.11\n")
    assert "COPY requirements.txt ." in editor.group(1)


@pytest.mark.django_db
def test_anonymous_visitors_get_no_editor(client):
    html = client.get("/lessons/building-images/").content.decode()
    assert "data-lab-dockerfile" not in html


@pytest.mark.django_db
def test_the_panel_says_which_lesson_images_are_kit_builds(client, django_user_model, monkeypatch):
    from engine import status

    client.force_login(django_user_model.objects.create_user("kit-notice"))
    monkeypatch.setattr(status, "_kit_cache", [])
    monkeypatch.setattr(status.kit, "image_state", lambda name, timeout=None: (
        status.kit.KIT_BUILT if name.startswith("python") else status.kit.PRESENT
    ))
    html = client.get("/lessons/containers/").content.decode()
    assert "On this server python:3.12-slim, python:3.12 are local builds from Debian" in html
    monkeypatch.setattr(status, "_kit_cache", [])
    monkeypatch.setattr(status.kit, "image_state", lambda name, timeout=None: status.kit.PRESENT)
    assert "data-lab-kit-notice" not in client.get("/lessons/containers/").content.decode()
