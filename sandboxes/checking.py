"""The lab socket's side of checks: what a frame may name, what an action did,
and which steps to check again after it.

Invariants:
- A frame names a lesson, "step" or "challenge", and a 1-based number, all
  checked here against the loaded lessons; never a sandbox or a user. Checks
  run for the socket's own signed-in learner, in their own sandbox
  (lessons.progress finds it from the user).
- `outcome_*` turn what the socket saw (a result, a `*.done` frame, a log
  follow's end, an error) into the `Outcome` the lab history keeps, as
  docs/checks.md's table says.
- Automatic checks are cheap on purpose: every evaluation reaches the engine
  and counts as an attempt. After an action, `affected` picks at most the
  learner's current item (the first checked step or challenge not done yet),
  the step the page says the learner is on, and the first not-done step that
  asks for that action; each only when its checks look at the kind of object
  the action touched (images, containers, ...). Done items are never checked
  again automatically (done stays done).
- `AutoChecks` keeps one learner's automatic checks in this process: at most
  one pass running and one queued; triggers that arrive meanwhile merge into
  the queued one. A pass runs its evaluations in the engine pool
  (sandboxes.workers), one after another, and sends each `check.result` as
  soon as it is known, to the learner's sockets that watch that lesson.
  Sockets served by another server process are not reached; their page
  shows the new state when it reconnects or reloads.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.db import close_old_connections

from engine.client import EngineError
from lessons import loader, progress
from lessons.loader import Lesson
from lessons.progress import ProgressError
from sandboxes import workers
from sandboxes.errors import SandboxError
from sandboxes.runner import Outcome

log = logging.getLogger(__name__)

KINDS = ("step", "challenge")
DONE = "done"
# Items one automatic pass evaluates at most (over every lesson watched).
MAX_ITEMS_PER_PASS = 3
# The last lines of a command run's output kept for the lab history.
OUTPUT_LINES = 40
MAX_OUTPUT = 4000

# --- what a frame names ----------------------------------------------------------


def lesson_named(slug: Any) -> Lesson:
    """The loaded lesson `slug`; ProgressError (not_found) otherwise."""
    lesson = loader.get_lesson(slug) if isinstance(slug, str) else None
    if lesson is None:
        raise ProgressError(f"There is no lesson called {str(slug)[:40]!r}.", "not_found")
    return lesson


def item(slug: Any, kind: Any, number: Any, *, checked: bool = False) -> tuple[str, str, int]:
    """(slug, kind, number) of a step or challenge that exists; ProgressError otherwise.

    With `checked`, the item must also have checks (code `nothing_to_check`).
    """
    lesson = lesson_named(slug)
    if kind not in KINDS:
        raise ProgressError(f"Say step or challenge, not {str(kind)[:20]!r}.", "bad_request")
    items = lesson.steps if kind == "step" else lesson.challenges
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= len(items):
        raise ProgressError(f"{lesson.title} has no {kind} {str(number)[:10]}.", "not_found")
    if checked and not items[number - 1].checks:
        raise ProgressError(
            "This step has nothing to check: read it and go on.", "nothing_to_check"
        )
    return lesson.slug, kind, number


# --- what an action did, for the lab history -----------------------------------------


def outcome_of_done(frame: Mapping[str, Any]) -> Outcome:
    """A build, push, pull or compose up, from its `*.done` frame."""
    detail = {"id": frame["id"]} if frame.get("id") else {}
    if frame.get("ok"):
        return Outcome(True, str(frame.get("image") or ""), detail=detail)
    return Outcome(False, str(frame.get("error") or ""), detail=detail, code="failed")


def outcome_of_exit(exit_code: int, lines: Iterable[str] = ()) -> Outcome:
    """A followed `run` with a command, from the exit code its log follow ended with."""
    output = "\n".join(lines)[-MAX_OUTPUT:]
    return Outcome(exit_code == 0, "", exit_code=exit_code, output=output)


def outcome_of_error(code: str, message: str) -> Outcome:
    """An action the services refused or the engine failed."""
    return Outcome(False, message, code=code)


class KeptLines:
    """The last OUTPUT_LINES lines of a stream (appended from a reader thread)."""

    def __init__(self) -> None:
        self.lines: deque[str] = deque(maxlen=OUTPUT_LINES)

    def keep(self, emits: list) -> list:
        for kind, value in emits:
            if kind == "lines":
                self.lines.extend(value)
        return emits


# --- which items an action may have changed ----------------------------------------

# What each check looks at. An action touches kinds of objects (ACTION_TOUCHES,
# plus its own name, which `action_done` looks at); an item is worth checking
# again when its checks look at something the action touched. A check not
# listed here (a newer one) is taken to look at everything.
CHECK_LOOKS_AT: dict[str, frozenset[str]] = {
    "image_exists": frozenset({"image"}),
    "image_removed": frozenset({"image"}),
    "image_smaller": frozenset({"image"}),
    "image_pushed": frozenset({"image"}),
    "image_pulled": frozenset({"image"}),
    "container_running": frozenset({"container"}),
    "container_stopped": frozenset({"container"}),
    "container_removed": frozenset({"container"}),
    "logs_contain": frozenset({"container", "logs"}),
    "http_answers": frozenset({"container"}),
    "reaches": frozenset({"container"}),
    "compose_up": frozenset({"compose", "container"}),
    "compose_down": frozenset({"compose", "container", "volume"}),
    "command_ran": frozenset({"command"}),
    "quiz_passed": frozenset({"quiz"}),
}
ACTION_TOUCHES: dict[str, frozenset[str]] = {
    "build": frozenset({"image"}),
    "run": frozenset({"container"}),
    "logs": frozenset({"logs"}),
    "stop": frozenset({"container"}),
    "remove": frozenset({"container"}),
    "rmi": frozenset({"image"}),
    "tag": frozenset({"image"}),
    "push": frozenset({"image"}),
    "pull": frozenset({"image"}),
    "inspect": frozenset(),
    "prune": frozenset({"container", "image"}),
    "volume_rm": frozenset({"volume"}),
    "compose": frozenset({"compose", "container", "image", "volume"}),
}
# The steps' `action` each websocket action does (a `run` with a command is the
# command form's).
STEP_ACTIONS: dict[str, frozenset[str]] = {"run": frozenset({"run", "command"})}
EVERYTHING = "*"


@dataclass(frozen=True)
class Trigger:
    """What an action touched, and the step actions it does."""

    touched: frozenset[str]
    step_actions: frozenset[str]

    def merge(self, other: Trigger) -> Trigger:
        return Trigger(self.touched | other.touched, self.step_actions | other.step_actions)


def trigger_for(action: str, args: Mapping[str, Any], *, ran: bool = True) -> Trigger:
    """The trigger of `action` once its outcome is known.

    A `run` with a command has two moments: its container exists at the
    `result` (`ran=False`), and what the command did is known when it exits
    (`ran=True`, which also touches "command", what `command_ran` reads).
    """
    touched = set(ACTION_TOUCHES.get(action, ())) | {action}
    if action == "run" and args.get("command") is not None and ran:
        touched.add("command")
    steps = STEP_ACTIONS.get(action, frozenset({action}))
    return Trigger(frozenset(touched), steps)


def looks_at(checks: Iterable[Any]) -> frozenset[str]:
    """The kinds of object a step's or challenge's checks look at."""
    kinds: set[str] = set()
    for spec in checks:
        if spec.name == "action_done":
            kinds.add(str(spec.params.get("action")))
        else:
            kinds |= CHECK_LOOKS_AT.get(spec.name, frozenset({EVERYTHING}))
    return frozenset(kinds)


def affected(
    lesson: Lesson, summary: Mapping[str, Any], trigger: Trigger, focus: int | None = None
) -> list[tuple[str, int]]:
    """The (kind, number) items of `lesson` worth checking again after `trigger`.

    `summary` is the lesson's entry of progress.progress_for (states by
    item); `focus` the step the page says the learner is on.
    """
    views = {("step", v["number"]): v for v in summary.get("steps", ())}
    views.update({("challenge", v["number"]): v for v in summary.get("challenges", ())})
    open_items = []
    for kind, items in (("step", lesson.steps), ("challenge", lesson.challenges)):
        for number, entry in enumerate(items, 1):
            state = views.get((kind, number), {}).get("state")
            if entry.checks and state != DONE:
                open_items.append((kind, number, entry))
    wanted = {open_items[0][:2]} if open_items else set()
    if focus:
        wanted.add(("step", focus))
    # For each step action the trigger did, the first step not done that asks for it.
    for action in trigger.step_actions:
        for kind, number, entry in open_items:
            if kind == "step" and entry.action == action:
                wanted.add((kind, number))
                break
    chosen = []
    for kind, number, entry in open_items:
        if (kind, number) not in wanted:
            continue
        looks = looks_at(entry.checks)
        if EVERYTHING in looks or looks & trigger.touched:
            chosen.append((kind, number))
    return chosen


# --- running evaluations ----------------------------------------------------------------


def evaluate(user, slug: str, kind: str, number: int) -> dict[str, Any]:
    """Check one item now (blocking: reaches the engine); its Evaluation as a dict.

    Runs in a pool thread, which keeps no database connection past its use.
    """
    close_old_connections()
    try:
        return progress.evaluate_item(user, slug, kind, number).as_dict()
    finally:
        close_old_connections()


async def evaluate_in_pool(user, slug: str, kind: str, number: int) -> dict[str, Any]:
    """`evaluate` in the engine pool, counted against the learner's engine calls."""
    return await workers.engine(user.pk, evaluate, user, slug, kind, number)


def lesson_progress(user, slug: str) -> dict[str, Any]:
    """One lesson's entry of progress.progress_for (database work: call off the loop)."""
    for summary in progress.progress_for(user)["lessons"]:
        if summary["slug"] == slug:
            return summary
    raise ProgressError("There is no such lesson.", "not_found")


async def _load_progress(user) -> dict[str, Any]:
    return await database_sync_to_async(progress.progress_for)(user)


Evaluate = Callable[[Any, str, str, int], Awaitable[dict[str, Any]]]
Load = Callable[[Any], Awaitable[dict[str, Any]]]


class AutoChecks:
    """One learner's automatic checks: one pass running at most, and one queued.

    Sockets register with `watch(socket, slug, focus)`; a socket needs a
    `check_frame(frame)` method. `after(trigger)` asks for a pass; while one
    runs, triggers merge into the single queued one.
    """

    def __init__(self, user, *, evaluate: Evaluate | None = None, load: Load | None = None):
        self.user = user
        self.watchers: dict[Any, tuple[str, int | None]] = {}
        self.running: asyncio.Task | None = None
        self.queued: Trigger | None = None
        self.passes = 0
        self._evaluate = evaluate or evaluate_in_pool
        self._load = load or _load_progress

    def watch(self, socket: Any, slug: str, focus: int | None = None) -> None:
        self.watchers[socket] = (slug, focus)

    def leave(self, socket: Any) -> bool:
        """Forget a socket; True when none is left (then stop())."""
        self.watchers.pop(socket, None)
        return not self.watchers

    def stop(self) -> None:
        self.queued = None
        if self.running is not None:
            self.running.cancel()
            self.running = None

    def after(self, trigger: Trigger) -> None:
        if not self.watchers:
            return
        loop = asyncio.get_running_loop()
        if self.running is not None and self.running.get_loop() is not loop:
            self.running = None  # left over from a loop that has gone (tests)
        if self.running is None:
            self.running = loop.create_task(self._run(trigger))
        elif self.queued is None:
            self.queued = trigger
        else:
            self.queued = self.queued.merge(trigger)

    def deliver(self, slug: str, frame: dict, skip: Any = None) -> None:
        """Send `frame` to this learner's sockets watching lesson `slug`."""
        for socket, (watched, _) in list(self.watchers.items()):
            if watched == slug and socket is not skip:
                socket.check_frame(frame)

    async def _run(self, trigger: Trigger | None) -> None:
        try:
            while trigger is not None and self.watchers:
                try:
                    await self._pass(trigger)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("automatic checks of %s failed", self.user)
                trigger, self.queued = self.queued, None
        finally:
            if self.running is asyncio.current_task():
                self.running = None

    def _targets(self, summaries: Mapping[str, Any], trigger: Trigger) -> list[tuple]:
        targets: list[tuple] = []
        for slug, focus in dict.fromkeys(self.watchers.values()):
            lesson, summary = loader.get_lesson(slug), summaries.get(slug)
            if lesson is None or summary is None:
                continue
            for kind, number in affected(lesson, summary, trigger, focus):
                if (slug, kind, number) not in targets:
                    targets.append((slug, kind, number))
        return targets[:MAX_ITEMS_PER_PASS]

    async def _pass(self, trigger: Trigger) -> None:
        self.passes += 1
        everything = await self._load(self.user)
        summaries = {summary["slug"]: summary for summary in everything["lessons"]}
        for slug, kind, number in self._targets(summaries, trigger):
            try:
                result = await self._evaluate(self.user, slug, kind, number)
            except SandboxError as exc:
                # EvaluationBusy among them: the learner's checks are backed up.
                log.info("automatic check of %s %s %s: %s", slug, kind, number, exc.message)
                return
            except (ProgressError, EngineError) as exc:
                log.info("automatic check of %s %s %s: %s", slug, kind, number, exc)
                continue
            self.deliver(slug, {"type": "check.result", "auto": True, **result})


# Learners' automatic checks in this process, by user pk (all on the event loop).
_learners: dict[Any, AutoChecks] = {}


def watch(user, socket: Any, slug: str, focus: int | None = None) -> AutoChecks:
    checks = _learners.get(user.pk)
    if checks is None:
        checks = _learners[user.pk] = AutoChecks(user)
    checks.watch(socket, slug, focus)
    return checks


def leave(user_pk: Any, socket: Any) -> None:
    checks = _learners.get(user_pk)
    if checks is not None and checks.leave(socket):
        checks.stop()
        del _learners[user_pk]


def after(user_pk: Any, trigger: Trigger) -> None:
    """An action's outcome is known: check again what it may have changed."""
    checks = _learners.get(user_pk)
    if checks is not None:
        checks.after(trigger)


def deliver(user_pk: Any, slug: str, frame: dict, skip: Any = None) -> None:
    checks = _learners.get(user_pk)
    if checks is not None:
        checks.deliver(slug, frame, skip)
