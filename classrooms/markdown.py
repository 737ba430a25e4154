"""Trainers' Markdown, rendered inert: the lessons' setup with raw HTML escaped.

Lesson files are ours; an exercise's instructions are a trainer's, and they
are shown to learners. So, on top of the lessons' Markdown (fenced code
highlighted by Pygments, tables, copy buttons: lessons.rendering):

- raw HTML is never passed through: the block and inline HTML handlers are
  removed, so `<script>` or `<img onerror=...>` arrive as visible text;
- a link or image may only lead to http, https or mailto, or stay on the
  site (a relative address); anything else (`javascript:`, `data:`, and
  their entity- or whitespace-disguised spellings) loses its address;
- images are shown as links to them, so a learner's browser fetches nothing
  from a place a trainer chose just by opening the page;
- no `{!include ...!}`, no table of contents: lessons only.

Rendered pages are cached by their text (rendering is pure).
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as etree
from functools import lru_cache

import markdown
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

from lessons.rendering import CODE_CLASS, add_copy_buttons

SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
# Browsers drop these anywhere in a URL before they read its scheme.
_IGNORED_IN_URL = re.compile(r"[\t\n\r]")
_ENTITY = re.compile(r"&(?:#[0-9]+|#x[0-9a-f]+|[0-9a-z]+);", re.IGNORECASE)


def safe_url(value: str) -> str | None:
    """`value` if a browser would follow it to a safe place, else None."""
    url = value
    for _ in range(3):  # entities inside entities: decode until nothing changes
        decoded = html.unescape(url)
        if decoded == url:
            break
        url = decoded
    else:
        return None
    url = _IGNORED_IN_URL.sub("", url).strip(
        "\x00\x01\x02\x03\x04\x05\x06\x07\x08 \x0b\x0c"
    )
    if _ENTITY.search(url) or any(
        ord(char) < 0x20 or ord(char) == 0x7F for char in url
    ):
        return None
    match = _SCHEME.match(url)
    if match is not None and match.group(1).lower() not in SAFE_SCHEMES:
        return None
    if match is None and ":" in url.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]:
        return None  # something like "java script:" that is neither a scheme nor a path
    return url


class _SafeLinks(Treeprocessor):
    def run(self, root: etree.Element) -> None:
        for parent in list(root.iter()):
            for index, child in enumerate(list(parent)):
                if child.tag == "img":
                    parent[index] = child = _image_as_link(child)
                if child.tag == "a":
                    url = safe_url(child.get("href", ""))
                    if url is None:
                        child.attrib.pop("href", None)
                    else:
                        child.set("href", url)
                        child.set("rel", "nofollow noopener noreferrer")


def _image_as_link(image: etree.Element) -> etree.Element:
    link = etree.Element("a", {"href": image.get("src", "")})
    link.text = image.get("alt") or "image"
    link.tail = image.tail
    return link


class _Inert(Extension):
    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        # After inline patterns have made the links (priority 20 is "inline").
        md.treeprocessors.register(_SafeLinks(md), "dockerlab_safe_links", 5)


def _markdown() -> markdown.Markdown:
    return markdown.Markdown(
        extensions=["fenced_code", "codehilite", "tables", _Inert()],
        extension_configs={
            "codehilite": {
                "css_class": CODE_CLASS,
                "guess_lang": False,
                "wrapcode": True,
            }
        },
        output_format="html",
    )


@lru_cache(maxsize=256)
def render_untrusted(text: str) -> str:
    """HTML for a trainer's Markdown, with no HTML of theirs in it (see the module doc)."""
    return add_copy_buttons(_markdown().convert(text))
