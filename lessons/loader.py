"""Lesson files: Markdown with YAML front matter, read and validated once.

A lesson is a data file in CONTENT_DIR. Everything about it is checked when it
is loaded (at start-up, from LessonsConfig.ready), so a typo in a lesson stops
the site with a message naming the file and the field instead of surfacing as
a broken page in front of a class. After loading, pages are served from the
in-memory registry only: a request never reaches the filesystem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from checks.base import CheckSpec

REPO_ROOT = Path(__file__).resolve().parent.parent
CONTENT_DIR = REPO_ROOT / "lessons" / "content"

SLUG_RE = re.compile(r"^[0-9a-z-]+$")
# `{!include sample/flaskapp/Dockerfile!}` alone on a line shows that repository
# file as a highlighted code block captioned with its path.
INCLUDE_RE = re.compile(r"^[ \t]*\{!include[ \t]+(?P<path>[^!\s]+)[ \t]*!\}[ \t]*$", re.MULTILINE)
INCLUDE_PREFIX = "sample"
_INCLUDE_PATH_RE = re.compile(r"^sample/[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*$")
MAX_INCLUDE_BYTES = 64 * 1024

# What a step or a lesson's lab panel may ask the sandbox to do.
LAB_ACTIONS = frozenset(
    {
        "build", "run", "command", "images", "logs", "stop", "remove", "open", "rmi", "inspect", "prune",
        "state", "network", "compose", "push", "pull", "tag", "login", "registry",
        "scale", "exec", "history", "restart",
        # The lab's charts and the app.py editor (static/js/lab/panel-*.js).
        "app", "sizes", "timing",
        # The classroom swarm's panel and its actions.
        "swarm", "service", "stack", "node",
    }
)

_FIELDS = {
    "title", "slug", "order", "summary", "objectives", "steps", "quiz", "lab", "challenges",
    "time", "prerequisites", "recap", "troubleshooting",
}
MAX_MINUTES = 600
MAX_RECAP = 12
MAX_TROUBLES = 12
_STEP_FIELDS = {"title", "text", "action", "checks", "hints", "solution"}
_CHALLENGE_FIELDS = {"title", "goal", "hints", "solution", "checks"}
MAX_CHECKS = 12
MAX_HINTS = 8
MAX_SOLUTION_LINES = 20
_REQUIRED = ("title", "slug", "order", "summary", "objectives", "steps")


class LessonError(Exception):
    """A lesson file is missing, malformed or inconsistent with the others."""


@dataclass(frozen=True)
class Step:
    title: str
    text: str
    action: str | None = None
    # What the server checks in the learner's sandbox when they ask "did I do it?".
    checks: tuple[CheckSpec, ...] = ()
    hints: tuple[str, ...] = ()
    # Lab command lines that make the checks pass: the step's `solution`, or
    # else the lines of its text the lab can run, in order.
    solution: tuple[str, ...] = ()


@dataclass(frozen=True)
class Challenge:
    """A goal stated without its command; hints come one at a time, then the solution."""

    title: str
    goal: str
    hints: tuple[str, ...]
    solution: tuple[str, ...]
    checks: tuple[CheckSpec, ...]


@dataclass(frozen=True)
class Question:
    question: str
    options: tuple[str, ...]
    answer: int
    explain: str


@dataclass(frozen=True)
class Trouble:
    """An error a lesson's commands commonly meet, and what to do about it."""

    error: str  # the message as docker prints it (or its start)
    fix: str  # plain text; `backticks` are shown as code


@dataclass(frozen=True)
class Lesson:
    slug: str
    title: str
    order: int
    summary: str
    objectives: tuple[str, ...]
    steps: tuple[Step, ...]
    body: str
    source: str
    quiz: tuple[Question, ...] = ()
    lab: tuple[str, ...] = ()
    challenges: tuple[Challenge, ...] = ()
    # About how long the lesson takes, in minutes (None: not said).
    time: int | None = None
    # Slugs of earlier lessons to do first (checked against the course order).
    prerequisites: tuple[str, ...] = ()
    # What to remember, a line each, shown at the end.
    recap: tuple[str, ...] = ()
    troubleshooting: tuple[Trouble, ...] = ()
    # Repository path -> file text, for every `{!include ...!}` in the lesson.
    includes: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def solution(self) -> tuple[tuple[str, str], ...]:
        """The whole solution: (where, line) for every step's lines, then every challenge's."""
        lines = [
            (f"step {i}", line) for i, step in enumerate(self.steps, 1) for line in step.solution
        ]
        lines += [
            (f"challenge {i}", line)
            for i, challenge in enumerate(self.challenges, 1)
            for line in challenge.solution
        ]
        return tuple(lines)

    @property
    def checked(self) -> bool:
        """Whether anything in the lesson is checked."""
        return any(step.checks for step in self.steps) or bool(self.challenges)


def display_path(path: Path) -> str:
    """A path as a learner or author would type it: relative to the repository."""
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def split_front_matter(text: str, name: str) -> tuple[dict[str, Any], str]:
    """Return (front matter mapping, Markdown body) of one lesson file's text."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise LessonError(f"{name}: must start with a '---' line opening the YAML front matter")
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            break
    else:
        raise LessonError(f"{name}: the front matter is not closed by a '---' line")
    header = "".join(lines[1:index])
    try:
        data = yaml.safe_load(header)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        if mark is not None:
            # The front matter starts on the file's second line.
            raise LessonError(
                f"{name}, line {mark.line + 2}: invalid YAML in the front matter: {problem}"
            ) from None
        raise LessonError(f"{name}: invalid YAML in the front matter: {problem}") from None
    if not isinstance(data, dict):
        raise LessonError(f"{name}: the front matter must be a mapping of fields")
    return data, "".join(lines[index + 1 :])


def _text(name: str, where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise LessonError(f"{name}: front matter field {where} must be a non-empty string")
    return value.strip()


def _integer(name: str, where: str, value: Any) -> int:
    # YAML's `yes` is a bool, and bool is an int in Python: refuse it explicitly.
    if isinstance(value, bool) or not isinstance(value, int):
        raise LessonError(f"{name}: front matter field {where} must be an integer")
    return value


def _list(name: str, where: str, value: Any, *, empty_ok: bool) -> list[Any]:
    if not isinstance(value, list):
        raise LessonError(f"{name}: front matter field {where} must be a list")
    if not value and not empty_ok:
        raise LessonError(f"{name}: front matter field {where} must not be empty")
    return value


def _action(name: str, where: str, value: Any) -> str:
    action = _text(name, where, value)
    if action not in LAB_ACTIONS:
        known = ", ".join(sorted(LAB_ACTIONS))
        raise LessonError(
            f"{name}: front matter field {where} names an unknown lab action "
            f"{action!r} (known: {known})"
        )
    return action


def _mapping(name: str, where: str, value: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise LessonError(f"{name}: front matter field {where} must be a mapping")
    unknown = sorted(str(key) for key in value if key not in allowed)
    if unknown:
        raise LessonError(f"{name}: front matter field {where} has unknown key {unknown[0]!r}")
    return value


def _checks(name: str, where: str, raw: Any) -> tuple[CheckSpec, ...]:
    # Deferred: the check vocabulary reads the sandbox services, loaded with the apps.
    from checks.base import validate
    from checks.schema import InvalidCheck

    items = _list(name, f"'{where}'", raw, empty_ok=False)
    if len(items) > MAX_CHECKS:
        raise LessonError(f"{name}: front matter field '{where}' has more than {MAX_CHECKS} checks")
    specs = []
    for index, item in enumerate(items):
        try:
            specs.append(validate(item, f"{where}[{index}]"))
        except InvalidCheck as exc:
            raise LessonError(f"{name}: front matter field '{exc.field}' {exc.problem}") from None
    return tuple(specs)


def _hints(name: str, where: str, raw: Any) -> tuple[str, ...]:
    items = _list(name, f"'{where}'", raw, empty_ok=False)
    if len(items) > MAX_HINTS:
        raise LessonError(f"{name}: front matter field '{where}' has more than {MAX_HINTS} hints")
    return tuple(_text(name, f"'{where}[{i}]'", hint) for i, hint in enumerate(items))


def _solution(name: str, where: str, raw: Any, *, empty_ok: bool) -> tuple[str, ...]:
    from sandboxes.commands import LineRefused, parse_line

    items = _list(name, f"'{where}'", raw, empty_ok=empty_ok)
    if len(items) > MAX_SOLUTION_LINES:
        raise LessonError(
            f"{name}: front matter field '{where}' has more than {MAX_SOLUTION_LINES} lines"
        )
    lines = []
    for index, item in enumerate(items):
        line = _text(name, f"'{where}[{index}]'", item)
        try:
            parse_line(line)
        except LineRefused as exc:
            raise LessonError(
                f"{name}: front matter field '{where}[{index}]' is not a line the lab can run: "
                f"{exc.reason}"
            ) from None
        lines.append(line)
    return tuple(lines)


def _own_lines(text: str) -> tuple[str, ...]:
    from sandboxes.commands import lab_lines

    return tuple(line.text for line in lab_lines(text))


def _step(name: str, index: int, raw: Any) -> Step:
    where = f"'steps[{index}]'"
    data = _mapping(name, where, raw, _STEP_FIELDS)
    for key in ("title", "text"):
        if key not in data:
            raise LessonError(f"{name}: front matter field 'steps[{index}].{key}' is missing")
    action = data.get("action")
    text = _text(name, f"'steps[{index}].text'", data["text"])
    checks = _checks(name, f"steps[{index}].checks", data["checks"]) if "checks" in data else ()
    if "solution" in data:
        solution = _solution(name, f"steps[{index}].solution", data["solution"], empty_ok=True)
    else:
        solution = _own_lines(text)
    return Step(
        title=_text(name, f"'steps[{index}].title'", data["title"]),
        text=text,
        action=None if action is None else _action(name, f"'steps[{index}].action'", action),
        checks=checks,
        hints=_hints(name, f"steps[{index}].hints", data["hints"]) if "hints" in data else (),
        solution=solution,
    )


def _challenge(name: str, index: int, raw: Any) -> Challenge:
    where = f"challenges[{index}]"
    data = _mapping(name, f"'{where}'", raw, _CHALLENGE_FIELDS)
    for key in sorted(_CHALLENGE_FIELDS):
        if key not in data:
            raise LessonError(f"{name}: front matter field '{where}.{key}' is missing")
    goal = _text(name, f"'{where}.goal'", data["goal"])
    checks = _checks(name, f"{where}.checks", data["checks"])
    solution = _solution(name, f"{where}.solution", data["solution"], empty_ok=True)
    from checks.base import ENGINE, HISTORY

    if not solution and any(spec.definition.needs & {ENGINE, HISTORY} for spec in checks):
        raise LessonError(
            f"{name}: front matter field '{where}.solution' must give the lab lines that make "
            "its checks pass"
        )
    for line in solution:
        if line in goal:
            raise LessonError(
                f"{name}: front matter field '{where}.goal' gives its solution away ({line!r}): "
                "state the goal, not the command"
            )
    return Challenge(
        title=_text(name, f"'{where}.title'", data["title"]),
        goal=goal,
        hints=_hints(name, f"{where}.hints", data["hints"]),
        solution=solution,
        checks=checks,
    )


def _check_quiz_checks(name: str, steps: tuple[Step, ...], challenges: tuple[Challenge, ...],
                       quiz: tuple[Question, ...]) -> None:
    """A `quiz_passed` check without a lesson means this lesson's quiz, which must exist."""
    items = [(f"steps[{i}]", s.checks) for i, s in enumerate(steps)]
    items += [(f"challenges[{i}]", c.checks) for i, c in enumerate(challenges)]
    for where, specs in items:
        for index, spec in enumerate(specs):
            if spec.name != "quiz_passed" or "lesson" in spec.params:
                continue
            if not quiz:
                raise LessonError(
                    f"{name}: front matter field '{where}.checks[{index}]' asks for this "
                    "lesson's quiz, but the lesson has no quiz"
                )
            if spec.params.get("min_correct", 0) > len(quiz):
                raise LessonError(
                    f"{name}: front matter field '{where}.checks[{index}].with.min_correct' is "
                    f"more than the quiz's {len(quiz)} questions"
                )


def _question(name: str, index: int, raw: Any) -> Question:
    where = f"'quiz[{index}]'"
    data = _mapping(name, where, raw, {"question", "options", "answer", "explain"})
    for key in ("question", "options", "answer", "explain"):
        if key not in data:
            raise LessonError(f"{name}: front matter field 'quiz[{index}].{key}' is missing")
    options = _list(name, f"'quiz[{index}].options'", data["options"], empty_ok=False)
    if len(options) < 2:
        raise LessonError(
            f"{name}: front matter field 'quiz[{index}].options' needs at least 2 options"
        )
    options = [_text(name, f"'quiz[{index}].options[{i}]'", o) for i, o in enumerate(options)]
    answer = _integer(name, f"'quiz[{index}].answer'", data["answer"])
    if not 0 <= answer < len(options):
        raise LessonError(
            f"{name}: front matter field 'quiz[{index}].answer' must be an option index "
            f"from 0 to {len(options) - 1}"
        )
    return Question(
        question=_text(name, f"'quiz[{index}].question'", data["question"]),
        options=tuple(options),
        answer=answer,
        explain=_text(name, f"'quiz[{index}].explain'", data["explain"]),
    )


def _time(name: str, value: Any) -> int | None:
    if value is None:
        return None
    minutes = _integer(name, "'time'", value)
    if not 1 <= minutes <= MAX_MINUTES:
        raise LessonError(
            f"{name}: front matter field 'time' must be minutes from 1 to {MAX_MINUTES}"
        )
    return minutes


def _prerequisites(name: str, value: Any) -> tuple[str, ...]:
    items = _list(name, "'prerequisites'", value or [], empty_ok=True)
    slugs = []
    for index, item in enumerate(items):
        if not isinstance(item, str) or not SLUG_RE.match(item):
            raise LessonError(
                f"{name}: front matter field 'prerequisites[{index}]' must be a lesson's slug"
            )
        if item in slugs:
            raise LessonError(
                f"{name}: front matter field 'prerequisites[{index}]' names {item!r} twice"
            )
        slugs.append(item)
    return tuple(slugs)


def _recap(name: str, value: Any) -> tuple[str, ...]:
    items = _list(name, "'recap'", value or [], empty_ok=True)
    if len(items) > MAX_RECAP:
        raise LessonError(f"{name}: front matter field 'recap' has more than {MAX_RECAP} lines")
    return tuple(_text(name, f"'recap[{i}]'", item) for i, item in enumerate(items))


def _troubleshooting(name: str, value: Any) -> tuple[Trouble, ...]:
    items = _list(name, "'troubleshooting'", value or [], empty_ok=True)
    if len(items) > MAX_TROUBLES:
        raise LessonError(
            f"{name}: front matter field 'troubleshooting' has more than {MAX_TROUBLES} entries"
        )
    troubles = []
    for index, item in enumerate(items):
        where = f"'troubleshooting[{index}]'"
        data = _mapping(name, where, item, {"error", "fix"})
        for key in ("error", "fix"):
            if key not in data:
                raise LessonError(
                    f"{name}: front matter field 'troubleshooting[{index}].{key}' is missing"
                )
        troubles.append(
            Trouble(
                error=_text(name, f"'troubleshooting[{index}].error'", data["error"]),
                fix=_text(name, f"'troubleshooting[{index}].fix'", data["fix"]),
            )
        )
    return tuple(troubles)


def _check_prerequisites(lessons: list[Lesson]) -> None:
    """Every prerequisite is a lesson that comes earlier in the course."""
    by_slug = {lesson.slug: lesson for lesson in lessons}
    for lesson in lessons:
        for index, slug in enumerate(lesson.prerequisites):
            other = by_slug.get(slug)
            if other is None:
                raise LessonError(
                    f"{lesson.source}: front matter field 'prerequisites[{index}]' names no "
                    f"lesson ({slug!r})"
                )
            if other.order >= lesson.order:
                raise LessonError(
                    f"{lesson.source}: front matter field 'prerequisites[{index}]' "
                    f"({slug!r}) must come earlier in the course than this lesson"
                )


def _read_include(name: str, rel: str, root: Path) -> str:
    if not _INCLUDE_PATH_RE.match(rel) or ".." in PurePosixPath(rel).parts:
        raise LessonError(
            f"{name}: include path {rel!r} is not allowed (only files under "
            f"{INCLUDE_PREFIX}/ can be included)"
        )
    base = (root / INCLUDE_PREFIX).resolve()
    target = (root / rel).resolve()
    # A symlink inside sample/ must not lead out of it.
    if base not in target.parents:
        raise LessonError(f"{name}: include path {rel!r} leads outside {INCLUDE_PREFIX}/")
    if not target.is_file():
        raise LessonError(f"{name}: include file {rel!r} does not exist")
    if target.stat().st_size > MAX_INCLUDE_BYTES:
        raise LessonError(f"{name}: include file {rel!r} is larger than 64 KiB")
    try:
        return target.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise LessonError(f"{name}: include file {rel!r} is not UTF-8 text") from None


def parse_lesson(text: str, name: str, root: Path = REPO_ROOT) -> Lesson:
    """Validate one lesson file's text; `name` is used in every error message."""
    data, body = split_front_matter(text, name)
    unknown = sorted(str(key) for key in data if key not in _FIELDS)
    if unknown:
        raise LessonError(f"{name}: unknown front matter field {unknown[0]!r}")
    for key in _REQUIRED:
        if key not in data:
            raise LessonError(f"{name}: front matter field {key!r} is missing")
    slug = data["slug"]
    if not isinstance(slug, str) or not SLUG_RE.match(slug):
        raise LessonError(
            f"{name}: front matter field 'slug' must be lowercase letters, digits and "
            f"hyphens (got {slug!r})"
        )
    objectives = _list(name, "'objectives'", data["objectives"], empty_ok=False)
    steps = _list(name, "'steps'", data["steps"], empty_ok=False)
    quiz = _list(name, "'quiz'", data.get("quiz") or [], empty_ok=True)
    lab = _list(name, "'lab'", data.get("lab") or [], empty_ok=True)
    challenges = _list(name, "'challenges'", data.get("challenges") or [], empty_ok=True)
    if not body.strip():
        raise LessonError(f"{name}: the lesson has no Markdown body after the front matter")

    parsed_steps = tuple(_step(name, i, s) for i, s in enumerate(steps))
    parsed_challenges = tuple(_challenge(name, i, c) for i, c in enumerate(challenges))
    parsed_quiz = tuple(_question(name, i, q) for i, q in enumerate(quiz))
    _check_quiz_checks(name, parsed_steps, parsed_challenges, parsed_quiz)
    includes: dict[str, str] = {}
    for chunk in [body, *(s.text for s in parsed_steps)]:
        for match in INCLUDE_RE.finditer(chunk):
            rel = match.group("path")
            if rel not in includes:
                includes[rel] = _read_include(name, rel, root)

    return Lesson(
        slug=slug,
        title=_text(name, "'title'", data["title"]),
        order=_integer(name, "'order'", data["order"]),
        summary=_text(name, "'summary'", data["summary"]),
        objectives=tuple(
            _text(name, f"'objectives[{i}]'", o) for i, o in enumerate(objectives)
        ),
        steps=parsed_steps,
        body=body,
        source=name,
        quiz=parsed_quiz,
        lab=tuple(_action(name, f"'lab[{i}]'", a) for i, a in enumerate(lab)),
        challenges=parsed_challenges,
        time=_time(name, data.get("time")),
        prerequisites=_prerequisites(name, data.get("prerequisites")),
        recap=_recap(name, data.get("recap")),
        troubleshooting=_troubleshooting(name, data.get("troubleshooting")),
        includes=includes,
    )


def load_lessons(directory: Path = CONTENT_DIR, root: Path = REPO_ROOT) -> list[Lesson]:
    """Read and validate every `*.md` in `directory`; return them sorted by order.

    `root` is where include paths (`sample/...`) are resolved from.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise LessonError(f"{display_path(directory)}: lesson directory does not exist")
    lessons: list[Lesson] = []
    by_slug: dict[str, Lesson] = {}
    by_order: dict[int, Lesson] = {}
    for path in sorted(directory.glob("*.md")):
        name = display_path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise LessonError(f"{name}: is not UTF-8 text") from None
        lesson = parse_lesson(text, name, root)
        if lesson.slug in by_slug:
            raise LessonError(
                f"{name}: front matter field 'slug' {lesson.slug!r} is already used by "
                f"{by_slug[lesson.slug].source}"
            )
        if lesson.order in by_order:
            raise LessonError(
                f"{name}: front matter field 'order' {lesson.order} is already used by "
                f"{by_order[lesson.order].source}"
            )
        by_slug[lesson.slug] = by_order[lesson.order] = lesson
        lessons.append(lesson)
    _check_prerequisites(lessons)
    return sorted(lessons, key=lambda lesson: lesson.order)


# The registry the views read. Filled once at start-up by LessonsConfig.ready.
_lessons: list[Lesson] = []
_by_slug: dict[str, Lesson] = {}


def install(lessons: list[Lesson]) -> None:
    """Make `lessons` the ones the site serves (start-up, and tests)."""
    global _lessons, _by_slug
    ordered = sorted(lessons, key=lambda lesson: lesson.order)
    _lessons, _by_slug = ordered, {lesson.slug: lesson for lesson in ordered}


def load(directory: Path = CONTENT_DIR, root: Path = REPO_ROOT) -> list[Lesson]:
    """Load, validate and install the lessons in `directory`."""
    lessons = load_lessons(directory, root)
    install(lessons)
    return lessons


def all_lessons() -> list[Lesson]:
    return list(_lessons)


def get_lesson(slug: str) -> Lesson | None:
    """The installed lesson with this slug; a malformed slug is simply not found."""
    if not isinstance(slug, str) or not SLUG_RE.match(slug):
        return None
    return _by_slug.get(slug)


def prerequisites(lesson: Lesson) -> list[Lesson]:
    """The installed lessons `lesson` names as prerequisites, in course order."""
    found = [_by_slug[slug] for slug in lesson.prerequisites if slug in _by_slug]
    return sorted(found, key=lambda other: other.order)


def neighbours(lesson: Lesson) -> tuple[Lesson | None, Lesson | None]:
    """The lessons before and after `lesson` in course order."""
    index = next((i for i, other in enumerate(_lessons) if other.slug == lesson.slug), None)
    if index is None:
        return None, None
    before = _lessons[index - 1] if index > 0 else None
    after = _lessons[index + 1] if index + 1 < len(_lessons) else None
    return before, after
