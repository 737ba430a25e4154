"""Compose files the lab reads: what it accepts, and what it refuses by name."""

from __future__ import annotations

import pytest

from sandboxes import services
from sandboxes.services import compose


def test_the_sample_compose_file_is_read_as_the_lesson_describes_it():
    project = compose.sample_project()
    assert project.name == "flaskapp"
    assert [s.name for s in project.order()] == ["db", "web"]
    web, db = project.services["web"], project.services["db"]
    assert web.build == "Dockerfile" and web.image == "flaskapp-web" and web.port == 5002
    assert web.depends == {"db": "service_healthy"}
    assert web.env["MYSQL_HOST"] == "db"
    assert db.image == "mariadb:11" and db.port is None
    assert db.volumes == {"db-data": "/var/lib/mysql"}
    assert db.healthcheck["interval"] == 2_000_000_000
    assert db.healthcheck["retries"] == 30


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("services: [", "not valid YAML"),
        ("services:\n  web:\n    image: python:3.12-slim\n    privileged: true\n", "privileged"),
        ("services:\n  web:\n    image: x\n    volumes: ['/etc:/host']\n", "no folders of the host"),
        ("services:\n  web:\n    build: ../..\n", "context"),
        ("services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n",
         "depend on each other"),
        ("services:\n  a:\n    image: x\n    depends_on: [nope]\n", "no service 'nope'"),
        ("services:\n  a:\n    image: x\n    healthcheck: {test: [CMD, x], interval: soon}\n",
         "duration"),
        ("networks: {}\nservices: {}\n", "networks"),
        ("services: {}\nvolumes: {" + ", ".join(f"v{i}: {{}}" for i in range(6)) + "}\n",
         "at most 5 volumes"),
        ("services:\n" + "".join(f"  s{i}:\n    image: x\n" for i in range(6)), "at most 5 containers"),
        ("services: {}\nvolumes: [a, b]\n", "mapping of volume names"),
    ],
)
def test_a_compose_file_the_lab_cannot_honour_is_refused_by_name(text, says):
    with pytest.raises(services.BadRequest, match=says):
        compose.load(text, "flaskapp", services.builds.sample_dir())
