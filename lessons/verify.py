"""Running every lesson's solution on the real engine, so no lesson can rot.

For one lesson: a throwaway learner and sandbox are made; every check of
every step and challenge is first evaluated on the EMPTY sandbox and must
fail (a check that passes there proves nothing); then the solution's lines
run in order, recorded in the lab history as the websocket layer records
them, and after each step (and challenge) its checks must pass. Work that
takes a while to settle (a database starting) is given SETTLE seconds, as a
learner would check again after a moment. Afterwards the sandbox's engine
objects and the learner are removed, whatever happened.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model

from checks.base import ENGINE, CheckSpec
from checks.evaluation import Result, evaluate
from lessons import history, progress
from lessons.loader import Lesson
from sandboxes import services
from sandboxes.commands import parse_line
from sandboxes.runner import run_line

SETTLE = 120.0
RETRY = 2.0


@dataclass
class Tally:
    passed: int = 0
    failed: int = 0

    def add(self, other: Tally) -> None:
        self.passed += other.passed
        self.failed += other.failed


def _checks(count: int) -> str:
    return f"{count} check" if count == 1 else f"{count} checks"


def _label(lesson: Lesson) -> str:
    return Path(lesson.source).stem


def _items(lesson: Lesson) -> list[tuple[str, str, tuple[str, ...], tuple[CheckSpec, ...]]]:
    """(where, title, solution lines, checks) of every step, then every challenge."""
    items = [(f"step {i}", s.title, s.solution, s.checks) for i, s in enumerate(lesson.steps, 1)]
    items += [
        (f"challenge {i}", c.title, c.solution, c.checks)
        for i, c in enumerate(lesson.challenges, 1)
    ]
    return items


def _uses_own_quiz(specs: tuple[CheckSpec, ...]) -> bool:
    return any(spec.name == "quiz_passed" and "lesson" not in spec.params for spec in specs)


class Verifier:
    def __init__(
        self,
        lesson: Lesson,
        say: Callable[[str], None],
        verbose: bool = False,
        settle: float = SETTLE,
    ):
        self.lesson = lesson
        self.say = say
        self.verbose = verbose
        self.settle = settle
        self.label = _label(lesson)

    def run(self) -> Tally:
        users = get_user_model()
        user = users.objects.create_user(f"verify-{secrets.token_hex(6)}")
        sandbox = services.sandbox_for(user)
        try:
            tally = self._empty(user, sandbox)
            tally.add(self._solution(user, sandbox))
            return tally
        finally:
            services.remove_objects(sandbox.sid)
            user.delete()

    def _evaluate(self, user, sandbox, specs) -> list[Result]:
        return evaluate(specs, user=user, sandbox=sandbox, lesson=self.lesson.slug)

    def _empty(self, user, sandbox) -> Tally:
        """Every check must fail on the empty sandbox."""
        tally = Tally()
        for where, _, _, specs in _items(self.lesson):
            for spec, result in zip(specs, self._evaluate(user, sandbox, specs), strict=True):
                if result.passed:
                    tally.failed += 1
                    self.say(
                        f"{self.label} {where} check {spec.name} passes on an empty sandbox: "
                        f"{result.reason}"
                    )
                else:
                    tally.passed += 1
                    if self.verbose:
                        self.say(f"    empty: {where} {spec.name}: {result.reason}")
        total = tally.passed + tally.failed
        if total and not tally.failed:
            self.say(f"{self.label} empty sandbox: {_checks(total)}, all failing as they should")
        elif total:
            self.say(
                f"{self.label} empty sandbox: {_checks(total)}, {tally.failed} passing "
                "where none should"
            )
        return tally

    def _solution(self, user, sandbox) -> Tally:
        tally = Tally()
        answered = False
        for where, title, lines, specs in _items(self.lesson):
            if not answered and _uses_own_quiz(specs):
                self._answer_quiz(user)
                answered = True
            for text in lines:
                self._run(user, sandbox, text)
            if not specs:
                self.say(f"{self.label} {where} {title!r}: no checks (not hands-on)")
                continue
            results, seconds = self._settled(user, sandbox, specs)
            bad = [r for r in results if not r.passed]
            tally.passed += len(results) - len(bad)
            tally.failed += len(bad)
            waited = f" (after {seconds:.0f} s)" if seconds >= 1 else ""
            if bad:
                self.say(
                    f"{self.label} {where} {title!r}: {len(bad)} of {_checks(len(results))} "
                    f"failed{waited}"
                )
            else:
                self.say(f"{self.label} {where} {title!r}: {_checks(len(results))} passed{waited}")
            for result in results:
                if self.verbose or not result.passed:
                    mark = "ok  " if result.passed else "FAIL"
                    self.say(f"    {mark} {result.check}: {result.reason}")
        return tally

    def _run(self, user, sandbox, text: str) -> None:
        parsed = parse_line(text)
        for action, outcome in run_line(sandbox, parsed):
            history.record_action(user, action.action, action.args, outcome, sandbox=sandbox)
            if self.verbose or not outcome.ok:
                state = "ok" if outcome.ok else "error"
                self.say(f"    $ {text}  [{action.action}: {state}] {outcome.message}")

    def _settled(self, user, sandbox, specs) -> tuple[list[Result], float]:
        """The checks' results, checked again while engine state may still be settling.

        Recorded evidence (history, quiz) does not change by waiting, so a
        failure that rests on it alone is final at once.
        """
        start = time.monotonic()
        while True:
            results = self._evaluate(user, sandbox, specs)
            waited = time.monotonic() - start
            waiting = [
                spec
                for spec, result in zip(specs, results, strict=True)
                if not result.passed and ENGINE in spec.definition.needs
            ]
            if not waiting or all(r.passed for r in results) or waited >= self.settle:
                return results, waited
            time.sleep(RETRY)

    def _answer_quiz(self, user) -> None:
        for number, question in enumerate(self.lesson.quiz, 1):
            progress.record_quiz(user, self.lesson, number, question.answer)
        self.say(f"{self.label} quiz: answered its {len(self.lesson.quiz)} questions")


def verify(lessons: list[Lesson], say: Callable[[str], None], verbose: bool = False) -> Tally:
    """Verify each lesson in turn; returns the checks that passed and failed in all."""
    total = Tally()
    for lesson in lessons:
        total.add(Verifier(lesson, say, verbose).run())
    return total
