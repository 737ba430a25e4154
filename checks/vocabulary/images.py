"""Checks on the sandbox's images: there, built from a Dockerfile, removed, smaller."""

from __future__ import annotations

from typing import Any

from checks.base import ENGINE, HISTORY, define, failed, passed
from checks.context import Context
from checks.schema import Image, Integer, Labels, SampleDockerfile
from checks.vocabulary.helpers import about_image, latest, short
from engine import client
from engine import images as lesson_images
from sandboxes.commands import sample_dockerfiles
from sandboxes.services import dockerfile as df
from sandboxes.services.common import engine_call

_NOP = "/bin/sh -c #(nop)"
_SHELL = "/bin/sh -c "
_LAB_LABEL = "org.dockerlab."


def _describe_exists(p: dict[str, Any]) -> str:
    text = f"an image {short(p['image'])} is in your sandbox"
    if "dockerfile" in p:
        text += f", built from the sample's {p['dockerfile']}"
    if "labels" in p:
        text += ", labelled " + ", ".join(f"{k}={v}" for k, v in p["labels"].items())
    return text


@define(
    "image_exists",
    summary="An image is in the learner's sandbox, optionally built from one of the sample's "
    "Dockerfiles and carrying labels.",
    params={
        "image": Image(required=True, doc="the image, e.g. flask-app:v2"),
        "dockerfile": SampleDockerfile(doc="the sample Dockerfile it must be built from"),
        "labels": Labels(doc="labels it must carry, key: value"),
    },
    describe=_describe_exists,
)
def image_exists(ctx: Context, p: dict[str, Any]):
    ref = p["image"]
    found = ctx.image(ref)
    if found is None:
        return failed(
            f"There is no image {short(ref)} in your sandbox.",
            f"Build it and name it with -t: docker build -t {short(ref)} .",
        )
    with engine_call(ctx.sandbox):
        info = client.api().inspect_image(found["Id"])
    for key, value in (p.get("labels") or {}).items():
        have = ((info.get("Config") or {}).get("Labels") or {}).get(key)
        if have != value:
            what = "no label " + key if have is None else f"the label {key}={have!r}"
            return failed(
                f"{short(ref)} has {what}, not {key}={value}.",
                f'Add LABEL {key}="{value}" to the Dockerfile and build again.',
            )
    if "dockerfile" in p:
        problem = _differs_from(ctx, found["Id"], info, p["dockerfile"])
        if problem:
            return failed(
                f"{short(ref)} was not built from the sample's {p['dockerfile']}: {problem}.",
                f"Build it from that file: docker build -f {p['dockerfile']} -t {short(ref)} .",
            )
        return passed(f"{short(ref)} is in your sandbox, built from {p['dockerfile']}.")
    return passed(f"{short(ref)} is in your sandbox.")


def _history_kind(created_by: str) -> str:
    """The instruction a history entry records (classic builder or BuildKit wording)."""
    text = created_by.strip().removesuffix("# buildkit").strip()
    if text.startswith(_NOP):
        return text[len(_NOP) :].split(maxsplit=1)[0].upper()
    first = text.split(maxsplit=1)[0] if text else ""
    if first.upper() in {
        "COPY",
        "ADD",
        "ENV",
        "CMD",
        "ENTRYPOINT",
        "WORKDIR",
        "EXPOSE",
        "LABEL",
        "USER",
        "ARG",
        "VOLUME",
        "HEALTHCHECK",
        "SHELL",
        "STOPSIGNAL",
        "ONBUILD",
    }:
        return first.upper()
    return "RUN"


def _lab_label(entry: dict) -> bool:
    return _history_kind(entry.get("CreatedBy", "")) == "LABEL" and _LAB_LABEL in entry.get(
        "CreatedBy", ""
    )


def _final_stage(text: str) -> tuple[str, list[df.Instruction]]:
    instructions = df.parse(lesson_images.localize_dockerfile(text)).instructions
    start = max(i for i, ins in enumerate(instructions) if ins.keyword == "FROM")
    return instructions[start].args[0], list(instructions[start + 1 :])


def _run_text(created_by: str) -> str:
    text = created_by.strip().removesuffix("# buildkit").strip()
    for prefix in ("RUN ", _SHELL):
        text = text.removeprefix(prefix)
    return " ".join(text.split())


def _differs_from(ctx: Context, image_id: str, info: dict, name: str) -> str | None:
    """Why image `image_id` was not built from sample Dockerfile `name`, or None.

    Compared: the base image's layers under it, and the final stage's build
    steps one by one against the image's history (the lab's own LABEL steps
    aside), with RUN commands word for word and the final CMD.
    """
    base, stage = _final_stage(sample_dockerfiles()[name])
    expected = [
        ins
        for ins in stage
        if not (ins.keyword == "LABEL" and any(_LAB_LABEL in arg for arg in ins.args))
    ]
    api = client.api()
    with engine_call(ctx.sandbox):
        history = [h for h in reversed(api.history(image_id)) if not _lab_label(h)]
        try:
            base_info = api.inspect_image(base)
            base_history = [h for h in api.history(base) if not _lab_label(h)]
        except client.NotFound:
            return f"its base image {base} is not on this engine"
    layers = (info.get("RootFS") or {}).get("Layers") or []
    base_layers = (base_info.get("RootFS") or {}).get("Layers") or []
    if layers[: len(base_layers)] != base_layers:
        return f"it is not built on {base}"
    own = history[len(base_history) :]
    if len(history) < len(base_history) or len(own) != len(expected):
        return f"it has {len(own)} build steps after FROM, {name} has {len(expected)}"
    for step, (entry, ins) in enumerate(zip(own, expected, strict=True), start=1):
        kind = _history_kind(entry.get("CreatedBy", ""))
        if kind != ins.keyword:
            return f"its step {step} after FROM is {kind}, where {name} has {ins.keyword}"
        if kind == "RUN" and ins.form != "json":
            if _run_text(entry.get("CreatedBy", "")) != " ".join(" ".join(ins.args).split()):
                return f"its RUN step {step} after FROM runs something else"
    cmds = [ins for ins in expected if ins.keyword == "CMD"]
    wanted = list(cmds[-1].args) if cmds and cmds[-1].form == "json" else None
    if wanted is not None and (info.get("Config") or {}).get("Cmd") != wanted:
        return "its CMD is different"
    return None


@define(
    "image_removed",
    summary="An image the learner had is gone, removed with docker rmi in the lab.",
    params={"image": Image(required=True, doc="the image that must be gone")},
    describe=lambda p: f"you removed the image {short(p['image'])} with docker rmi",
    needs=frozenset({ENGINE, HISTORY}),
)
def image_removed(ctx: Context, p: dict[str, Any]):
    ref = p["image"]
    if ctx.image(ref) is not None:
        return failed(
            f"{short(ref)} is still in your sandbox.", f"Remove it: docker rmi {short(ref)}"
        )
    entry = latest(ctx.history, about_image(ref))
    if entry is None or entry.action != "rmi":
        return failed(
            f"You have not removed an image {short(ref)} in the lab yet.",
            f"It must be there first; then remove it: docker rmi {short(ref)}",
        )
    if not entry.ok:
        return failed(f"Your last docker rmi {short(ref)} failed: {entry.message}")
    return passed(f"{short(ref)} is gone: you removed it with docker rmi.")


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


@define(
    "image_smaller",
    summary="One of the learner's images is smaller than another (within a tolerance).",
    params={
        "image": Image(required=True, doc="the image that must be smaller"),
        "than": Image(required=True, doc="the image it is compared with"),
        "tolerance_percent": Integer(
            minimum=0, maximum=50, default=0, doc="how much larger it may be and still count"
        ),
    },
    describe=lambda p: (
        f"{short(p['image'])} is smaller than {short(p['than'])}"
        + (f" (or at most {p['tolerance_percent']}% larger)" if p.get("tolerance_percent") else "")
    ),
)
def image_smaller(ctx: Context, p: dict[str, Any]):
    images = {}
    for key in ("image", "than"):
        found = ctx.image(p[key])
        if found is None:
            return failed(
                f"There is no image {short(p[key])} in your sandbox to compare.",
                f"Build it first: docker build -t {short(p[key])} .",
            )
        images[key] = int(found.get("Size") or 0)
    size, other = images["image"], images["than"]
    tolerance = p.get("tolerance_percent", 0)
    limit = other * (1 + tolerance / 100)
    shown = f"{short(p['image'])} ({_mb(size)}) and {short(p['than'])} ({_mb(other)})"
    if size < other or (tolerance and size <= limit):
        return passed(f"Compared: {shown}.")
    if tolerance:
        return failed(
            f"{short(p['image'])} is more than {tolerance}% larger than {short(p['than'])}: {shown}."
        )
    return failed(f"{short(p['image'])} is not smaller than {short(p['than'])}: {shown}.")
