"""The check vocabulary: name -> parameter schema, evaluator and description.

A check is registered once with `define`; a lesson (or later a trainer)
names it with parameters, and `validate` turns that into a `CheckSpec`
whose parameters have passed the schema. Evaluators return a `Verdict`;
`checks.evaluation` turns verdicts into `Result`s under deadlines.

Invariants every evaluator keeps:
- it looks only at the learner's own sandbox (through sandboxes.services,
  which find objects by the sandbox's labels) and at evidence recorded on
  the server (lab history, quiz answers), never at what a page says;
- it changes nothing the learner made (a probe container of its own is
  started, labelled, and removed again);
- it fails rather than passes when it cannot tell (engine down, timeout).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from checks.schema import InvalidCheck, Param, clean_params

if TYPE_CHECKING:
    from checks.context import Context

ENGINE = "engine"  # needs the learner's sandbox on the engine
HISTORY = "history"  # needs the learner's lab history
QUIZ = "quiz"  # needs the learner's quiz answers


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reason: str
    hint: str = ""
    timed_out: bool = False


def passed(reason: str) -> Verdict:
    return Verdict(True, reason)


def failed(reason: str, hint: str = "", *, timed_out: bool = False) -> Verdict:
    return Verdict(False, reason, hint, timed_out)


@dataclass(frozen=True)
class Definition:
    name: str
    summary: str  # what the check is for, for people writing lessons
    params: Mapping[str, Param]
    evaluate: Callable[[Context, dict[str, Any]], Verdict]
    describe: Callable[[dict[str, Any]], str]  # the goal in words, from the parameters
    needs: frozenset[str] = frozenset({ENGINE})
    # Seconds the check may take with these parameters (None: the default).
    budget: Callable[[dict[str, Any]], float] | None = None


@dataclass(frozen=True)
class CheckSpec:
    """A named check with parameters that passed its schema."""

    name: str
    params: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def definition(self) -> Definition:
        return vocabulary()[self.name]

    def describe(self) -> str:
        return self.definition.describe(self.params)

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.name, "with": dict(self.params)}


_VOCABULARY: dict[str, Definition] = {}


def define(
    name: str,
    *,
    summary: str,
    params: Mapping[str, Param],
    describe: Callable[[dict[str, Any]], str],
    needs: frozenset[str] = frozenset({ENGINE}),
    budget: Callable[[dict[str, Any]], float] | None = None,
):
    """Register the decorated function as the evaluator of check `name`."""

    def register(evaluate: Callable[[Context, dict[str, Any]], Verdict]):
        if name in _VOCABULARY:
            raise RuntimeError(f"check {name!r} is defined twice")
        _VOCABULARY[name] = Definition(
            name, summary, dict(params), evaluate, describe, needs, budget
        )
        return evaluate

    return register


def vocabulary() -> dict[str, Definition]:
    """Every defined check by name."""
    import checks.vocabulary  # noqa: F401  (deferred: its modules register on import)

    return _VOCABULARY


def validate(raw: Any, where: str = "check") -> CheckSpec:
    """`{"check": name, "with": {...}}` checked; InvalidCheck names the field at fault."""
    if not isinstance(raw, dict):
        raise InvalidCheck(
            where, "must be a mapping like {check: container_running, with: {name: web}}"
        )
    unknown = sorted(str(key) for key in raw if key not in ("check", "with"))
    if unknown:
        raise InvalidCheck(
            f"{where}.{unknown[0][:40]}", "is not a field of a check (its fields: check, with)"
        )
    name = raw.get("check")
    known = vocabulary()
    if not isinstance(name, str) or name not in known:
        raise InvalidCheck(
            f"{where}.check",
            f"must name a known check (got {str(name)[:40]!r}; known: {', '.join(sorted(known))})",
        )
    params = clean_params(f"{where}.with", known[name].params, raw.get("with"))
    return CheckSpec(name, params)
