"""Learner-facing names and their namespaced forms on the shared engine.

A learner types `flask-app:v2` and `web`; the engine holds
`dl-<sid>/flask-app:v2` and `dl-<sid>-web`. Names are checked against a small
allow-list before they go anywhere near the engine, so a slash, a colon too
many, upper case or shell punctuation can never reach another sandbox's
objects. Everything shown back drops the prefix again.

The one registry part allowed is a registry of the learner's own on this
machine, `127.0.0.1:5000/flask-app:v1` (or `localhost:5000/...`); the engine
holds that as `dl-<sid>/127.0.0.1-5000/flask-app:v1`.
"""

from __future__ import annotations

import re
import secrets

from sandboxes.errors import InvalidName

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
SID_RE = re.compile(r"^[0-9a-f]{10}$")
DEFAULT_TAG = "latest"
# Longest image reference a learner may type: registry, name, colon, tag.
MAX_REF = len("127.0.0.1:65535/") + 63 + 1 + 128
# A registry of the learner's own, published on this machine's loopback.
REGISTRY_RE = re.compile(r"^(127\.0\.0\.1|localhost):([1-9][0-9]{0,4})/(.*)$", re.S)
_ENGINE_REGISTRY_RE = re.compile(r"^(127\.0\.0\.1|localhost)-([1-9][0-9]{0,4})/(.*)$", re.S)

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
    whole, registry = ref, ""
    found = REGISTRY_RE.match(ref)
    if found:
        if int(found.group(2)) > 65535:
            raise InvalidName(f"The registry port in {_shown(whole)} is not a port number.")
        registry = f"{found.group(1)}:{found.group(2)}/"
        ref = found.group(3)
    name, sep, tag = ref.partition(":")
    if not sep:
        tag = DEFAULT_TAG
    if "/" in name:
        raise InvalidName(
            f"The image name {_shown(whole)} has a '/' too many: in this lab images are "
            f"named {_NAME_RULE}, with at most a registry of your own in front "
            "(127.0.0.1:5000/flask-app)."
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
    return registry + name, tag


def registry_of(ref: str) -> tuple[str, int] | None:
    """("127.0.0.1", 5000) for `127.0.0.1:5000/flask-app`, None without a registry part."""
    name, _ = parse_image(ref)
    found = REGISTRY_RE.match(name)
    return (found.group(1), int(found.group(2))) if found else None


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
    """`flask-app:v2` -> `dl-<sid>/flask-app:v2` (validated).

    `127.0.0.1:5000/flask-app:v1` -> `dl-<sid>/127.0.0.1-5000/flask-app:v1`.
    """
    full = image_ref(ref)
    found = REGISTRY_RE.match(full)
    if found:
        full = f"{found.group(1)}-{found.group(2)}/{found.group(3)}"
    return image_prefix(sid) + full


def engine_container(sid: str, name: str) -> str:
    """`web` -> `dl-<sid>-web` (validated)."""
    return container_prefix(sid) + check_container_name(name)


def learner_image(sid: str, engine_ref: str) -> str | None:
    """The learner's name for an engine image reference, None if not this sandbox's."""
    prefix = image_prefix(sid)
    if not engine_ref.startswith(prefix):
        return None
    rest = engine_ref[len(prefix) :]
    found = _ENGINE_REGISTRY_RE.match(rest)
    if found:
        return f"{found.group(1)}:{found.group(2)}/{found.group(3)}"
    return rest


def learner_container(sid: str, engine_name: str) -> str | None:
    """The learner's name for an engine container name ("/dl-<sid>-web" -> "web")."""
    prefix = container_prefix(sid)
    name = engine_name.lstrip("/")
    if name.startswith(prefix):
        return name[len(prefix) :]
    return None


def strip(sid: str, text: str) -> str:
    """Text from the engine with this sandbox's prefixes removed."""
    text = re.sub(
        re.escape(image_prefix(sid)) + r"(127\.0\.0\.1|localhost)-([1-9][0-9]{0,4})/",
        r"\1:\2/",
        text,
    )
    return text.replace(image_prefix(sid), "").replace(container_prefix(sid), "")


def auto_container_name(image: str) -> str:
    """A fresh container name from an image (`flask-app:v2` -> `flask-app-3fa9`)."""
    base = image.partition(":")[0].rsplit("/", 1)[-1]
    base = re.sub(r"[^a-z0-9_.-]", "-", base.lower()).strip("-._")[:50] or "box"
    return f"{base}-{secrets.token_hex(2)}"
