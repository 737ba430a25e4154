"""A trainer's exercise on the real engine: checked in the learner's own sandbox only.

bob (a learner) does the exercise in his sandbox; alice (the trainer) tries
the same checks, which look at HER sandbox: bob's image and container never
count for her, and hers would never count for him. "Done" stays done.
"""

from __future__ import annotations

import pytest

from checks.evaluation import evaluate
from classrooms import roles
from classrooms.models import Exercise
from lessons import history, progress
from lessons.models import Progress
from sandboxes import services
from sandboxes.commands import parse_line
from sandboxes.runner import run_line
from tests.integration.learners import two_learners
from tests.unit.classrooms_helpers import TWO_CHECKS

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture(scope="module")
def pair(django_db_setup, django_db_blocker):
    with two_learners(django_db_blocker, "classes") as (users, sandboxes):
        yield list(zip(users, sandboxes, strict=True))


def _do(learner, line: str) -> None:
    user, sandbox = learner
    for action, outcome in run_line(sandbox, parse_line(line)):
        history.record_action(user, action.action, action.args, outcome, sandbox=sandbox)
        assert outcome.ok, (line, outcome.message)


def test_an_exercise_passes_only_on_the_learners_own_work(pair):
    (alice, alice_box), (bob, bob_box) = pair
    roles.make_trainer(alice)
    made = Exercise.objects.create(
        owner=alice, title="Run the app", instructions="Build and run it.",
        checks=TWO_CHECKS, hints=["Build first."],
        solution=["docker build -t flask-app .", "docker run -d --name web flask-app"],
    )
    item = made.as_item()

    failing = progress.evaluate_exercise(bob, item)
    assert not failing.passed
    reasons = [result.reason for result in failing.results]
    assert "flask-app" in reasons[0] and "no container called web" in reasons[1]
    assert all(result.hint for result in failing.results)

    for line in item.solution:
        _do(pair[1], line)
    passing = progress.evaluate_exercise(bob, item)
    assert passing.passed, [r.reason for r in passing.results]
    row = Progress.objects.get(user=bob, kind="exercise", number=made.pk)
    assert (row.state, row.attempts, row.reason) == ("done", 2, "")

    # The trainer's "Try" looks at her own sandbox: bob's objects are not hers.
    tried = evaluate(item.checks, user=alice)
    assert [result.passed for result in tried] == [False, False]
    assert "no container called web in your sandbox" in tried[1].reason

    # Done stays done when later work removes what passed.
    services.remove_container(bob_box, "web")
    again = progress.evaluate_exercise(bob, item)
    assert not again.passed
    row.refresh_from_db()
    assert row.state == "done" and row.attempts == 3
