"""Lesson Markdown to HTML: highlighted code, tables, a table of contents.

Included repository files are rewritten for this deployment first (Dockerfile
FROM lines, Compose `image:` lines name the configured images), so the cache
key is the hash of everything that went into the page; a changed setting gives
a new key rather than a stale page.

Every `$ ` line of a code block is read once, here, by the lab's own parse
(sandboxes.commands): after the block, each line the lab can do gets a Try
button carrying the line's text (the page sends it back in a `line` action,
which the server parses again: the button is a convenience, never trusted),
and each line it cannot do is marked "runs on your own machine" with the
parse's reason.
"""

from __future__ import annotations

import hashlib
import html
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import markdown
from markdown.extensions import Extension
from markdown.preprocessors import Preprocessor
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import TextLexer, get_lexer_by_name, get_lexer_for_filename
from pygments.util import ClassNotFound

from engine.images import localize_dockerfile, localize_name
from lessons.loader import INCLUDE_RE, Lesson
from sandboxes import commands

PYGMENTS_STYLE = "default"
CODE_CLASS = "codehilite"
COPY_BUTTON = '<button type="button" class="copy-button" data-copy hidden>Copy</button>'
_CACHE_SIZE = 256

_IMAGE_LINE = re.compile(r"^(\s*image:\s*)([\"']?)([^\s\"'#]+)\2(.*)$", re.MULTILINE)


@dataclass(frozen=True)
class Rendered:
    html: str
    toc: str


@dataclass(frozen=True)
class RenderedLesson:
    body: Rendered
    steps: tuple[str, ...]


def localize_compose(text: str) -> str:
    """Rewrite Compose `image:` values that name an official image."""
    return _IMAGE_LINE.sub(
        lambda m: m.group(1) + m.group(2) + localize_name(m.group(3)) + m.group(2) + m.group(4),
        text,
    )


def localize_include(path: str, text: str) -> str:
    """The text a learner should read for repository file `path`."""
    name = path.rsplit("/", 1)[-1]
    if name.startswith("Dockerfile") or name.endswith(".Dockerfile"):
        return localize_dockerfile(text)
    if name in {"compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"}:
        return localize_compose(text)
    return text


def _lexer_for(path: str):
    name = path.rsplit("/", 1)[-1]
    if name.startswith("Dockerfile") or name.endswith(".Dockerfile"):
        return get_lexer_by_name("docker")
    if name.endswith(".txt"):
        return TextLexer()
    try:
        return get_lexer_for_filename(name)
    except ClassNotFound:
        return TextLexer()


def highlight_file(path: str, text: str) -> str:
    """A repository file as a captioned, highlighted code block."""
    code = highlight(text, _lexer_for(path), HtmlFormatter(cssclass=CODE_CLASS, wrapcode=True))
    return (
        f'<figure class="code-include" data-path="{html.escape(path)}">'
        f"<figcaption><code>{html.escape(path)}</code></figcaption>{code}</figure>"
    )


class _IncludePreprocessor(Preprocessor):
    def __init__(self, md: markdown.Markdown, files: Mapping[str, str]) -> None:
        super().__init__(md)
        self.files = files

    def run(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        for line in lines:
            match = INCLUDE_RE.match(line)
            if match is None:
                out.append(line)
                continue
            path = match.group("path")
            if path not in self.files:
                # The loader validated every include; this is a programming error.
                raise KeyError(f"include {path!r} was not loaded with the lesson")
            block = highlight_file(path, self.files[path])
            out.extend(["", self.md.htmlStash.store(block), ""])
        return out


_FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass(frozen=True)
class LineMark:
    """What the lab makes of one `$ ` line of a lesson."""

    text: str  # the line as printed, without its prompt
    doable: bool
    kind: str = ""  # the first action's name when doable (build, run, network ...)
    reason: str = ""  # why not, when not
    code: str = ""  # LineRefused's code when not


def mark_line(text: str) -> LineMark:
    """Whether the lab can do a lesson line, by the lab's own parse."""
    try:
        parsed = commands.parse_line(text)
    except commands.LineRefused as exc:
        return LineMark(text, False, reason=exc.reason, code=exc.code)
    return LineMark(text, True, kind=parsed.actions[0].action)


def marks_html(marks: list[LineMark]) -> str:
    """The Try buttons and "own machine" notes shown after a code block."""
    items = []
    for mark in marks:
        text = html.escape(mark.text)
        if mark.doable:
            items.append(
                f'<button type="button" class="secondary lab-try" data-lab-try="{mark.kind}" '
                f'data-lab-line="{text}" disabled hidden>Try: {text}</button>'
            )
        else:
            items.append(
                f'<p class="lab-host-only" data-lab-host-only="{html.escape(mark.code)}">'
                f"<span class=\"lab-host-only-label\">On your own machine:</span> "
                f"<code>{text}</code> <span class=\"lab-host-only-why\">"
                f"{html.escape(mark.reason)}</span></p>"
            )
    return '<div class="lab-lines" data-lab-lines>' + "".join(items) + "</div>"


class _LinePreprocessor(Preprocessor):
    """After each code block with `$ ` lines, the lab's marks for those lines."""

    def run(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        block: list[str] | None = None
        for line in lines:
            out.append(line)
            if not _FENCE.match(line):
                if block is not None:
                    block.append(line)
                continue
            if block is None:
                block = []
                continue
            prompts = list(commands.prompt_lines("```\n" + "\n".join(block) + "\n```"))
            block = None
            if prompts:
                marks = [mark_line(text) for text in prompts]
                out.extend(["", self.md.htmlStash.store(marks_html(marks)), ""])
        return out


class _IncludeExtension(Extension):
    def __init__(self, files: Mapping[str, str]) -> None:
        super().__init__()
        self.files = files

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        # Before fenced code (25) and HTML block handling (20) see the lines.
        md.preprocessors.register(_IncludePreprocessor(md, self.files), "dockerlab_include", 30)
        md.preprocessors.register(_LinePreprocessor(md), "dockerlab_lines", 29)


def _markdown(files: Mapping[str, str]) -> markdown.Markdown:
    return markdown.Markdown(
        extensions=["fenced_code", "codehilite", "tables", "toc", _IncludeExtension(files)],
        extension_configs={
            "codehilite": {"css_class": CODE_CLASS, "guess_lang": False, "wrapcode": True},
            "toc": {"toc_depth": "2-3", "permalink": False},
        },
        output_format="html",
    )


_cache: OrderedDict[str, Rendered] = OrderedDict()
_lock = threading.Lock()


def cache_key(text: str, files: Mapping[str, str]) -> str:
    digest = hashlib.sha256(text.encode())
    for path in sorted(files):
        digest.update(b"\0" + path.encode() + b"\0" + files[path].encode())
    return digest.hexdigest()


def render_markdown(text: str, includes: Mapping[str, str] | None = None) -> Rendered:
    """HTML and a table of contents for lesson Markdown, cached by content hash.

    `includes` maps repository paths to their text as loaded; they are localized
    here because the configured images may differ from the repository's.
    """
    used = {m.group("path") for m in INCLUDE_RE.finditer(text)}
    files = {path: localize_include(path, (includes or {})[path]) for path in used}
    key = cache_key(text, files)
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    md = _markdown(files)
    body = add_copy_buttons(md.convert(text))
    toc = md.toc if getattr(md, "toc_tokens", None) else ""
    rendered = Rendered(html=body, toc=toc)
    with _lock:
        _cache[key] = rendered
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return rendered


def add_copy_buttons(body: str) -> str:
    """Give every highlighted block a copy button (lessons.js shows and wires it)."""
    return body.replace(f'<div class="{CODE_CLASS}">', f'<div class="{CODE_CLASS}">{COPY_BUTTON}')


def render_lesson(lesson: Lesson) -> RenderedLesson:
    return RenderedLesson(
        body=render_markdown(lesson.body, lesson.includes),
        steps=tuple(render_markdown(step.text, lesson.includes).html for step in lesson.steps),
    )


@lru_cache(maxsize=1)
def pygments_css() -> str:
    """The stylesheet for highlighted blocks, generated from the Pygments style."""
    return HtmlFormatter(style=PYGMENTS_STYLE).get_style_defs(f".{CODE_CLASS}") + "\n"
