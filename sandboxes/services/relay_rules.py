"""What the registry relay passes between the engine and a learner's registry.

Pure decisions, no sockets (sandboxes/services/relay.py runs them): which
engine requests map onto which requests of the learner's registry
(`route`), which request and answer headers pass and in what form
(`upstream_headers`, `answer_headers`, `rewrite_location`), error bodies
re-made from our parse (`error_body`), and what a pull may take back
(`vet_manifest`, `vet_config`). Each refusal is a `Refused` whose message
is written for the learner.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from email.message import Message
from urllib.parse import parse_qsl, urlencode, urlsplit

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_UUID_RE = re.compile(r"^[A-Za-z0-9_.=-]{1,128}$")
_STATE_RE = re.compile(r"^[A-Za-z0-9_.=+/-]{1,4096}$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_RANGE_RE = re.compile(r"^(?:bytes=)?[0-9]{1,19}-[0-9]{1,19}$")
_CONTENT_RANGE_RE = re.compile(r"^(?:bytes )?[0-9]{1,19}-[0-9]{1,19}(?:/(?:[0-9]{1,19}|\*))?$")
_MEDIA_RE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]{1,127}/[A-Za-z0-9!#$&^_.+-]{1,127}$")
_ACCEPT_RE = re.compile(r"^[A-Za-z0-9!#$&^_.+*/,;= -]{1,2048}$")
_BASIC_RE = re.compile(r"^Basic [A-Za-z0-9+/=]{1,1024}$")
# The engine-side repository of one relayed push or pull: the sandbox and the
# relay's deadline (unix seconds) are in it, so a name left behind by a crash
# says whose it was and when it went stale (see registry.remove_stale_names).
RELAY_REPOSITORY_RE = re.compile(r"^dl-relay-([0-9a-f]{10})-([0-9]{10})/")

MANIFEST_TYPES = {
    "application/vnd.docker.distribution.manifest.v2+json": (
        "application/vnd.docker.container.image.v1+json",
        frozenset({"application/vnd.docker.image.rootfs.diff.tar.gzip"}),
    ),
    "application/vnd.oci.image.manifest.v1+json": (
        "application/vnd.oci.image.config.v1+json",
        frozenset(
            {
                "application/vnd.oci.image.layer.v1.tar+gzip",
                "application/vnd.oci.image.layer.v1.tar",
            }
        ),
    ),
}
LIST_TYPES = frozenset(
    {
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.index.v1+json",
    }
)
# Error codes of the registry protocol passed on by name; others become UNKNOWN.
ERROR_CODES = frozenset(
    {
        "BLOB_UNKNOWN",
        "BLOB_UPLOAD_INVALID",
        "BLOB_UPLOAD_UNKNOWN",
        "DIGEST_INVALID",
        "MANIFEST_BLOB_UNKNOWN",
        "MANIFEST_INVALID",
        "MANIFEST_UNKNOWN",
        "NAME_INVALID",
        "NAME_UNKNOWN",
        "SIZE_INVALID",
        "TAG_INVALID",
        "UNAUTHORIZED",
        "DENIED",
        "UNSUPPORTED",
        "TOOMANYREQUESTS",
        "UNKNOWN",
    }
)

MAX_LAYERS = 127

# Which requests each operation relays: {route kind: methods}.
_METHODS = {
    "push": {
        "base": {"GET", "HEAD"},
        "blob": {"HEAD"},
        "upload_start": {"POST"},
        "upload": {"GET", "PATCH", "PUT", "DELETE"},
        "manifest": {"PUT"},
    },
    "pull": {"base": {"GET", "HEAD"}, "blob": {"GET"}, "manifest": {"GET", "HEAD"}},
}
# Query parameters passed upstream, by route kind (the rest, like a
# cross-repository mount's `from`, is dropped: the registry then does a plain upload).
_QUERY = {"upload_start": {"digest"}, "upload": {"_state", "digest"}}


class Refused(Exception):
    """The learner's registry answered something the lab does not pass on."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotRelayed(Exception):
    """A request outside the registry API of the image being moved (a 404 of ours)."""


def _quoted(text: str, limit: int = 120) -> str:
    """Learner text for a message: printable, cut short, quoted."""
    text = "".join(ch if ch.isprintable() else "?" for ch in str(text))
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def relay_repository(sid: str, expires: int, repository: str) -> str:
    """The engine-side repository of one relayed operation."""
    return f"dl-relay-{sid}-{expires:010d}/{repository}"


@dataclass(frozen=True)
class Operation:
    """What one relay is for. `shown` is the learner's image name, for messages."""

    kind: str  # "push" or "pull"
    sid: str
    repository: str  # the name in the learner's registry: "flask-app"
    tag: str
    shown: str  # "127.0.0.1:5000/flask-app:v1"
    owned: frozenset[str] = frozenset()  # image ids the sandbox owns (a pull's test)
    max_bytes: int = 2 * 1024**3
    seconds: float = 600.0


@dataclass(frozen=True)
class Route:
    """One engine request mapped onto the learner's registry."""

    kind: str  # base, blob, upload_start, upload, manifest
    upstream: str  # path and query on the learner's registry
    digest: str | None = None
    reference: str | None = None


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int

    def as_json(self) -> dict:
        return {"mediaType": self.media_type, "size": self.size, "digest": self.digest}


@dataclass(frozen=True)
class Manifest:
    """A vetted image manifest; `body()` is our own re-emission of it."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]

    def body(self) -> bytes:
        doc = {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "config": self.config.as_json(),
            "layers": [layer.as_json() for layer in self.layers],
        }
        # The engine's own layout (Go's MarshalIndent, three spaces), so an
        # image the engine pushed comes back under the digest the push showed.
        return json.dumps(doc, indent=3).encode()

    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.body()).hexdigest()


def _query(kind: str, query: str) -> str:
    kept = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in _QUERY.get(kind, ()):
            continue
        pattern = DIGEST_RE if key == "digest" else _STATE_RE
        if not pattern.match(value):
            raise NotRelayed(f"bad {key}")
        kept.append((key, value))
    return "?" + urlencode(kept) if kept else ""


def _rest_kind(rest: str, tag: str) -> tuple[str, str | None, str | None]:
    """(route kind, digest, reference) of a path after `/v2/<repository>/`."""
    if rest == "blobs/uploads/":
        return "upload_start", None, None
    if rest.startswith("blobs/uploads/") and _UUID_RE.match(rest[len("blobs/uploads/") :]):
        return "upload", None, None
    if rest.startswith("blobs/") and DIGEST_RE.match(rest[len("blobs/") :]):
        return "blob", rest[len("blobs/") :], None
    if rest.startswith("manifests/"):
        reference = rest[len("manifests/") :]
        # The tag being moved, or a digest (a pull asks again by the digest of
        # the manifest it got: the relay answers that from its own copy).
        if reference == tag and _TAG_RE.match(reference):
            return "manifest", None, reference
        if DIGEST_RE.match(reference):
            return "manifest", reference, reference
    raise NotRelayed(rest)


def route(op: Operation, engine_repository: str, method: str, target: str) -> Route:
    """Map an engine request (method, request target) onto the learner's registry."""
    split = urlsplit(target)
    if split.scheme or split.netloc:
        raise NotRelayed(target)
    path = split.path
    if path in ("/v2/", "/v2"):
        kind, digest, reference = "base", None, None
        upstream = "/v2/"
    else:
        prefix = f"/v2/{engine_repository}/"
        if not path.startswith(prefix):
            raise NotRelayed(path)
        rest = path[len(prefix) :]
        kind, digest, reference = _rest_kind(rest, op.tag)
        upstream = f"/v2/{op.repository}/{rest}" + _query(kind, split.query)
    if method not in _METHODS[op.kind].get(kind, ()):
        raise NotRelayed(f"{method} {kind}")
    if kind == "manifest" and digest is not None and op.kind == "push":
        raise NotRelayed("a push names its manifest by tag")
    return Route(kind, upstream, digest, reference)


def upstream_headers(headers: Message, host: str) -> list[tuple[str, str]]:
    """The engine's request headers the registry protocol needs, checked.

    `host` is the relay's own address (the one the engine names): the
    registry builds the `Location`s of its answers from it, which the relay
    then recognises as "back to the same registry".
    """
    out = [("Host", host)]
    for value in headers.get_all("Accept") or []:
        if _ACCEPT_RE.match(value.strip()):
            out.append(("Accept", value.strip()))
    checks = (
        ("Content-Type", _MEDIA_RE),
        ("Content-Range", _CONTENT_RANGE_RE),
        ("Range", _RANGE_RE),
        ("Authorization", _BASIC_RE),
    )
    for name, pattern in checks:
        value = (headers.get(name) or "").strip()
        if value and pattern.match(value):
            out.append((name, value))
    return out


def _challenge_refusal(challenge: str) -> Refused:
    realm = re.search(r'realm\s*=\s*"?([^",]*)', challenge, re.I)
    where = _quoted(realm.group(1)) if realm else "another place"
    return Refused(
        f"Your registry asked for a token from {where}: the lab does not fetch "
        "tokens or anything else from places a registry names. Run a registry "
        "without token authentication (the lesson's registry:2 needs none)."
    )


def rewrite_location(location: str, host: str, repository: str, engine_repository: str) -> str:
    """A registry's `Location` as a path on the relay, if it names the same registry."""
    refused = Refused(
        f"Your registry sent the next step to {_quoted(location)}, which is not "
        "the registry itself: the lab only talks to your registry."
    )
    split = urlsplit(location.strip())
    if split.scheme or split.netloc:
        if split.scheme not in ("http", "https") or split.netloc.lower() != host.lower():
            raise refused
    prefix = f"/v2/{repository}/"
    if not split.path.startswith(prefix):
        raise refused
    rest = split.path[len(prefix) :]
    try:
        kind, _, _ = _rest_kind(rest, rest.removeprefix("manifests/"))
        query = _query(kind, split.query)
    except NotRelayed:
        raise refused from None
    return f"/v2/{engine_repository}/{rest}{query}"


def answer_headers(
    op: Operation, status: int, headers: Message, host: str, engine_repository: str
) -> list[tuple[str, str]]:
    """The registry's answer headers the engine may see, or Refused."""
    if status < 200:
        raise Refused(
            f"Your registry answered with status {status}, which the lab does not pass on."
        )
    if 300 <= status < 400:
        location = headers.get("Location") or "nowhere"
        raise Refused(
            f"Your registry answered with a redirect to {_quoted(location)}: the lab "
            "does not follow redirects, so the "
            f"{op.kind} stopped. Use the lesson's registry image (registry:2)."
        )
    challenges = headers.get_all("WWW-Authenticate") or []
    for challenge in challenges:
        # Only the scheme is read: what the engine gets is our own challenge.
        if challenge.strip().split(None, 1)[:1] != ["Basic"]:
            raise _challenge_refusal(challenge)
    out: list[tuple[str, str]] = []
    if challenges:
        out.append(("WWW-Authenticate", 'Basic realm="registry"'))
    locations = headers.get_all("Location") or []
    if len(set(locations)) > 1:
        raise Refused("Your registry answered with several different Locations.")
    if locations:
        out.append(
            ("Location", rewrite_location(locations[0], host, op.repository, engine_repository))
        )
    if (headers.get("Docker-Distribution-API-Version") or "").strip() == "registry/2.0":
        out.append(("Docker-Distribution-API-Version", "registry/2.0"))
    checks = (
        ("Docker-Content-Digest", DIGEST_RE),
        ("Docker-Upload-UUID", _UUID_RE),
        ("Range", _RANGE_RE),
        ("Content-Range", _CONTENT_RANGE_RE),
    )
    for name, pattern in checks:
        value = (headers.get(name) or "").strip()
        if value and pattern.match(value):
            out.append((name, value))
    return out


def error_body(status: int, data: bytes) -> bytes:
    """A registry error document of ours from what the registry sent."""
    errors = []
    try:
        doc = json.loads(data)
        items = doc.get("errors") if isinstance(doc, dict) else None
    except (ValueError, RecursionError):
        items = None
    for item in (items if isinstance(items, list) else [])[:5]:
        if not isinstance(item, dict):
            continue
        code = item.get("code") if item.get("code") in ERROR_CODES else "UNKNOWN"
        message = "".join(ch for ch in str(item.get("message") or "")[:200] if ch.isprintable())
        errors.append({"code": code, "message": message or code.lower()})
    if not errors:
        errors = [{"code": "UNKNOWN", "message": f"your registry answered {status}"}]
    return json.dumps({"errors": errors}).encode()


def denied_body(message: str = "refused by the lab") -> bytes:
    return json.dumps({"errors": [{"code": "DENIED", "message": message}]}).encode()


def unrelayed_body() -> bytes:
    message = "the lab relays only the registry API of the image being moved"
    return json.dumps({"errors": [{"code": "UNKNOWN", "message": message}]}).encode()


def _descriptor(value, media_types: frozenset[str], what: str) -> Descriptor:
    if not isinstance(value, dict):
        raise Refused(f"The manifest in your registry has no usable {what}.")
    media, digest, size = value.get("mediaType"), value.get("digest"), value.get("size")
    if media not in media_types:
        raise Refused(
            f"The manifest in your registry has a {what} of type {_quoted(media)}, "
            "which the lab does not pull."
        )
    if not isinstance(digest, str) or not DIGEST_RE.match(digest):
        raise Refused(f"The manifest in your registry has a {what} without a sha256 digest.")
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size < 2**40:
        raise Refused(f"The manifest in your registry has a {what} without a valid size.")
    return Descriptor(media, digest, size)


def not_yours(op: Operation) -> Refused:
    return Refused(
        f"{op.shown} was not built in your sandbox: the lab pulls back only images "
        "you built and pushed yourself."
    )


def vet_manifest(op: Operation, data: bytes, content_type: str) -> Manifest:
    """The manifest a pull may take back, from our own parse, or Refused."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        doc = None
    if not isinstance(doc, dict):
        raise Refused(f"Your registry's manifest for {op.shown} is not a manifest.")
    media = doc.get("mediaType") or content_type.split(";", 1)[0].strip()
    if media in LIST_TYPES or "manifests" in doc:
        raise Refused(
            f"{op.shown} in your registry is a list of images for several platforms: "
            "the lab pulls back single images you pushed yourself."
        )
    if doc.get("schemaVersion") != 2 or media not in MANIFEST_TYPES:
        raise Refused(
            f"{op.shown} in your registry has a manifest of type {_quoted(media)}, "
            "which the lab does not pull."
        )
    config_type, layer_types = MANIFEST_TYPES[media]
    config = _descriptor(doc.get("config"), frozenset({config_type}), "config")
    layers = doc.get("layers")
    if not isinstance(layers, list) or len(layers) > MAX_LAYERS:
        raise Refused(f"The manifest of {op.shown} in your registry has no usable layer list.")
    vetted = tuple(_descriptor(layer, layer_types, "layer") for layer in layers)
    if config.digest not in op.owned:
        raise not_yours(op)
    return Manifest(media, config, vetted)


def vet_config(op: Operation, digest: str, data: bytes) -> None:
    """Refuse an image config that is not the owned one, or carries triggers."""
    if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        raise Refused(f"Your registry sent a config for {op.shown} that does not match its digest.")
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        doc = None
    if not isinstance(doc, dict):
        raise Refused(f"Your registry sent a config for {op.shown} that is not an image config.")
    config = doc.get("config") if isinstance(doc.get("config"), dict) else {}
    labels = config.get("Labels") if isinstance(config.get("Labels"), dict) else {}
    if labels.get("org.dockerlab.sandbox") != op.sid:
        raise not_yours(op)
    for key in ("config", "container_config"):
        part = doc.get(key)
        if isinstance(part, dict) and part.get("OnBuild"):
            raise has_triggers(op)


def has_triggers(op: Operation) -> Refused:
    return Refused(
        f"{op.shown} has ONBUILD triggers: the lab does not pull images with "
        "triggers, which would run in a later build."
    )
