"""`docker tag`, `push` and `pull` against a registry of the learner's own.

A learner runs the registry image in their sandbox with a port published
(`-p 127.0.0.1:5000:5000`) and names images `127.0.0.1:5000/flask-app:v1`.
In the lab the server picks the real loopback port, so `127.0.0.1:5000`
means "the registry container of this sandbox that publishes port 5000":
the engine pushes to and pulls from that container's real port under a
short-lived engine-side name, and the image is kept under the sandbox's
namespace. A pulled image must carry this sandbox's labels (it was built
here), so nothing can be planted into one sandbox from another.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from engine import client
from sandboxes import naming
from sandboxes.errors import BadRequest, NotInSandbox, SandboxError
from sandboxes.models import Sandbox
from sandboxes.services.common import engine_call
from sandboxes.services.containers import own_containers
from sandboxes.services.images import check_tag_room, find_image

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
            if entry.get("PrivatePort") == port and entry.get("PublicPort") and entry.get(
                "IP"
            ) in ("127.0.0.1", None, ""):
                return int(entry["PublicPort"])
    raise NotInSandbox(
        f"No running container of yours publishes port {port}: start your registry first "
        f"(docker run -d --name registry -p 127.0.0.1:{port}:{port} registry:2)."
    )


class RegistryStream:
    """A push or a pull as events shaped like a build's; iterate once.

    {"kind": "line", "text"} for each layer's news, {"kind": "error",
    "message"} or finally {"kind": "done", "image", "id"}.
    """

    def __init__(self, sandbox: Sandbox, ref: str, kind: str):
        self.sandbox = sandbox
        self.kind = kind
        self.tag = naming.image_ref(ref)
        self.port = registry_port(sandbox, ref)
        name, self.remote_tag = naming.parse_image(ref)
        # The engine's name for it: the registry container's real loopback port.
        self.remote = f"127.0.0.1:{self.port}/{name.split('/', 1)[1]}"
        self.steps = None
        self._closed = threading.Event()
        self._response = None

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        self._closed.set()
        if self._response is not None:
            client.shutdown_response(self._response)

    def _shown(self, text: str) -> str:
        """Engine text as the learner names things: their prefix gone, their registry's port."""
        host, port = naming.registry_of(self.tag)
        return naming.strip(self.sandbox.sid, text).replace(
            f"127.0.0.1:{self.port}/", f"{host}:{port}/"
        )

    def _progress(self, chunks) -> Iterator[dict]:
        frame = getattr(chunks, "gi_frame", None)
        self._response = frame.f_locals.get("response") if frame is not None else None
        said: dict[str, str] = {}
        for chunk in chunks:
            if self.closed:
                return
            if "error" in chunk:
                detail = (chunk.get("errorDetail") or {}).get("message") or chunk["error"]
                raise SandboxError(self._shown(str(detail)), code="engine_error")
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
                yield {"kind": "error", "message": exc.message}
        except client.EngineError as exc:
            if not self.closed:
                yield {"kind": "error", "message": self._shown(exc.message)}

    def _push(self) -> Iterator[dict]:
        image, _ = find_image(self.sandbox, self.tag)
        api = client.api()
        with engine_call(self.sandbox):
            api.tag(image["Id"], self.remote, self.remote_tag, force=True)
        try:
            with client.translate_errors():
                chunks = api.push(self.remote, tag=self.remote_tag, stream=True, decode=True)
                yield from self._progress(chunks)
        finally:
            _untag(self.sandbox, f"{self.remote}:{self.remote_tag}")
        if not self.closed:
            yield {"kind": "done", "image": self.tag, "id": image["Id"]}

    def _pull(self) -> Iterator[dict]:
        check_tag_room(self.sandbox, self.tag)
        api = client.api()
        pulled = f"{self.remote}:{self.remote_tag}"
        try:
            with client.translate_errors():
                chunks = api.pull(self.remote, tag=self.remote_tag, stream=True, decode=True)
                yield from self._progress(chunks)
            if self.closed:
                return
            with engine_call(self.sandbox):
                info = api.inspect_image(pulled)
            labels = (info.get("Config") or {}).get("Labels") or {}
            if labels.get("org.dockerlab.sandbox") != self.sandbox.sid:
                # Not built in this sandbox: it must not land in it (nor stay).
                _untag(self.sandbox, pulled, drop=True)
                raise SandboxError(
                    f"{self.tag} was not built in your sandbox: the lab pulls back only "
                    "images you built and pushed yourself.",
                    code="forbidden",
                )
            repository, _, tag = naming.engine_image(self.sandbox.sid, self.tag).rpartition(":")
            with engine_call(self.sandbox):
                api.tag(info["Id"], repository, tag, force=True)
        finally:
            _untag(self.sandbox, pulled)
        yield {"kind": "done", "image": self.tag, "id": info["Id"]}


def _untag(sandbox: Sandbox, engine_ref: str, drop: bool = False) -> None:
    """Remove the short-lived engine-side name (and, with `drop`, the image if unused)."""
    with contextlib.suppress(SandboxError, client.NotFound, client.Conflict):
        with engine_call(sandbox):
            client.api().remove_image(engine_ref, force=False, noprune=not drop)


def push(sandbox: Sandbox, ref: str) -> RegistryStream:
    """Start `docker push REF`; iterate the result for events."""
    return RegistryStream(sandbox, ref, "push")


def pull(sandbox: Sandbox, ref: str) -> RegistryStream:
    """Start `docker pull REF` from the sandbox's own registry; iterate for events."""
    return RegistryStream(sandbox, ref, "pull")
