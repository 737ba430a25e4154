"""Lesson Markdown renders to highlighted, copyable code, tables and a table of contents."""

from __future__ import annotations

from lessons import rendering
from lessons.loader import load_lessons
from lessons.rendering import render_markdown
from lessons.testing import write_lesson, write_sample

DOCKERFILE = "FROM python:3.12-slim\nWORKDIR /app\nCMD [\"python\", \"app.py\"]\n"


def test_fenced_code_is_highlighted_with_pygments_classes():
    html = render_markdown("```python\nimport os\nprint(os.getcwd())\n```\n").html
    assert '<div class="codehilite">' in html
    assert '<span class="kn">import</span>' in html
    assert '<span class="nb">print</span>' in html


def test_every_code_block_gets_a_copy_button_hook():
    html = render_markdown("```console\n$ docker ps\n```\n\n    indented code\n").html
    assert html.count('class="copy-button" data-copy') == 2


def test_tables_render_as_html_tables():
    html = render_markdown("| VM | Container |\n|---|---|\n| own kernel | shared kernel |\n").html
    assert "<table>" in html and "<th>VM</th>" in html and "<td>shared kernel</td>" in html


def test_headings_get_anchors_and_a_table_of_contents():
    rendered = render_markdown("## First part\n\ntext\n\n### Detail\n\n## Second part\n")
    assert '<h2 id="first-part">First part</h2>' in rendered.html
    assert 'href="#first-part"' in rendered.toc
    assert 'href="#detail"' in rendered.toc
    assert 'href="#second-part"' in rendered.toc


def test_an_include_renders_the_file_with_a_caption(tmp_path):
    files = {"sample/app/app.py": "def hello():\n    return 'hi'\n"}
    html = render_markdown("Look:\n\n{!include sample/app/app.py!}\n\nDone.\n", files).html
    assert '<figcaption><code>sample/app/app.py</code></figcaption>' in html
    assert '<span class="k">def</span>' in html
    assert "<p>Done.</p>" in html


def test_included_dockerfiles_name_the_configured_image(settings):
    settings.DOCKERLAB_IMAGES = {"python": "classroom.local:5000/py:3.12", "mariadb": "mariadb:11",
                                 "registry": "registry:2"}
    html = render_markdown("{!include sample/app/Dockerfile!}\n",
                           {"sample/app/Dockerfile": DOCKERFILE}).html
    assert "classroom.local:5000/py:3.12" in html
    assert "python:3.12-slim" not in html
    assert '<span class="k">FROM</span>' in html


def test_a_changed_image_setting_is_not_served_from_a_stale_cache(settings):
    files = {"sample/app/Dockerfile": DOCKERFILE}
    first = render_markdown("{!include sample/app/Dockerfile!}\n", files).html
    settings.DOCKERLAB_IMAGES = {"python": "other/python:3.12", "mariadb": "mariadb:11",
                                 "registry": "registry:2"}
    second = render_markdown("{!include sample/app/Dockerfile!}\n", files).html
    assert "python:3.12-slim" in first
    assert "other/python:3.12" in second


def test_compose_files_name_the_configured_images(settings):
    settings.DOCKERLAB_IMAGES = {"python": "python:3.12-slim", "mariadb": "kit/mariadb:11",
                                 "registry": "registry:2"}
    compose = "services:\n  db:\n    image: mariadb:11\n  other:\n    image: nginx:1\n"
    html = render_markdown("{!include sample/app/compose.yaml!}\n",
                           {"sample/app/compose.yaml": compose}).html
    assert "kit/mariadb:11" in html and "nginx:1" in html


def test_rendering_is_cached_by_content():
    text = "## Cached\n\n```\nx\n```\n"
    assert render_markdown(text) is render_markdown(text)
    assert render_markdown(text + "more\n") is not render_markdown(text)


def test_a_whole_lesson_renders_body_and_steps(tmp_path, settings):
    settings.DOCKERLAB_IMAGES = {"python": "kit/python:3.12", "mariadb": "mariadb:11",
                                 "registry": "registry:2"}
    write_sample(tmp_path, "sample/app/Dockerfile", DOCKERFILE)
    write_lesson(tmp_path / "content", "x.md", body="## Build\n\n{!include sample/app/Dockerfile!}\n",
                 steps=[{"title": "Build", "text": "```console\n$ docker build .\n```"}])
    (lesson,) = load_lessons(tmp_path / "content", root=tmp_path)
    rendered = rendering.render_lesson(lesson)
    assert "kit/python:3.12" in rendered.body.html
    assert 'class="gp"' in rendered.steps[0]


def test_the_pygments_stylesheet_targets_code_blocks():
    css = rendering.pygments_css()
    assert ".codehilite .k " in css or ".codehilite .k{" in css
