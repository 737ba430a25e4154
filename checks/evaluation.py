"""Running checks under deadlines: each check, and the whole evaluation, is bounded.

Each check runs in a thread of its own and is waited for until its budget
is spent; one that has not answered by then FAILS with a reason saying it
took too long (a timeout never passes). The thread is left to finish on its
own (engine calls have their own timeouts; a probe removes itself in a
`finally`), and counts against its learner's limit of checks in flight
until it does, so repeated presses cannot pile up work on the server.
When the evaluation's own deadline is spent, the checks not yet run fail
with "not checked in time".
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from django.db import connections

from checks.base import ENGINE, HISTORY, QUIZ, CheckSpec, Verdict, failed
from checks.context import Context
from engine import pool
from engine.client import EngineError
from sandboxes import services
from sandboxes.errors import SandboxError

log = logging.getLogger(__name__)

# Checks of one learner (or in all) still running, abandoned ones included.
MAX_IN_FLIGHT_PER_USER = 4
MAX_IN_FLIGHT = 64
# A check whose budget is spent is waited for this much longer before it is given up.
GRACE = 0.5

_in_flight: dict[Any, int] = {}
_guard = threading.Lock()


class EvaluationBusy(SandboxError):
    """Too many checks of this learner (or of everyone) are still running."""

    code = "busy"


@dataclass(frozen=True)
class Result:
    """One check's outcome, for the learner: what it wanted, and why it passed or not."""

    check: str
    description: str
    passed: bool
    reason: str
    hint: str = ""
    timed_out: bool = False
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_budget() -> float:
    return float(settings.DOCKERLAB_CHECK_SECONDS)


def evaluation_budget() -> float:
    return float(settings.DOCKERLAB_CHECKS_SECONDS)


def budget_of(spec: CheckSpec) -> float:
    definition = spec.definition
    return definition.budget(spec.params) if definition.budget else default_budget()


def needs(specs: Sequence[CheckSpec]) -> frozenset[str]:
    return frozenset().union(*(spec.definition.needs for spec in specs))


def make_context(
    user, specs: Sequence[CheckSpec], *, sandbox=None, lesson: str | None = None
) -> Context:
    """A context with the evidence these checks need loaded (in this thread)."""
    wanted = needs(specs)
    if sandbox is None and wanted & {ENGINE, HISTORY}:
        sandbox = services.sandbox_for(user)
    elif sandbox is not None:
        pool.enter(sandbox.engine)  # its engine (engine/pool.py), as sandbox_for does
    context = Context(user=user, sandbox=sandbox, lesson=lesson)
    if wanted & {HISTORY, QUIZ}:
        from lessons import evidence  # deferred: lessons.progress imports this module

        evidence.load(context, wanted)
    return context


def evaluate(
    specs: Sequence[CheckSpec],
    *,
    user,
    sandbox=None,
    lesson: str | None = None,
    context: Context | None = None,
    seconds: float | None = None,
) -> list[Result]:
    """Evaluate `specs` for `user`, one after another, within `seconds` in all.

    Raises EvaluationBusy when too many of the learner's checks are still
    running (from earlier evaluations that timed out).
    """
    if context is None:
        context = make_context(user, specs, sandbox=sandbox, lesson=lesson)
    key = getattr(user, "pk", None)
    with _guard:
        mine = _in_flight.get(key, 0)
        if mine >= MAX_IN_FLIGHT_PER_USER or sum(_in_flight.values()) >= MAX_IN_FLIGHT:
            raise EvaluationBusy(
                "Earlier checks of your work are still running: wait a moment and check again."
            )
    end = time.monotonic() + (evaluation_budget() if seconds is None else seconds)
    results = []
    for spec in specs:
        left = end - time.monotonic()
        if left <= 0:
            results.append(
                _result(
                    spec,
                    failed(
                        "Not checked: checking your work took too long this time, so this counts as "
                        "not passed yet.",
                        "Check again in a moment.",
                        timed_out=True,
                    ),
                    0.0,
                )
            )
            continue
        results.append(_run_one(spec, context, key, min(budget_of(spec), left)))
    return results


def _result(spec: CheckSpec, verdict: Verdict, seconds: float) -> Result:
    return Result(
        check=spec.name,
        description=spec.describe(),
        passed=verdict.passed,
        reason=verdict.reason,
        hint=verdict.hint,
        timed_out=verdict.timed_out,
        seconds=round(seconds, 3),
    )


def _guarded(spec: CheckSpec, context: Context) -> Verdict:
    try:
        return spec.definition.evaluate(context, spec.params)
    except SandboxError as exc:
        return failed(
            f"The lab could not look at your sandbox: {exc.message}", "Try again in a moment."
        )
    except EngineError as exc:
        return failed(
            f"The lab could not look at your sandbox: {exc.message}", "Try again in a moment."
        )
    except Exception:
        log.exception("check %s failed", spec.name)
        return failed(
            "This check could not be done because of a fault on the server; it has been logged."
        )


def _run_one(spec: CheckSpec, context: Context, key: Any, budget: float) -> Result:
    started = time.monotonic()
    box: dict[str, Verdict] = {}
    done = threading.Event()

    own = context.for_check(started + budget)

    def work() -> None:
        try:
            box["verdict"] = _guarded(spec, own)
        finally:
            done.set()
            with _guard:
                _in_flight[key] = _in_flight.get(key, 1) - 1
                if _in_flight[key] <= 0:
                    del _in_flight[key]
            # Evaluators do not use the database; close what something opened anyway.
            connections.close_all()

    with _guard:
        _in_flight[key] = _in_flight.get(key, 0) + 1
    # In a copy of this context: the check reads the sandbox's engine (engine/pool.py).
    threading.Thread(
        target=contextvars.copy_context().run, args=(work,), name=f"check-{spec.name}",
        daemon=True,
    ).start()
    if not done.wait(budget + GRACE):
        verdict = failed(
            f"This check took longer than {round(budget, 1):g} s and was stopped, so it counts as not "
            "passed.",
            "If your sandbox is busy (a build, a database starting), wait a little and check again.",
            timed_out=True,
        )
    else:
        verdict = box["verdict"]
    return _result(spec, verdict, time.monotonic() - started)
