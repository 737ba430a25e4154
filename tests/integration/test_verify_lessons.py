"""`manage.py verify_lessons` on the real engine: every lesson's solution passes its checks.

Each lesson runs in a fresh sandbox of its own (removed afterwards); its
checks must all fail on the empty sandbox first. This is how `make test`
keeps lessons from rotting. A broken lesson makes the command fail.
"""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from checks import base
from checks.base import define, passed
from lessons import loader
from lessons.testing import write_lesson

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def _group(slug: str) -> str:
    return "classroom-swarm" if slug == "orchestration" else f"verify-{slug}"


@pytest.mark.parametrize(
    "slug",
    [
        # A lesson each may run in another worker (tests/conftest.py): the
        # orchestration lesson alone takes minutes of swarm updates. It takes
        # its turn with the other tests of the classroom swarm.
        pytest.param(lesson.slug, marks=pytest.mark.xdist_group(_group(lesson.slug)))
        for lesson in loader.load_lessons()
    ],
)
def test_a_lessons_solution_passes_the_checks_that_fail_on_an_empty_sandbox(slug):
    out = io.StringIO()
    try:
        call_command("verify_lessons", lesson=[slug], stdout=out)
    except CommandError as exc:
        pytest.fail(f"{exc}\n{out.getvalue()}")
    text = out.getvalue()
    assert "all failing as they should" in text, text
    assert ", 0 failed" in text.splitlines()[-1], text
    lesson = loader.get_lesson(slug)
    for number, step in enumerate(lesson.steps, 1):
        verdict = "passed" if step.checks else "no checks (not hands-on)"
        assert f" step {number} {step.title!r}: " in text and verdict in text, text
    for number in range(1, len(lesson.challenges) + 1):
        assert f" challenge {number} " in text, text


@pytest.fixture
def broken_lesson(tmp_path):
    define(
        "always_passes",
        summary="a check that proves nothing",
        params={},
        describe=lambda p: "nothing",
        needs=frozenset(),
    )(lambda ctx, p: passed("Nothing to see."))
    write_lesson(
        tmp_path / "content",
        "99-broken.md",
        slug="broken",
        order=99,
        steps=[
            {
                "title": "Fail on purpose",
                "text": "Run `false`.",
                "action": "command",
                "solution": ["docker run --rm python:3.12-slim false"],
                "checks": [{"check": "command_ran", "with": {"command": "false"}}],
            },
            {"title": "Prove nothing", "text": "Nothing.", "checks": [{"check": "always_passes"}]},
        ],
    )
    previous = loader.all_lessons()
    loader.install(loader.load_lessons(tmp_path / "content", root=tmp_path))
    yield
    loader.install(previous)
    base._VOCABULARY.pop("always_passes", None)


def test_a_broken_lesson_fails_the_command_and_says_where(broken_lesson):
    out = io.StringIO()
    with pytest.raises(CommandError, match="2 checks failed"):
        call_command("verify_lessons", stdout=out)
    text = out.getvalue()
    assert (
        "99-broken step 2 check always_passes passes on an empty sandbox: Nothing to see." in text
    )
    assert "99-broken step 1 'Fail on purpose': 1 of 1 check failed" in text
    assert "`false` exited with code 1, not 0." in text
    assert text.splitlines()[-1].startswith("2 passed, 2 failed")


def test_an_unknown_lesson_is_refused():
    with pytest.raises(CommandError, match="No lesson 'nope'"):
        call_command("verify_lessons", lesson=["nope"], stdout=io.StringIO())
