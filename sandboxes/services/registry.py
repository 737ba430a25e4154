"""`docker tag`, `push` and `pull` against a registry of the learner's own.

A learner runs the registry image in their sandbox with a port published
(`-p 127.0.0.1:5000:5000`) and names images `127.0.0.1:5000/flask-app:v1`.
In the lab the server picks the real loopback port, so `127.0.0.1:5000`
means "the registry container of this sandbox that publishes port 5000".

The engine never talks to that container: each push or pull goes through a
relay of ours (sandboxes/services/relay.py) on a short-lived port, which
forwards only that registry's API for that one image and refuses redirects,
token realms and anything else that would make the engine fetch from a place
the learner chose. The engine-side name of the image during the operation is
`<relay address>/dl-relay-<sid>-<deadline>/<name>:<tag>`; it is never shown
(engine text is mapped back to the learner's names) and is removed when the
operation ends. A crash can leave one behind: `remove_stale_names` removes
those whose deadline has passed.

A pull lands in the sandbox only if the image's id (its config digest) is one
the app recorded for this sandbox (built, pushed or pulled here), its config
has no ONBUILD triggers, and it carries this sandbox's label: the relay
checks this before the engine downloads a layer, and the pulled image is
checked again before it gets the learner's name.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

from django.conf import settings

from engine import client
from sandboxes import naming
from sandboxes.errors import BadRequest, NotInSandbox, SandboxError
from sandboxes.models import Sandbox, SandboxImage
from sandboxes.services import relay as relays
from sandboxes.services import relay_rules as rules
from sandboxes.services.common import engine_call
from sandboxes.services.containers import own_containers, published_here
from sandboxes.services.images import check_tag_room, find_image, record_image, recorded_ids

# Engine progress statuses worth a line of their own (the rest is a progress bar).
_QUIET = {"Pushing", "Downloading", "Extracting", "Waiting", "Preparing"}


def tag_image(sandbox: Sandbox, source: str, target: str) -> dict:
    """`docker tag SOURCE TARGET`, both inside the sandbox."""
    image, _ = find_image(sandbox, source)
    shown = naming.image_ref(target)
    check_tag_room(sandbox, shown)
    repository, _, tag = naming.engine_image(sandbox.sid, target).rpartition(":")
    with engine_call(sandbox):
        client.api().tag(image["Id"], repository, tag, force=True)
    return {"source": source, "target": shown}


def registry_port(sandbox: Sandbox, ref: str) -> int:
    """The loopback port of the sandbox's container behind the registry part of `ref`."""
    found = naming.registry_of(ref)
    if found is None:
        raise BadRequest(
            f"{ref!r} names no registry: tag it for yours first, like 127.0.0.1:5000/flask-app:v1."
        )
    _, port = found
    for container in own_containers(sandbox):
        if container.get("State") != "running":
            continue
        for entry in container.get("Ports") or []:
            if entry.get("PrivatePort") == port and entry.get("PublicPort") and published_here(
                entry
            ):
                return int(entry["PublicPort"])
    raise NotInSandbox(
        f"No running container of yours publishes port {port}: start your registry first "
        f"(docker run -d --name registry -p 127.0.0.1:{port}:{port} registry:2)."
    )


def _forbidden(message: str) -> SandboxError:
    return SandboxError(message, code="forbidden")


class RegistryStream:
    """A push or a pull as events shaped like a build's; iterate once.

    {"kind": "line", "text"} for each layer's news, {"kind": "error",
    "message"} or finally {"kind": "done", "image", "id"}. `close()` from any
    thread stops it (and its relay).
    """

    def __init__(self, sandbox: Sandbox, ref: str, kind: str):
        self.sandbox = sandbox
        self.kind = kind
        self.tag = naming.image_ref(ref)
        self.port = registry_port(sandbox, ref)
        self.upstream_host = client.publish_host()
        name, self.remote_tag = naming.parse_image(ref)
        self.repository = name.split("/", 1)[1]
        self.steps = None
        self.relay: relays.Relay | None = None
        self._closed = threading.Event()
        self._response = None

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        self._closed.set()
        if self.relay is not None:
            self.relay.close()
        if self._response is not None:
            client.shutdown_response(self._response)

    def _open_relay(self, owned: frozenset[str] = frozenset()) -> relays.Relay:
        op = rules.Operation(
            kind=self.kind,
            sid=self.sandbox.sid,
            repository=self.repository,
            tag=self.remote_tag,
            shown=self.tag,
            owned=owned,
            max_bytes=settings.DOCKERLAB_REGISTRY_RELAY_MAX_MB * 1024 * 1024,
            seconds=float(settings.DOCKERLAB_REGISTRY_RELAY_SECONDS),
        )
        try:
            relay = relays.Relay(
                # The registry container's port, where its engine publishes it.
                op, (self.upstream_host, self.port), settings.DOCKERLAB_REGISTRY_RELAY_HOST
            )
        except OSError as exc:
            raise SandboxError(
                f"The lab could not open its registry relay ({exc.strerror or exc}).",
                code="engine_error",
            ) from exc
        self.relay = relay.start()
        if self.closed:
            relay.close()
        return relay

    def _shown(self, text: str) -> str:
        """Engine text as the learner names things: no prefixes, their registry's port."""
        text = naming.strip(self.sandbox.sid, text)
        if self.relay is not None:
            host, port = naming.registry_of(self.tag)
            text = text.replace(self.relay.engine_name, f"{host}:{port}/{self.repository}")
            text = text.replace(self.relay.address, f"{host}:{port}")
            text = text.replace(self.relay.engine_repository, self.repository)
        return text

    def _failure(self, text: str) -> str:
        """The relay's refusal if it refused something (the engine's text says less)."""
        if self.relay is not None and self.relay.refusal:
            return self.relay.refusal
        return self._shown(text)

    def _progress(self, chunks) -> Iterator[dict]:
        frame = getattr(chunks, "gi_frame", None)
        self._response = frame.f_locals.get("response") if frame is not None else None
        said: dict[str, str] = {}
        for chunk in chunks:
            if self.closed:
                return
            if "error" in chunk:
                detail = (chunk.get("errorDetail") or {}).get("message") or chunk["error"]
                raise SandboxError(self._failure(str(detail)), code="engine_error")
            status = str(chunk.get("status") or "")
            layer = str(chunk.get("id") or "")
            if not status or status in _QUIET or said.get(layer) == status:
                continue
            said[layer] = status
            text = f"{layer}: {status}" if layer and layer != self.remote_tag else status
            yield {"kind": "line", "text": self._shown(text) + "\n"}

    def __iter__(self) -> Iterator[dict]:
        try:
            yield from (self._push() if self.kind == "push" else self._pull())
        except SandboxError as exc:
            if not self.closed:
                yield {"kind": "error", "message": self._failure(exc.message)}
        except client.EngineError as exc:
            if not self.closed:
                yield {"kind": "error", "message": self._failure(exc.message)}
        finally:
            if self.relay is not None:
                self.relay.close()

    def _push(self) -> Iterator[dict]:
        image, _ = find_image(self.sandbox, self.tag)
        # Recorded first: whatever happens to the push, what lands in the
        # learner's registry under this id is this sandbox's image.
        record_image(self.sandbox, image["Id"], SandboxImage.PUSHED)
        relay = self._open_relay()
        api = client.api()
        with engine_call(self.sandbox):
            api.tag(image["Id"], relay.engine_name, self.remote_tag, force=True)
        try:
            with client.translate_errors():
                chunks = api.push(relay.engine_name, tag=self.remote_tag, stream=True, decode=True)
                yield from self._progress(chunks)
        finally:
            _forget(self.sandbox, relay.engine_name, self.remote_tag)
        if relay.refusal:
            raise _forbidden(relay.refusal)
        if not self.closed:
            yield {"kind": "done", "image": self.tag, "id": image["Id"]}

    def _pull(self) -> Iterator[dict]:
        check_tag_room(self.sandbox, self.tag)
        owned = recorded_ids(self.sandbox)
        relay = self._open_relay(owned)
        api = client.api()
        pulled = f"{relay.engine_name}:{self.remote_tag}"
        accepted = False
        try:
            with client.translate_errors():
                chunks = api.pull(relay.engine_name, tag=self.remote_tag, stream=True, decode=True)
                yield from self._progress(chunks)
            if self.closed:
                return
            if relay.refusal:
                raise _forbidden(relay.refusal)
            with engine_call(self.sandbox):
                info = api.inspect_image(pulled)
            self._check_pulled(info, owned, relay.op)
            repository, _, tag = naming.engine_image(self.sandbox.sid, self.tag).rpartition(":")
            with engine_call(self.sandbox):
                api.tag(info["Id"], repository, tag, force=True)
            accepted = True
        finally:
            _forget(self.sandbox, relay.engine_name, self.remote_tag, drop=not accepted)
        record_image(self.sandbox, info["Id"], SandboxImage.PULLED)
        yield {"kind": "done", "image": self.tag, "id": info["Id"]}

    def _check_pulled(self, info: dict, owned: frozenset[str], op: rules.Operation) -> None:
        """The relay's verdict, checked again on what the engine now holds."""
        config = info.get("Config") or {}
        if info.get("Id") not in owned or (config.get("Labels") or {}).get(
            "org.dockerlab.sandbox"
        ) != self.sandbox.sid:
            raise _forbidden(rules.not_yours(op).message)
        if config.get("OnBuild"):
            raise _forbidden(rules.has_triggers(op).message)


def _forget(sandbox: Sandbox, engine_name: str, tag: str, drop: bool = False) -> None:
    """Remove the relay's engine-side names (tag and digests) of one operation.

    With `drop`, an image that no other name holds goes too (a refused pull
    leaves nothing); without, only the names go.
    """
    ref = f"{engine_name}:{tag}"
    try:
        with engine_call(sandbox):
            info = client.api().inspect_image(ref)
    except SandboxError:
        return
    names = [d for d in info.get("RepoDigests") or [] if d.startswith(engine_name + "@")]
    for name in [*names, ref]:
        _untag(sandbox, name, drop)


def _untag(sandbox: Sandbox | None, engine_ref: str, drop: bool = False) -> None:
    with contextlib.suppress(SandboxError, client.NotFound, client.Conflict):
        with engine_call(sandbox):
            client.api().remove_image(engine_ref, force=False, noprune=not drop)


def stale_names(now: float | None = None) -> list[str]:
    """Relay names of this deployment's images whose operation's deadline has passed."""
    now = time.time() if now is None else now
    flt = {"label": [f"org.dockerlab.deployment={settings.DOCKERLAB_DEPLOYMENT}"]}
    with engine_call():
        images = client.api().images(filters=flt) or []
    stale = []
    for image in images:
        for name in (image.get("RepoTags") or []) + (image.get("RepoDigests") or []):
            found = rules.RELAY_REPOSITORY_RE.match(name.partition("/")[2])
            if found and int(found.group(2)) < now:
                stale.append(name)
    return stale


def remove_stale_names(now: float | None = None) -> int:
    """Remove relay names a crash left behind (see stale_names); returns how many.

    The images are sandbox images: one still named by its learner keeps that
    name; one held only by a relay name goes with it (a pull that never ended).
    """
    names = stale_names(now)
    for name in names:
        _untag(None, name)
    return len(names)


def push(sandbox: Sandbox, ref: str) -> RegistryStream:
    """Start `docker push REF`; iterate the result for events."""
    return RegistryStream(sandbox, ref, "push")


def pull(sandbox: Sandbox, ref: str) -> RegistryStream:
    """Start `docker pull REF` from the sandbox's own registry; iterate for events."""
    return RegistryStream(sandbox, ref, "pull")
