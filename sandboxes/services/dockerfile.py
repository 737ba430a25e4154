"""Just enough Dockerfile reading to count build steps and see what a build uses.

The engine's classic builder numbers its steps ("Step 3/7 : ..."); knowing the
total before the first byte arrives lets the page draw a progress bar at once.
The same pass finds every image a build would read (FROM and COPY --from), so
a learner's Dockerfile can be held to the images their sandbox may use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DIRECTIVE = re.compile(r"^#\s*([A-Za-z]+)\s*=\s*(\S*)\s*$")


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY ...
    args: str  # the instruction's arguments, continuation lines joined
    line: int  # 0-based index of the physical line it starts on


def _escape_char(lines: list[str]) -> str:
    escape = "\\"
    for raw in lines:
        match = _DIRECTIVE.match(raw.strip())
        if not match:
            break
        if match.group(1).lower() == "escape" and match.group(2) in ("\\", "`"):
            escape = match.group(2)
    return escape


def instructions(text: str) -> list[Instruction]:
    """The Dockerfile's instructions, in order, the way the builder splits them."""
    # The builder splits on "\n" alone (dropping a "\r" before it), not on
    # every character Python counts as a line break.
    lines = [raw.removesuffix("\r") for raw in text.split("\n")]
    continuation = re.compile(re.escape(_escape_char(lines)) + r"[ \t]*$")
    result: list[Instruction] = []
    parts: list[str] = []
    start = 0
    for index, raw in enumerate(lines):
        stripped = raw.strip()
        if not parts:
            if not stripped or stripped.startswith("#"):
                continue
            start = index
        elif not stripped or stripped.startswith("#"):
            # Comments and blank lines inside a continued instruction are dropped.
            continue
        match = continuation.search(raw)
        if match:
            parts.append(raw[: match.start()])
            continue
        parts.append(raw)
        result.append(_instruction(parts, start))
        parts = []
    if parts:
        result.append(_instruction(parts, start))
    return result


def _instruction(parts: list[str], start: int) -> Instruction:
    joined = " ".join(part.strip() for part in parts).strip()
    keyword, _, args = joined.partition(" ")
    if "\t" in keyword:
        keyword, _, rest = keyword.partition("\t")
        args = f"{rest} {args}".strip()
    return Instruction(keyword.upper(), args.strip(), start)


def count_steps(text: str) -> int:
    return len(instructions(text))


@dataclass(frozen=True)
class ImageUse:
    kind: str  # "from" or "copy-from"
    image: str  # as written
    line: int
    stage: str | None  # the name a FROM gives its stage (FROM x AS name)


def image_uses(text: str) -> list[ImageUse]:
    """Every FROM image and every COPY --from source, in order."""
    uses: list[ImageUse] = []
    for ins in instructions(text):
        words = ins.args.split()
        if ins.keyword == "FROM":
            words = [w for w in words if not w.startswith("--")]
            if not words:
                continue
            stage = (
                words[2].lower()
                if len(words) >= 3 and words[1].lower() == "as"
                else None
            )
            uses.append(ImageUse("from", words[0], ins.line, stage))
        elif ins.keyword in ("COPY", "ADD"):
            for word in words:
                if not word.startswith("--"):
                    break
                if word.lower().startswith("--from="):
                    uses.append(
                        ImageUse("copy-from", word.split("=", 1)[1], ins.line, None)
                    )
    return uses
