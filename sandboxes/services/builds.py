"""Building the sample app in a sandbox, with the learner's Dockerfile if given."""

from __future__ import annotations

import fnmatch
import io
import logging
import re
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

from engine import client
from engine import images as lesson_images
from sandboxes import naming
from sandboxes.errors import (
    BadRequest,
    InvalidName,
    NotInSandbox,
    SandboxError,
)
from sandboxes.models import Sandbox
from sandboxes.services import capacity
from sandboxes.services import dockerfile as df
from sandboxes.services.common import engine_call
from sandboxes.services.images import (
    check_tag_room,
    find_image,
    record_built,
    require_present,
)

log = logging.getLogger(__name__)

MAX_DOCKERFILE = 64 * 1024
_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")


def sample_dir() -> Path:
    """The build context: the repository's sample Flask app."""
    return Path(settings.DOCKERLAB_SAMPLE_APP_DIR)


def _ignored(patterns: list[str], relative: str) -> bool:
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern[1:] if negate else pattern
        pattern = pattern.strip("/")
        if (
            fnmatch.fnmatch(relative, pattern)
            or fnmatch.fnmatch(relative, pattern + "/*")
            or ("/" not in pattern and fnmatch.fnmatch(relative.split("/")[0], pattern))
        ):
            ignored = not negate
    return ignored


def build_context(directory: Path, dockerfile: str) -> io.BytesIO:
    """The directory as a tar (minus .dockerignore matches) with `dockerfile` in it.

    The learner's text replaces the Dockerfile only inside this in-memory
    archive; the repository is never written to.
    """
    ignore_file = directory / ".dockerignore"
    patterns = []
    if ignore_file.is_file():
        for line in ignore_file.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                patterns.append(line)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(directory.rglob("*")):
            relative = path.relative_to(directory).as_posix()
            if relative == "Dockerfile" or not path.is_file() or path.is_symlink():
                continue
            if _ignored(patterns, relative):
                continue
            info = tar.gettarinfo(str(path), arcname=relative)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with path.open("rb") as fh:
                tar.addfile(info, fh)
        data = dockerfile.encode("utf-8")
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        info.mode = 0o644
        info.mtime = int(time.time())
        tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def _replace_on_line(lines: list[str], index: int, old: str, new: str) -> None:
    pattern = re.compile(r"(?<![^\s=])" + re.escape(old) + r"(?=\s|$)")
    replaced, count = pattern.subn(new, lines[index], count=1)
    if not count:
        raise BadRequest(
            f"Line {index + 1}: write the image {old!r} on the same line as "
            "its instruction."
        )
    lines[index] = replaced


def prepare_dockerfile(sandbox: Sandbox, text: str) -> str:
    """The learner's Dockerfile, checked and rewritten for this sandbox's engine.

    Official base images become the configured lesson images; the learner's
    own images become their namespaced names. Any other image (another
    sandbox's, or one nobody configured) is refused before the build starts,
    so a build can never read what it may not run.
    """
    text = lesson_images.localize_dockerfile(text)
    instructions = df.instructions(text)
    if not instructions or instructions[0].keyword not in ("FROM", "ARG"):
        raise BadRequest("A Dockerfile starts with a FROM instruction.")
    for ins in instructions:
        if ins.keyword == "LABEL" and "org.dockerlab." in ins.args:
            raise BadRequest(
                f"Line {ins.line + 1}: labels starting with org.dockerlab. "
                "are reserved."
            )
        # A trigger runs in a later build, where its --from could name any
        # image without passing the checks below.
        if ins.keyword == "ONBUILD" and "--from" in ins.args.lower():
            raise BadRequest(
                f"Line {ins.line + 1}: ONBUILD with --from is not supported here."
            )
    lines = text.splitlines()
    stages: set[str] = set()
    allowed = set(lesson_images.configured().values())
    for use in df.image_uses(text):
        image = use.image
        where = f"Line {use.line + 1}"
        if "$" in image:
            raise BadRequest(
                f"{where}: build arguments in image names are not supported here."
            )
        if use.kind == "copy-from" and (image.lower() in stages or image.isdigit()):
            continue
        if use.kind == "from" and (
            image.lower() in stages or image.lower() == "scratch"
        ):
            pass
        elif image in allowed:
            require_present(image, sandbox)
        else:
            try:
                found, tag = find_image(sandbox, image)
            except (InvalidName, NotInSandbox):
                names = ", ".join(sorted(lesson_images.OFFICIAL.values()))
                raise BadRequest(
                    f"{where}: {image!r} is neither a lesson image ({names}) "
                    "nor an image in your sandbox."
                ) from None
            new = naming.engine_image(sandbox.sid, tag) if tag else found["Id"]
            _replace_on_line(lines, use.line, image, new)
        if use.stage:
            stages.add(use.stage)
    return "\n".join(lines) + "\n"


def with_labels(text: str, labels: dict[str, str]) -> str:
    """The Dockerfile with the sandbox's labels as one last step of every stage.

    The build API's own `labels` option costs one build step (a container and
    a commit) per label; one LABEL instruction costs one in all. Ending each
    stage with it, not just the last, labels the images the builder keeps for
    a multistage build's earlier stages too, so the sandbox's prune and the
    reaper find them instead of leaving them behind untagged.
    """
    label = "LABEL " + " ".join(f'{key}="{value}"' for key, value in labels.items())
    before = df.instructions(text)
    froms = [ins.line for ins in before if ins.keyword == "FROM"]
    lines = text.rstrip("\n").split("\n")
    for line in reversed(froms[1:]):
        lines.insert(line, label)
    result = "\n".join(lines) + "\n" + label + "\n"
    after = df.instructions(result)
    added = max(len(froms), 1)
    if len(after) != len(before) + added or after[-1].keyword != "LABEL":
        raise BadRequest(
            "The Dockerfile's last line ends with a line continuation: remove it."
        )
    return result


class BuildStream:
    """Events of one running build. Iterate once; `close()` from any thread stops it."""

    def __init__(self, sandbox: Sandbox, tag: str, chunks: Iterator[dict], steps: int):
        self.sandbox = sandbox
        self.tag = tag
        self.steps = steps
        self._chunks = chunks
        # api.build returns a generator over the streaming HTTP response; the
        # response is only reachable through the generator's arguments.
        frame = getattr(chunks, "gi_frame", None)
        self._response = frame.f_locals.get("response") if frame is not None else None
        self._closed = threading.Event()
        self._after_step = False

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        if self._response is not None:
            client.shutdown_response(self._response)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def __iter__(self) -> Iterator[dict]:
        sid = self.sandbox.sid
        image_id = None
        try:
            with client.translate_errors():
                for chunk in self._chunks:
                    if self.closed:
                        return
                    if "error" in chunk:
                        detail = chunk.get("errorDetail") or {}
                        message = detail.get("message") or chunk["error"]
                        yield {
                            "kind": "error",
                            "message": naming.strip(sid, str(message)).strip(),
                        }
                        return
                    if "aux" in chunk and isinstance(chunk["aux"], dict):
                        image_id = chunk["aux"].get("ID") or image_id
                    text = chunk.get("stream")
                    if text is None and "status" in chunk:
                        text = (
                            f"{chunk['status']} {chunk.get('progress', '')}".rstrip()
                            + "\n"
                        )
                    if text:
                        yield from self._text_events(naming.strip(sid, text))
        except client.EngineError as exc:
            if not self.closed:
                yield {"kind": "error", "message": naming.strip(sid, exc.message)}
            return
        except Exception as exc:  # a broken stream is an error event, never a crash
            if not self.closed:
                log.warning("build stream broke", exc_info=True)
                yield {"kind": "error", "message": f"The build stream broke: {exc}"}
            return
        finally:
            if self._response is not None:
                client.shutdown_response(self._response)
        if self.closed:
            return
        if image_id is None:
            image_id = self._lookup_id()
        if image_id is None:
            yield {
                "kind": "error",
                "message": "The build ended without producing an image.",
            }
            return
        record_built(self.sandbox, image_id)  # ownership record: see services/images.py
        yield {"kind": "done", "image": self.tag, "id": image_id}

    def _lookup_id(self) -> str | None:
        try:
            with engine_call(self.sandbox):
                return client.api().inspect_image(
                    naming.engine_image(self.sandbox.sid, self.tag)
                )["Id"]
        except SandboxError:
            return None

    def _text_events(self, text: str) -> Iterator[dict]:
        for line in text.splitlines(keepends=True):
            if line == "\n" and self._after_step:
                # The builder sends a step's line ending as a chunk of its own.
                self._after_step = False
                continue
            match = _STEP.match(line.rstrip("\r\n"))
            self._after_step = bool(match) and not line.endswith("\n")
            if match:
                yield {
                    "kind": "step",
                    "step": int(match.group(1)),
                    "steps": int(match.group(2)),
                    "text": line.rstrip("\r\n"),
                }
            else:
                yield {"kind": "line", "text": line}


def build_image(
    sandbox: Sandbox,
    tag: str = "flask-app",
    dockerfile: str | None = None,
    no_cache: bool = False,
) -> BuildStream:
    """Start building the sample app as `tag`; iterate the result for events.

    `no_cache` rebuilds every step instead of reusing cached layers
    (`docker build --no-cache`).
    """
    ref = naming.image_ref(tag)
    directory = sample_dir()
    if dockerfile is None:
        path = directory / "Dockerfile"
        if not path.is_file():
            raise SandboxError(
                "The sample app's Dockerfile is missing.", code="not_found"
            )
        dockerfile = path.read_text()
    if not isinstance(dockerfile, str):
        raise BadRequest("The Dockerfile must be text.")
    if len(dockerfile.encode("utf-8")) > MAX_DOCKERFILE:
        raise BadRequest("The Dockerfile is too large (at most 64 KiB).")
    check_tag_room(sandbox, ref)
    text = with_labels(prepare_dockerfile(sandbox, dockerfile), sandbox.labels())
    steps = df.count_steps(text)
    memory = settings.DOCKERLAB_CONTAINER_MEMORY_MB * 1024 * 1024
    context = build_context(directory, text)
    capacity.admit(sandbox, building=True)
    with engine_call(sandbox):
        chunks = client.api().build(
            fileobj=context,
            custom_context=True,
            tag=naming.engine_image(sandbox.sid, ref),
            decode=True,
            rm=True,
            forcerm=True,
            pull=False,
            nocache=bool(no_cache),
            container_limits={
                "memory": memory,
                "memswap": memory,
                "cpushares": max(2, int(1024 * settings.DOCKERLAB_CONTAINER_CPUS)),
            },
        )
    return BuildStream(sandbox, ref, chunks, steps)
