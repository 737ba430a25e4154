"""A trainer's exercise, checked like a lesson file before it is kept or run.

Trainers are trusted more than learners but their text still reaches
learners' pages and the checks still reach the engine, so every field is
checked here, by the editor's form, the admin and again whenever a stored
exercise is read back (`as_item`): a title is one line, instructions are
Markdown of bounded size (rendered with raw HTML escaped, see
classrooms.markdown), checks pass the vocabulary's schema
(checks.base.validate, which names the field at fault), hints are single
lines, and each solution line is one the lab can run
(sandboxes.commands.parse_line). `InvalidExercise` says which field and
why, in words for the trainer; `path` names the exact value
(`checks[1].with.port`, `solution[2]`) so the editor can point at it.

`editor_vocabulary` turns the check vocabulary into what the editor needs to
draw one row per check with a field per parameter.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from checks.base import CheckSpec, validate, vocabulary
from checks.schema import (
    Boolean,
    Choice,
    Env,
    Integer,
    InvalidCheck,
    Labels,
    Names,
    Param,
    SampleDockerfile,
    Seconds,
    Slug,
)
from lessons import loader

MAX_TITLE = 200
MAX_INSTRUCTIONS = 20_000
MAX_HINT = 500
MAX_CHECKS = loader.MAX_CHECKS
MAX_HINTS = loader.MAX_HINTS
MAX_SOLUTION_LINES = loader.MAX_SOLUTION_LINES
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_IN_TEXT = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
)  # tabs and newlines allowed
_PATH = re.compile(r"^checks\[(\d+)\](?:\.(check|with)(?:\.(.+))?|\.(.+))?$")


class InvalidExercise(ValueError):
    """An exercise field that cannot be kept: `field` (the form's), `path`, `message`."""

    def __init__(self, field: str, message: str, path: str = ""):
        super().__init__(message)
        self.field = field
        self.path = path or field
        self.message = message


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def clean_title(title: Any) -> str:
    if not isinstance(title, str) or not title.strip():
        raise InvalidExercise(
            "title", "The title is missing: give the exercise a title."
        )
    title = title.strip()
    if len(title) > MAX_TITLE or _CONTROL.search(title):
        raise InvalidExercise(
            "title", f"The title must be one line of at most {MAX_TITLE} characters."
        )
    return title


def clean_instructions(text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InvalidExercise(
            "instructions",
            "The instructions are missing: say what the learner should do.",
        )
    if len(text) > MAX_INSTRUCTIONS:
        raise InvalidExercise(
            "instructions",
            f"The instructions are too long ({len(text)} characters; at most {MAX_INSTRUCTIONS}).",
        )
    if _CONTROL_IN_TEXT.search(text):
        raise InvalidExercise(
            "instructions", "The instructions contain control characters: remove them."
        )
    return text.replace("\r\n", "\n").strip() + "\n"


def _check_message(index: int, raw: Any, exc: InvalidCheck) -> str:
    name = raw.get("check") if isinstance(raw, dict) else None
    where = f"Check {index + 1}"
    if isinstance(name, str) and name in vocabulary():
        where += f" ({name})"
    match = _PATH.match(exc.field)
    if match is None or match.group(0) == f"checks[{index}]":
        return f"{where}: {exc.problem}"
    part, param, other = match.group(2), match.group(3), match.group(4)
    if part == "check":
        return f"{where}: the check {exc.problem}"
    if part == "with" and param:
        return f"{where}: {param} {exc.problem}"
    if part == "with":
        return f"{where}: its parameters {exc.problem}"
    return f"{where}: {other} {exc.problem}"


def _quiz_lesson(index: int, spec: CheckSpec) -> None:
    """An exercise belongs to no lesson: quiz_passed must name one that has a quiz."""
    path = f"checks[{index}].with.lesson"
    slug = spec.params.get("lesson")
    lesson = loader.get_lesson(slug) if slug else None
    if lesson is None or not lesson.quiz:
        with_quiz = ", ".join(item.slug for item in loader.all_lessons() if item.quiz)
        raise InvalidExercise(
            "checks",
            f"Check {index + 1} (quiz_passed): lesson must name a lesson with a quiz "
            f"({with_quiz}); got {_shown(slug)}",
            path,
        )
    if spec.params.get("min_correct", 0) > len(lesson.quiz):
        raise InvalidExercise(
            "checks",
            f"Check {index + 1} (quiz_passed): min_correct is more than the "
            f"{len(lesson.quiz)} questions of {lesson.slug}'s quiz",
            f"checks[{index}].with.min_correct",
        )


def clean_checks(raw: Any) -> tuple[CheckSpec, ...]:
    """Every check validated against the vocabulary; InvalidExercise names the first fault."""
    if not isinstance(raw, list) or not raw:
        raise InvalidExercise(
            "checks", "Add at least one check: it is how the learner's work is checked."
        )
    if len(raw) > MAX_CHECKS:
        raise InvalidExercise("checks", f"An exercise has at most {MAX_CHECKS} checks.")
    specs = []
    for index, item in enumerate(raw):
        try:
            spec = validate(item, f"checks[{index}]")
        except InvalidCheck as exc:
            raise InvalidExercise(
                "checks", _check_message(index, item, exc), exc.field
            ) from None
        if spec.name == "quiz_passed":
            _quiz_lesson(index, spec)
        specs.append(spec)
    return tuple(specs)


def clean_hints(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list | tuple) or not all(
        isinstance(hint, str) for hint in raw
    ):
        raise InvalidExercise("hints", "Hints must be lines of text.")
    hints = [hint.strip() for hint in raw if hint.strip()]
    if len(hints) > MAX_HINTS:
        raise InvalidExercise("hints", f"An exercise has at most {MAX_HINTS} hints.")
    for index, hint in enumerate(hints):
        if len(hint) > MAX_HINT or _CONTROL.search(hint):
            raise InvalidExercise(
                "hints",
                f"Hint {index + 1} must be one line of at most {MAX_HINT} characters.",
                f"hints[{index}]",
            )
    return tuple(hints)


def clean_solution(raw: Any) -> tuple[str, ...]:
    """Solution lines the lab can run; one message lists every line it cannot."""
    from sandboxes.commands import LineRefused, parse_line  # deferred: reads settings

    if not isinstance(raw, list | tuple) or not all(
        isinstance(line, str) for line in raw
    ):
        raise InvalidExercise("solution", "The solution must be command lines.")
    lines = [line.strip() for line in raw if line.strip()]
    if len(lines) > MAX_SOLUTION_LINES:
        raise InvalidExercise(
            "solution", f"A solution has at most {MAX_SOLUTION_LINES} lines."
        )
    refused = []
    for index, line in enumerate(lines):
        try:
            parse_line(line)
        except LineRefused as exc:
            refused.append((index, line, exc.reason))
    if refused:
        problems = "; ".join(
            f"line {index + 1} ({line[:60]}): {reason}"
            for index, line, reason in refused
        )
        raise InvalidExercise(
            "solution",
            f"The lab cannot run {'this line' if len(refused) == 1 else 'these lines'} "
            f"of the solution: {problems}",
            f"solution[{refused[0][0]}]",
        )
    return tuple(lines)


def clean_exercise(
    title: Any, instructions: Any, checks: Any, hints: Any, solution: Any
) -> dict[str, Any]:
    """Every field of an exercise checked; the values to store (checks as written)."""
    clean_checks(checks)
    return {
        "title": clean_title(title),
        "instructions": clean_instructions(instructions),
        "checks": checks,
        "hints": list(clean_hints(hints)),
        "solution": list(clean_solution(solution)),
    }


def as_item(exercise):
    """A stored exercise as lessons.progress checks it; InvalidExercise if it went bad."""
    from lessons.progress import (
        ExerciseItem,
    )  # deferred: progress imports the check engine

    return ExerciseItem(
        id=exercise.pk,
        title=exercise.title,
        checks=clean_checks(exercise.checks),
        hints=clean_hints(exercise.hints),
        solution=clean_solution(exercise.solution),
    )


# --- the editor's view of the vocabulary ---------------------------------------------


def _param_kind(param: Param) -> dict[str, Any]:
    """How the editor asks for one parameter: its input kind, bounds and choices."""
    if isinstance(param, Integer):  # Port too
        return {"kind": "integer", "min": param.minimum, "max": param.maximum}
    if isinstance(param, Seconds):
        return {"kind": "number", "min": param.minimum, "max": param.maximum}
    if isinstance(param, Boolean):
        return {"kind": "boolean"}
    if isinstance(param, Choice):
        return {"kind": "choice", "choices": list(param.choices)}
    if isinstance(param, SampleDockerfile):
        from sandboxes.commands import sample_dockerfiles  # deferred: reads settings

        return {"kind": "choice", "choices": sorted(sample_dockerfiles())}
    if isinstance(param, Slug):
        return {
            "kind": "choice",
            "choices": [lesson.slug for lesson in loader.all_lessons()],
        }
    if isinstance(param, Names):
        return {"kind": "list"}
    if isinstance(param, Env | Labels):
        return {"kind": "mapping"}
    return {"kind": "text"}


def editor_vocabulary() -> list[dict[str, Any]]:
    """Each check with its parameters, for the editor's rows (JSON-safe)."""
    checks = []
    for name, definition in sorted(vocabulary().items()):
        params = [
            {
                "name": pname,
                "required": param.required,
                "default": param.default,
                "doc": param.doc,
                "wanted": param.wanted(),
                **_param_kind(param),
            }
            for pname, param in definition.params.items()
        ]
        checks.append({"name": name, "summary": definition.summary, "params": params})
    return checks


def describe(specs: Sequence[CheckSpec]) -> list[str]:
    """Each check's goal in words, for the learner's page."""
    return [spec.describe() for spec in specs]
