"""Parameter schemas of checks: types, limits, and messages that name the field.

Check parameters come from lesson files today and from trainers tomorrow, so
they are treated like any untrusted input: every value is checked against
its parameter's kind before a check may run, unknown parameters are refused,
and an error names the field (`steps[2].checks[0].with.port`) and says what
is wanted. Nothing here touches the engine or the database.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sandboxes import naming
from sandboxes.errors import InvalidName

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
_LABEL_KEY = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}\Z")
# An HTTP path as it goes on the request line: RFC 3986 characters only.
_HTTP_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]{0,255}\Z")
_SLUG = re.compile(r"^[0-9a-z-]{1,64}\Z")
_SAMPLE_FILE = re.compile(r"^Dockerfile[A-Za-z0-9._-]{0,40}\Z")


class InvalidCheck(ValueError):
    """A check or one of its parameters is unusable; `field` says which, `problem` why."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field} {problem}")
        self.field = field
        self.problem = problem


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True)
class Param:
    """One parameter: its kind (checked by `clean`), whether required, its default."""

    required: bool = False
    default: Any = None
    doc: str = ""

    def clean(self, value: Any) -> Any:  # pragma: no cover - every kind overrides it
        raise NotImplementedError

    def wanted(self) -> str:
        """What a good value looks like, for messages and the vocabulary's docs."""
        return "a value"

    def fail(self, value: Any, extra: str = "") -> ValueError:
        return ValueError(f"must be {self.wanted()}{extra} (got {_shown(value)})")


@dataclass(frozen=True)
class Text(Param):
    max_chars: int = 200

    def wanted(self) -> str:
        return f"one line of text of 1 to {self.max_chars} characters"

    def clean(self, value: Any) -> str:
        if not isinstance(value, str) or not value or len(value) > self.max_chars:
            raise self.fail(value)
        if _CONTROL.search(value):
            raise self.fail(value, ", without control characters or line breaks")
        return value


@dataclass(frozen=True)
class Integer(Param):
    minimum: int = 0
    maximum: int = 1_000_000

    def wanted(self) -> str:
        return f"a whole number from {self.minimum} to {self.maximum}"

    def clean(self, value: Any) -> int:
        # YAML's `yes` is a bool, and bool is an int in Python: refuse it explicitly.
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(value)
        if not self.minimum <= value <= self.maximum:
            raise self.fail(value)
        return value


@dataclass(frozen=True)
class Port(Integer):
    minimum: int = 1
    maximum: int = 65535

    def wanted(self) -> str:
        return "a port number from 1 to 65535"


@dataclass(frozen=True)
class Seconds(Param):
    minimum: float = 0.5
    maximum: float = 30.0

    def wanted(self) -> str:
        return f"a number of seconds from {self.minimum:g} to {self.maximum:g}"

    def clean(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(value)
        if not math.isfinite(value) or not self.minimum <= value <= self.maximum:
            raise self.fail(value)
        return float(value)


@dataclass(frozen=True)
class Boolean(Param):
    def wanted(self) -> str:
        return "true or false"

    def clean(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.fail(value)
        return value


@dataclass(frozen=True)
class Choice(Param):
    choices: tuple[str, ...] = ()

    def wanted(self) -> str:
        return "one of " + ", ".join(self.choices)

    def clean(self, value: Any) -> str:
        if not isinstance(value, str) or value not in self.choices:
            raise self.fail(value)
        return value


@dataclass(frozen=True)
class ContainerName(Param):
    def wanted(self) -> str:
        return "a container name (lowercase letters, digits and . _ -, at most 63 characters)"

    def clean(self, value: Any) -> str:
        # naming's patterns end in `$`, which lets one trailing newline through.
        if not isinstance(value, str) or _CONTROL.search(value):
            raise self.fail(value)
        try:
            return naming.check_container_name(value)
        except InvalidName:
            raise self.fail(value) from None


@dataclass(frozen=True)
class Image(Param):
    registry: bool = False  # the image must name a registry of the learner's own

    def wanted(self) -> str:
        if self.registry:
            return "an image in a registry of your own, like 127.0.0.1:5000/flask-app:v1"
        return "an image name like flask-app or flask-app:v2"

    def clean(self, value: Any) -> str:
        if not isinstance(value, str) or _CONTROL.search(value):
            raise self.fail(value)
        try:
            ref = naming.image_ref(value)
        except InvalidName:
            raise self.fail(value) from None
        if self.registry and naming.registry_of(ref) is None:
            raise self.fail(value)
        return ref


@dataclass(frozen=True)
class Names(Param):
    """A list of container or service names."""

    max_items: int = 8

    def wanted(self) -> str:
        return f"a list of 1 to {self.max_items} different names (lowercase letters, digits, . _ -)"

    def clean(self, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not 1 <= len(value) <= self.max_items:
            raise self.fail(value)
        if not all(
            isinstance(item, str) and not _CONTROL.search(item) and naming.NAME_RE.match(item)
            for item in value
        ):
            raise self.fail(value)
        if len(set(value)) != len(value):
            raise self.fail(value, ", each once")
        return tuple(value)


@dataclass(frozen=True)
class Env(Param):
    """Environment variables: NAME: value."""

    max_items: int = 16

    def wanted(self) -> str:
        return f"a mapping of 1 to {self.max_items} variables, NAME: value"

    def clean(self, value: Any) -> dict[str, str]:
        if not isinstance(value, dict) or not 1 <= len(value) <= self.max_items:
            raise self.fail(value)
        cleaned = {}
        for key, item in value.items():
            if not isinstance(key, str) or not _ENV_NAME.match(key):
                raise ValueError(f"has {_shown(key)}, which is not a variable name")
            if isinstance(item, bool) or not isinstance(item, str | int):
                raise ValueError(f"{key} must be text")
            item = str(item)
            if len(item) > 256 or _CONTROL.search(item):
                raise ValueError(f"{key} must be one line of at most 256 characters")
            cleaned[key] = item
        return cleaned


@dataclass(frozen=True)
class Labels(Param):
    max_items: int = 8

    def wanted(self) -> str:
        return f"a mapping of 1 to {self.max_items} labels, key: value"

    def clean(self, value: Any) -> dict[str, str]:
        if not isinstance(value, dict) or not 1 <= len(value) <= self.max_items:
            raise self.fail(value)
        cleaned = {}
        for key, item in value.items():
            if not isinstance(key, str) or not _LABEL_KEY.match(key):
                raise ValueError(f"has {_shown(key)}, which is not a label key")
            if not isinstance(item, str) or len(item) > 256 or _CONTROL.search(item):
                raise ValueError(f"{key} must be one line of at most 256 characters")
            cleaned[key] = item
        return cleaned


@dataclass(frozen=True)
class HttpPath(Param):
    def wanted(self) -> str:
        return "a path starting with / (at most 256 characters, no spaces)"

    def clean(self, value: Any) -> str:
        if not isinstance(value, str) or not _HTTP_PATH.match(value):
            raise self.fail(value)
        return value


@dataclass(frozen=True)
class Slug(Param):
    def wanted(self) -> str:
        return "a lesson slug (lowercase letters, digits, hyphens)"

    def clean(self, value: Any) -> str:
        if not isinstance(value, str) or not _SLUG.match(value):
            raise self.fail(value)
        return value


@dataclass(frozen=True)
class SampleDockerfile(Param):
    def wanted(self) -> str:
        return "the name of one of the sample app's Dockerfiles"

    def clean(self, value: Any) -> str:
        from sandboxes.commands import sample_dockerfiles  # deferred: reads settings

        known = sample_dockerfiles()
        if not isinstance(value, str) or not _SAMPLE_FILE.match(value) or value not in known:
            raise self.fail(value, f": {', '.join(sorted(known))}")
        return value


def clean_params(where: str, schema: Mapping[str, Param], raw: Any) -> dict[str, Any]:
    """Check `raw` against `schema`; defaults filled in. InvalidCheck names the field."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidCheck(where, "must be a mapping of parameters")
    unknown = sorted(str(key) for key in raw if key not in schema)
    if unknown:
        known = ", ".join(schema) or "none"
        raise InvalidCheck(
            f"{where}.{unknown[0][:40]}",
            f"is not a parameter of this check (its parameters: {known})",
        )
    cleaned: dict[str, Any] = {}
    for name, param in schema.items():
        if name not in raw or raw[name] is None:
            if param.required:
                raise InvalidCheck(f"{where}.{name}", f"is missing: it must be {param.wanted()}")
            if param.default is not None:
                cleaned[name] = param.default
            continue
        try:
            cleaned[name] = param.clean(raw[name])
        except ValueError as exc:
            raise InvalidCheck(f"{where}.{name}", str(exc)) from None
    return cleaned
