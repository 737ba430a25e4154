"""Compose files the lab reads: what it accepts, and what it refuses by name."""

from __future__ import annotations

import time
import tracemalloc

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


# --- what a file costs to read ---------------------------------------------------


def _alias_bomb(levels: int) -> str:
    """Billion laughs: each level is nine aliases of the one before."""
    names = "abcdefghijkl"
    parts = ["&a [lol,lol,lol,lol,lol,lol,lol,lol,lol]"]
    for before, name in zip(names, names[1:levels]):
        parts.append(f"&{name} [" + ",".join([f"*{before}"] * 9) + "]")
    return "services:\n web:\n  image: x\n  environment: [" + ", ".join(parts) + "]\n"


@pytest.mark.parametrize("levels", [9, 10])
def test_an_alias_bomb_is_refused_at_once_with_little_memory(levels):
    text = _alias_bomb(levels)
    assert len(text) < 400  # the whole attack is a few hundred bytes
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(services.BadRequest, match=r"alias \*a .*write the values out"):
            compose.load(text, "flaskapp", services.builds.sample_dir())
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Generous bounds: expanded, nine levels are 387 million values.
    assert elapsed < 2.0
    assert peak < 5 * 1024 * 1024


def test_a_plain_anchor_without_alias_is_harmless_and_accepted():
    text = "services:\n  web: &w\n    image: python:3.12-slim\n"
    project = compose.load(text, "flaskapp", services.builds.sample_dir())
    assert project.services["web"].image == "python:3.12-slim"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("services: " + "[" * 50 + "]" * 50 + "\n", "nested too deeply"),
        ("services: [" + ",".join(["1"] * 3000) + "]\n", "at most 2000 values"),
        ("services:\n  a:\n    image: x\n" + "#" * (17 * 1024), "at most 16 KiB"),
        ("services:\n  a: {image: x, healthcheck: {test: [CMD, x], interval: 1ms}}\n",
         "interval must be from 1s to 10m"),
        ("services:\n  a: {image: x, healthcheck: {test: [CMD, x], timeout: 999ms}}\n",
         "timeout must be from 1s"),
        ("services:\n  a: {image: x, healthcheck: {test: [CMD, x], start_period: 2h}}\n",
         "start_period must be from 1s to 10m"),
        ("services:\n  a: {image: x, healthcheck: {test: [CMD, x], retries: 5000}}\n",
         "retries must be a whole number from 1 to 100"),
        ("services:\n  a: {image: x, healthcheck: {test: [CMD, x], retries: true}}\n",
         "retries must be a whole number"),
        ("services:\n  a: {image: x, healthcheck: {test: [CMD, x], interval: ２s}}\n",
         "not a duration"),
        ("created: 2026-13-45\nservices: {}\n", "cannot be read"),
        ("services:\n  a: {image: x, 1: y, b: z}\n", r"services\.a\.1 is not supported"),
        ("services:\n  a: {image: x, depends_on: {b: {condition: [x]}}}\n", "condition must be"),
        ("services:\n  a: {image: x, volumes: 5}\n", "volumes must be a list"),
    ],
)
def test_limits_of_what_a_file_may_hold_are_named(text, says):
    with pytest.raises(services.BadRequest, match=says):
        compose.load(text, "flaskapp", services.builds.sample_dir())


def test_health_check_timings_within_bounds_are_kept():
    text = (
        "services:\n  a:\n    image: x\n    healthcheck:\n      test: [CMD, x]\n"
        "      interval: 1s\n      timeout: 10m\n      start_period: 1m30s\n      retries: 100\n"
    )
    check = compose.load(text, "flaskapp", services.builds.sample_dir()).services["a"].healthcheck
    assert check["interval"] == 1_000_000_000
    assert check["timeout"] == 600_000_000_000
    assert check["start_period"] == 90_000_000_000
    assert check["retries"] == 100


# --- whatever a learner sends, the answer is BadRequest or a project -------------

_YAMLISH = st.text(
    alphabet=st.sampled_from(list("abcdimnopstvw:-[]{},&*!|>'\"#%@` \n\t0123456789.<=") + ["\x00", "é"]),
    max_size=300,
)
_KEYS = st.sampled_from(
    ["services", "volumes", "name", "image", "build", "ports", "environment", "depends_on",
     "healthcheck", "command", "test", "interval", "retries", "condition", "context",
     "dockerfile", "web", "db", "x"]
)
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
    | _KEYS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS | st.integers(), inner, max_size=4),
    max_leaves=30,
)


def _load(text: str) -> None:
    try:
        compose.load(text, "flaskapp", services.builds.sample_dir())
    except services.BadRequest as exc:
        assert exc.message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_YAMLISH)
def test_any_text_is_read_or_refused_with_our_error(text):
    _load(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_KEYS, _VALUES, max_size=4))
def test_any_structure_is_read_or_refused_with_our_error(data):
    _load(yaml.safe_dump(data))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["web", "db"]), st.dictionaries(_KEYS, _VALUES, max_size=6), max_size=2))
def test_any_services_are_read_or_refused_with_our_error(services_):
    _load(yaml.safe_dump({"services": services_}))
