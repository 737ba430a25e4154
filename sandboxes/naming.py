"""Learner-facing names and their namespaced forms on the shared engine.

A learner types `flask-app:v2` and `web`; the engine holds
`dl-<sid>/flask-app:v2` and `dl-<sid>-web`. Names are checked against a small
allow-list before they go anywhere near the engine, so a slash, a colon too
many, upper case or shell punctuation can never reach another sandbox's
objects. Everything shown back drops the prefix again.
"""

from __future__ import annotations

import re
import secrets

from sandboxes.errors import InvalidName

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
SID_RE = re.compile(r"^[0-9a-f]{10}$")
DEFAULT_TAG = "latest"
# Longest image reference a learner may type: name, colon, tag.
MAX_REF = 63 + 1 + 128

_NAME_RULE = (
    "lowercase letters, digits and . _ - (starting with a letter or digit, "
    "at most 63 characters)"
)


def _shown(value: str) -> str:
    """The value quoted for a message, cut short so a huge input stays readable."""
    text = value if len(value) <= 40 else value[:37] + "..."
    return repr(text)


def new_sid() -> str:
    """A fresh sandbox id: 10 lowercase hex characters."""
    return secrets.token_hex(5)


def check_sid(sid: str) -> str:
    if not isinstance(sid, str) or not SID_RE.match(sid):
        raise InvalidName(f"{_shown(str(sid))} is not a sandbox id.")
    return sid


def parse_image(ref: str) -> tuple[str, str]:
    """`flask-app` -> ("flask-app", "latest"); `flask-app:v2` -> ("flask-app", "v2")."""
    if not isinstance(ref, str) or not ref:
        raise InvalidName("Give an image name, like flask-app or flask-app:v2.")
    if len(ref) > MAX_REF:
        raise InvalidName(f"The image name {_shown(ref)} is too long.")
    name, sep, tag = ref.partition(":")
    if not sep:
        tag = DEFAULT_TAG
    if "/" in name:
        raise InvalidName(
            f"The image name {_shown(ref)} has a '/': in this lab images are named "
            f"without a registry or user part, using {_NAME_RULE}."
        )
    if not NAME_RE.match(name):
        raise InvalidName(
            f"The image name {_shown(ref)} is not allowed: use {_NAME_RULE}."
        )
    if not TAG_RE.match(tag):
        raise InvalidName(
            f"The tag in {_shown(ref)} is not allowed: a tag uses letters, digits "
            "and . _ - (at most 128 characters, not starting with . or -)."
        )
    return name, tag


def image_ref(ref: str) -> str:
    """The learner's reference in its full `name:tag` form (validated)."""
    name, tag = parse_image(ref)
    return f"{name}:{tag}"


def check_container_name(name: str) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidName("Give a container name, like web.")
    if not NAME_RE.match(name):
        raise InvalidName(
            f"The container name {_shown(name)} is not allowed: use {_NAME_RULE}."
        )
    return name


def image_prefix(sid: str) -> str:
    return f"dl-{check_sid(sid)}/"


def container_prefix(sid: str) -> str:
    return f"dl-{check_sid(sid)}-"


def network_name(sid: str) -> str:
    return f"dl-{check_sid(sid)}-net"


def engine_image(sid: str, ref: str) -> str:
    """`flask-app:v2` -> `dl-<sid>/flask-app:v2` (validated)."""
    return image_prefix(sid) + image_ref(ref)


def engine_container(sid: str, name: str) -> str:
    """`web` -> `dl-<sid>-web` (validated)."""
    return container_prefix(sid) + check_container_name(name)


def learner_image(sid: str, engine_ref: str) -> str | None:
    """The learner's name for an engine image reference, None if not this sandbox's."""
    prefix = image_prefix(sid)
    if engine_ref.startswith(prefix):
        return engine_ref[len(prefix) :]
    return None


def learner_container(sid: str, engine_name: str) -> str | None:
    """The learner's name for an engine container name ("/dl-<sid>-web" -> "web")."""
    prefix = container_prefix(sid)
    name = engine_name.lstrip("/")
    if name.startswith(prefix):
        return name[len(prefix) :]
    return None


def strip(sid: str, text: str) -> str:
    """Text from the engine with this sandbox's prefixes removed."""
    return text.replace(image_prefix(sid), "").replace(container_prefix(sid), "")


def auto_container_name(image: str) -> str:
    """A fresh container name from an image (`flask-app:v2` -> `flask-app-3fa9`)."""
    base = image.partition(":")[0].rsplit("/", 1)[-1]
    base = re.sub(r"[^a-z0-9_.-]", "-", base.lower()).strip("-._")[:50] or "box"
    return f"{base}-{secrets.token_hex(2)}"
