"""Helpers for tests: small lesson files written into a temporary directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def front_matter(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": "A lesson",
        "slug": "a-lesson",
        "order": 1,
        "summary": "What it is about.",
        "objectives": ["Learn a thing"],
        "steps": [{"title": "Do it", "text": "Run `docker ps`.", "action": "run"}],
    }
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def write_lesson(directory: Path, name: str, body: str = "## Hello\n\nSome text.\n",
                 **overrides: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    header = yaml.safe_dump(front_matter(**overrides), sort_keys=False)
    path.write_text(f"---\n{header}---\n{body}", encoding="utf-8")
    return path


def write_sample(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
