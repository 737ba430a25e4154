"""Building the sample app in a sandbox, from the learner's Dockerfile if given.

Invariants:
- The engine receives only the Dockerfile written here from our own parse
  (`sandboxes.services.dockerfile`), never the learner's text.
- Every image a build reads is one the sandbox may use - a lesson image,
  `scratch`, an earlier stage of the same file, or one of the sandbox's own
  images, written as its full engine reference - and any other is refused
  before the build starts. A stage name or index must name an earlier stage:
  the builder would take any other name for an image and try to pull it.
- Each stage starts with a LABEL of the sandbox's stable labels (deployment,
  sandbox, owner) right after its FROM, so every container and image the
  build makes carries them from then on, including those of a build killed
  midway. The changing expiry label is each stage's last step, so a new
  expiry only redoes that step and the build cache stays warm.
- A learner's app.py (the "change the app" step) replaces the sample's
  app.py inside the in-memory context archive only, under that one name:
  it is a file's content, bounded and plain text, and can name no other
  file. The repository is never written to.
- Build steps get the sandbox's memory, a CPU quota, the network mode
  DOCKERLAB_BUILD_NETWORK (none by default: RUN steps cannot reach anything,
  so lesson images carry what the sample installs) and, where the host
  allows, a process cap (`sandboxes.services.buildlimits`). A build holds its
  sandbox's lease while it streams, so the reaper leaves it alone.
"""

from __future__ import annotations

import fnmatch
import io
import logging
import re
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from django.conf import settings

from engine import client
from engine import images as lesson_images
from sandboxes import labels, naming
from sandboxes.errors import (
    BadRequest,
    InvalidName,
    NotInSandbox,
    SandboxError,
)
from sandboxes.models import Sandbox
from sandboxes.services import buildlimits, capacity
from sandboxes.services import dockerfile as df
from sandboxes.services.common import engine_call
from sandboxes.services.images import (
    check_tag_room,
    find_image,
    lesson_image,
    record_built,
    require_present,
)

log = logging.getLogger(__name__)

MAX_DOCKERFILE = 64 * 1024
# The one file of the sample a learner may replace in a build's context, and
# how large their version may be (the sample's is under 3 KiB).
APP_FILE = "app.py"
MAX_APP = 16 * 1024
# Plain text: tabs, line ends and printable characters, nothing else below 0x20.
_APP_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
# The label whose value changes while the sandbox lives; the others stay.
EXPIRY_LABEL = labels.EXPIRES
RESERVED_LABELS = "org.dockerlab."
_LABEL_KEY = re.compile(r"[a-z0-9][a-z0-9.-]*\Z")
_LABEL_VALUE = re.compile(r"[A-Za-z0-9._:+-]*\Z")
_STAGE_INDEX = re.compile(r"[0-9]+\Z")
_FORK_FAILED = ("Resource temporarily unavailable", "Cannot fork", "can't fork")


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


def _text_member(
    name: str, text: str, mtime: int
) -> tuple[tarfile.TarInfo, io.BytesIO]:
    data = text.encode("utf-8")
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = mtime
    return info, io.BytesIO(data)


def build_context(
    directory: Path, dockerfile: str, app: str | None = None
) -> io.BytesIO:
    """The directory as a tar (minus .dockerignore matches) with `dockerfile` in it.

    The learner's text replaces the Dockerfile, and `app` (checked text, see
    `check_app`) the sample's app.py, only inside this in-memory archive; the
    repository is never written to.
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
            if app is not None and relative == APP_FILE:
                continue
            if _ignored(patterns, relative):
                continue
            info = tar.gettarinfo(str(path), arcname=relative)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with path.open("rb") as fh:
                tar.addfile(info, fh)
        tar.addfile(*_text_member("Dockerfile", dockerfile, int(time.time())))
        if app is not None:
            # A fixed time: an unchanged edit is the same file to the cache.
            tar.addfile(*_text_member(APP_FILE, app, 0))
    buffer.seek(0)
    return buffer


def check_app(app: object) -> str:
    """A learner's app.py for a build: text of at most MAX_APP bytes, no controls.

    It is the content of one file, never read as instructions, so it needs
    no parse; what it may not do is be something other than plain text.
    """
    if not isinstance(app, str):
        raise BadRequest("app.py must be text.")
    try:
        size = len(app.encode("utf-8"))
    except UnicodeEncodeError:
        raise BadRequest("app.py holds characters that are not valid text.") from None
    if size > MAX_APP:
        raise BadRequest(f"app.py is too large (at most {MAX_APP // 1024} KiB).")
    if not app.strip():
        raise BadRequest("app.py is empty: write the app, or reset it to the sample's.")
    if _APP_CONTROL.search(app):
        raise BadRequest(
            "app.py holds control characters: it must be plain text (tabs and line "
            "ends are fine)."
        )
    return app


def _image(
    sandbox: Sandbox,
    image: str,
    stages: list[str | None],
    where: str,
    kind: str,
    named: set[str] = frozenset(),
) -> tuple[str, dict | None]:
    """The engine reference an image read by FROM or COPY --from becomes.

    `stages` are the names (or None) of the stages before this one; `named`
    every stage name of the file. Returns the reference and, for one of the
    sandbox's own images, its inspect data.
    """
    if "$" in image:
        raise BadRequest(
            f"{where}: build arguments in image names are not supported here."
        )
    lowered = df.go_lower(image)
    if lowered in {name for name in stages if name}:
        return lowered, None
    if kind == "from" and image == "scratch":
        return image, None
    if kind == "copy-from" and _STAGE_INDEX.match(image):
        if int(image) < len(stages):
            return str(int(image)), None
        raise BadRequest(f"{where}: --from={image} does not name an earlier stage.")
    lesson = lesson_image(image)
    if lesson is not None:
        require_present(lesson, sandbox)
        return lesson, None
    try:
        found, tag = find_image(sandbox, image)
    except (InvalidName, NotInSandbox):
        if lowered in named:
            raise BadRequest(
                f"{where}: the stage {lowered!r} is not an earlier stage; a build "
                "can only read stages that come before this line."
            ) from None
        names = ", ".join(sorted(lesson_images.OFFICIAL.values()))
        raise BadRequest(
            f"{where}: {image!r} is neither a lesson image ({names}), an "
            "earlier stage, nor an image in your sandbox."
        ) from None
    reference = naming.engine_image(sandbox.sid, tag) if tag else found["Id"]
    return reference, found


def _check_labels(ins: df.Instruction) -> None:
    """LABEL names starting org.dockerlab. are the lab's own, however written."""
    if ins.inner is not None:
        _check_labels(ins.inner)
    if ins.keyword != "LABEL":
        return
    for name, _ in ins.pairs() if ins.form == "pairs" else [tuple(ins.args)]:
        if "$" in name:
            raise BadRequest(
                f"{ins.where()}: write label names out, not from $variables."
            )
        literal = df.literal_word(name)
        if literal is None or literal.lower().startswith(RESERVED_LABELS):
            raise BadRequest(
                f"{ins.where()}: labels starting with {RESERVED_LABELS} are reserved."
            )


def _check_triggers(image: dict, where: str, shown: str) -> None:
    """An own base image's ONBUILD triggers run in this build: same rules for them."""
    for trigger in (image.get("Config") or {}).get("OnBuild") or []:
        try:
            ins = df.read_trigger(trigger)
            _check_labels(ins)
        except BadRequest as exc:
            raise BadRequest(
                f"{where}: {shown!r} carries an ONBUILD trigger the lab does not run: "
                f"{exc.message}"
            ) from None


def prepare_dockerfile(sandbox: Sandbox, text: str) -> df.Dockerfile:
    """The learner's Dockerfile, parsed, checked and rewritten for this sandbox.

    Official base images become the configured lesson images; the learner's
    own images become their namespaced engine references (an id or id prefix
    becomes the full id). Any other image (another sandbox's, or one nobody
    configured) is refused before the build starts, so a build can never read
    what it may not run.
    """
    parsed = df.parse(text)
    named = {ins.stage for ins in parsed.instructions if ins.stage}
    stages: list[str | None] = []
    result = []
    for ins in parsed.instructions:
        _check_labels(ins)
        if ins.keyword == "FROM":
            reference, own = _image(
                sandbox, ins.args[0], stages, ins.where(), "from", named
            )
            if own is not None:
                _check_triggers(
                    require_present(own["Id"], sandbox), ins.where(), ins.args[0]
                )
            ins = replace(ins, args=(reference, *ins.args[1:]))
            stages.append(ins.stage)
        source = ins.flag("from")
        if source is not None:
            reference, _ = _image(
                sandbox, source, stages[:-1], ins.where(), "copy-from", named
            )
            ins = replace(
                ins,
                flags=tuple((k, reference if k == "from" else v) for k, v in ins.flags),
            )
        result.append(ins)
    return replace(parsed, instructions=tuple(result))


def _label_step(labels: dict[str, str]) -> df.Instruction:
    args: list[str] = []
    for key, value in labels.items():
        if not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value):
            raise SandboxError(
                f"The label {key}={value!r} cannot be written into a Dockerfile."
            )
        args += [key, f'"{value}"']
    return df.Instruction("LABEL", tuple(args), "pairs")


def labelled(
    instructions: tuple[df.Instruction, ...], labels: dict[str, str]
) -> list[df.Instruction]:
    """The instructions with the labels around every stage.

    The stable labels come right after each FROM; the expiry label ends each
    stage. The build API's own `labels` option would add them only at the
    end of the last stage, after every step ran unlabelled.
    """
    stable = {k: v for k, v in labels.items() if k != EXPIRY_LABEL}
    changing = {k: v for k, v in labels.items() if k == EXPIRY_LABEL}
    first = [_label_step(stable)] if stable else []
    last = [_label_step(changing)] if changing else []
    result: list[df.Instruction] = []
    in_stage = False
    for ins in instructions:
        if ins.keyword == "FROM":
            if in_stage:
                result += last
            result.append(ins)
            result += first
            in_stage = True
        else:
            result.append(ins)
    return result + last


def with_labels(dockerfile: df.Dockerfile | str, labels: dict[str, str]) -> str:
    """The Dockerfile the engine receives: our parse, labelled, written out."""
    if isinstance(dockerfile, str):
        dockerfile = df.parse(dockerfile)
    return df.emit(labelled(dockerfile.instructions, labels))


@dataclass(frozen=True)
class PreparedBuild:
    text: str  # what the engine receives
    steps: int  # how many steps it will number
    notes: tuple[str, ...]  # what changed on the way, for the learner


def prepare(sandbox: Sandbox, text: str) -> PreparedBuild:
    """Everything about a build that can be decided before the engine is asked."""
    parsed = prepare_dockerfile(sandbox, text)
    instructions = labelled(parsed.instructions, sandbox.labels())
    return PreparedBuild(df.emit(instructions), df.steps(instructions), parsed.notes)


class BuildStream:
    """Events of one build. Iterate once; `close()` from any thread stops it.

    Events: {"kind": "line", "text"}, {"kind": "step", "step", "steps",
    "text"}, then one {"kind": "error", "message"} or {"kind": "done",
    "image", "id"}.
    """

    def __init__(
        self,
        sandbox: Sandbox,
        tag: str,
        output: client.BuildOutput | None,
        steps: int,
        notes: tuple[str, ...] = (),
        lease: buildlimits.Lease | None = None,
        failure: str | None = None,
    ):
        self.sandbox = sandbox
        self.tag = tag
        self.steps = steps
        self._output = output
        self._notes = notes
        self._lease = lease
        self._failure = failure
        self._closed = threading.Event()
        self._after_step = False
        self._fork_failed = False

    @classmethod
    def failed(cls, sandbox: Sandbox, tag: str, message: str) -> BuildStream:
        """A build that ends before it starts, with `message` (a Dockerfile error)."""
        return cls(sandbox, tag, None, 0, failure=message)

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        if self._output is not None:
            self._output.close()
        self._release()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def _release(self) -> None:
        if self._lease is not None:
            self._lease.release()

    def __iter__(self) -> Iterator[dict]:
        try:
            for note in self._notes:
                yield {"kind": "line", "text": note + "\n"}
            if self._failure is not None or self._output is None:
                yield {
                    "kind": "error",
                    "message": self._failure or "The build did not start.",
                }
                return
            yield from self._events(self._output)
        finally:
            self._release()

    def _events(self, output: client.BuildOutput) -> Iterator[dict]:
        sid = self.sandbox.sid
        image_id = None
        try:
            for chunk in output:
                if self.closed:
                    return
                if "error" in chunk:
                    detail = chunk.get("errorDetail") or {}
                    message = naming.strip(
                        sid, str(detail.get("message") or chunk["error"])
                    )
                    yield {"kind": "error", "message": self._explained(message.strip())}
                    return
                if "aux" in chunk and isinstance(chunk["aux"], dict):
                    image_id = chunk["aux"].get("ID") or image_id
                text = chunk.get("stream")
                if text is None and "status" in chunk:
                    text = (
                        f"{chunk['status']} {chunk.get('progress', '')}".rstrip() + "\n"
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
            output.close()
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

    def _explained(self, message: str) -> str:
        """The engine's message, plus the process limit when a step ran into it."""
        if self._fork_failed and buildlimits.pids_cap_reached(self.sandbox.sid):
            message += (
                f" A build step may run at most {settings.DOCKERLAB_BUILD_PIDS} "
                "processes at once here, and this one tried to start more."
            )
        return message

    def _lookup_id(self) -> str | None:
        try:
            return find_image(self.sandbox, self.tag)[0]["Id"]
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
                if any(sign in line for sign in _FORK_FAILED):
                    self._fork_failed = True
                yield {"kind": "line", "text": line}


def _dockerfile_text(dockerfile: str | None) -> str:
    if dockerfile is None:
        path = sample_dir() / "Dockerfile"
        if not path.is_file():
            raise SandboxError(
                "The sample app's Dockerfile is missing.", code="not_found"
            )
        return path.read_text()
    if not isinstance(dockerfile, str):
        raise BadRequest("The Dockerfile must be text.")
    try:
        size = len(dockerfile.encode("utf-8"))
    except UnicodeEncodeError:
        raise BadRequest(
            "The Dockerfile holds characters that are not valid text."
        ) from None
    if size > MAX_DOCKERFILE:
        raise BadRequest("The Dockerfile is too large (at most 64 KiB).")
    return dockerfile


def limits(sandbox: Sandbox) -> client.BuildLimits:
    """The limits every step container of the sandbox's builds gets."""
    return client.BuildLimits(
        memory=settings.DOCKERLAB_CONTAINER_MEMORY_MB * 1024 * 1024,
        cpus=settings.DOCKERLAB_CONTAINER_CPUS,
        network=settings.DOCKERLAB_BUILD_NETWORK,
        cgroup_parent=buildlimits.cgroup_parent(sandbox.sid),
    )


def _to_target(prepared: PreparedBuild, text: str, target: str) -> PreparedBuild:
    """The build up to stage `target`: it must name a stage; fewer steps to count."""
    lowered = target.lower() if isinstance(target, str) else ""
    parsed = df.parse(text)
    names = [ins.stage for ins in parsed.instructions if ins.keyword == "FROM"]
    if not lowered or lowered not in names:
        named = ", ".join(n for n in names if n) or "none"
        raise BadRequest(
            f"--target {str(target)[:40]}: the Dockerfile has no stage of that name "
            f"(its named stages: {named})."
        )
    kept: list[df.Instruction] = []
    seen_target = False
    for ins in df.parse(prepared.text).instructions:
        if ins.keyword == "FROM":
            if seen_target:
                break
            seen_target = ins.stage == lowered
        kept.append(ins)
    return replace(prepared, steps=df.steps(kept))


def build_image(
    sandbox: Sandbox,
    tag: str = "flask-app",
    dockerfile: str | None = None,
    no_cache: bool = False,
    app: str | None = None,
    target: str | None = None,
) -> BuildStream:
    """Start building the sample app as `tag`; iterate the result for events.

    `no_cache` rebuilds every step instead of reusing cached layers
    (`docker build --no-cache`). `app` is the learner's app.py, built in
    place of the sample's; `target` builds up to that stage of a multistage
    Dockerfile and tags it (`--target`). A Dockerfile the engine would reject
    too gives a stream with one error event; one the lab refuses raises
    BadRequest.
    """
    ref = naming.image_ref(tag)
    text = _dockerfile_text(dockerfile)
    if app is not None:
        app = check_app(app)
    check_tag_room(sandbox, ref)
    try:
        prepared = prepare(sandbox, text)
    except df.InvalidDockerfile as exc:
        return BuildStream.failed(sandbox, ref, exc.message)
    if app is not None:
        prepared = replace(
            prepared, notes=(*prepared.notes, "Building with your edited app.py.")
        )
    if target is not None:
        prepared = _to_target(prepared, text, target)
    context = build_context(sample_dir(), prepared.text, app)
    capacity.admit(sandbox, building=True)
    lease = buildlimits.Lease(sandbox.sid)
    try:
        build_limits = limits(sandbox)
        with engine_call(sandbox):
            output = client.build(
                context,
                tag=naming.engine_image(sandbox.sid, ref),
                limits=build_limits,
                no_cache=bool(no_cache),
                target=target,
            )
    except BaseException:
        lease.release()
        raise
    return BuildStream(sandbox, ref, output, prepared.steps, prepared.notes, lease)
