"""Template tags for the parts of a lesson page around its text.

`{% lesson_meta lesson %}` shows how long the lesson takes and what to do
first (links to the prerequisite lessons); `{% lesson_recap lesson %}` its
recap and troubleshooting notes. Everything is the loader's validated data,
escaped; `backticks` in a note become code.
"""

from __future__ import annotations

import html
import re

from django import template
from django.utils.safestring import SafeString, mark_safe

from lessons import loader

register = template.Library()

_CODE = re.compile(r"`([^`]+)`")


@register.filter
def with_code(text: str) -> SafeString:
    """Plain text with `spans` shown as code; everything else escaped."""
    parts = _CODE.split(str(text))
    out = [
        f"<code>{html.escape(part)}</code>" if index % 2 else html.escape(part)
        for index, part in enumerate(parts)
    ]
    return mark_safe("".join(out))


@register.inclusion_tag("lessons/_meta.html")
def lesson_meta(lesson: loader.Lesson) -> dict:
    return {"lesson": lesson, "prerequisites": loader.prerequisites(lesson)}


@register.inclusion_tag("lessons/_recap.html")
def lesson_recap(lesson: loader.Lesson) -> dict:
    return {"lesson": lesson}
