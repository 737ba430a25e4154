"""Which images the lessons use, and Dockerfiles rewritten to use them.

The sample Dockerfiles in the repository name the official images (what a
learner would write anywhere). A deployment may configure other names (a
private registry, the classroom kit's builds); `localize_dockerfile` rewrites
FROM lines so what a learner reads is what gets built.
"""

from __future__ import annotations

import re

from django.conf import settings

# The names the repository's Dockerfiles and compose files are written with.
OFFICIAL = {
    "python": "python:3.12-slim",
    "mariadb": "mariadb:11",
    "registry": "registry:2",
    "python-build": "python:3.12",
}

_FROM = re.compile(r"^(\s*FROM\s+(?:--platform=\S+\s+)?)(\S+)(.*)$", re.IGNORECASE | re.MULTILINE)


def configured() -> dict[str, str]:
    """Role -> image name, as configured for this deployment."""
    return dict(settings.DOCKERLAB_IMAGES)


def localize_name(name: str) -> str:
    """The configured image for an official name; other names pass through."""
    images = configured()
    for role, official in OFFICIAL.items():
        if name == official:
            return images.get(role, official)
    return name


def localize_dockerfile(text: str) -> str:
    """Rewrite FROM lines that name an official image to the configured one."""
    return _FROM.sub(lambda m: m.group(1) + localize_name(m.group(2)) + m.group(3), text)
