"""Dockerfiles are shown and built with the images this deployment configured."""

from engine.images import localize_dockerfile


def test_it_keeps_official_names_when_they_are_configured(settings):
    settings.DOCKERLAB_IMAGES = {"python": "python:3.12-slim", "mariadb": "mariadb:11",
                                 "registry": "registry:2"}
    text = "FROM python:3.12-slim\nRUN echo hi\n"
    assert localize_dockerfile(text) == text


def test_it_rewrites_from_lines_to_the_configured_image(settings):
    settings.DOCKERLAB_IMAGES = {"python": "lab.example:5000/py:3.11", "mariadb": "mariadb:11",
                                 "registry": "registry:2"}
    text = "FROM python:3.12-slim AS build\nRUN pip list\nfrom python:3.12-slim\nFROM build2\n"
    assert localize_dockerfile(text) == (
        "FROM lab.example:5000/py:3.11 AS build\nRUN pip list\n"
        "from lab.example:5000/py:3.11\nFROM build2\n"
    )
