"""Lesson files are validated on load, with errors that name the file and the field."""

from __future__ import annotations

import pytest

from lessons import loader
from lessons.loader import LessonError, load_lessons
from lessons.testing import write_lesson, write_sample


def load(tmp_path):
    return load_lessons(tmp_path / "content", root=tmp_path)


def test_it_loads_good_files_sorted_by_order(tmp_path):
    content = tmp_path / "content"
    write_lesson(content, "b.md", slug="second", order=2, title="Second")
    write_lesson(content, "a.md", slug="first", order=1, title="First",
                 quiz=[{"question": "Q?", "options": ["x", "y"], "answer": 1, "explain": "Because."}],
                 lab=["build", "run"])
    lessons = load(tmp_path)
    assert [lesson.slug for lesson in lessons] == ["first", "second"]
    first = lessons[0]
    assert first.title == "First"
    assert first.objectives == ("Learn a thing",)
    assert first.steps[0].action == "run"
    assert first.quiz[0].options == ("x", "y") and first.quiz[0].answer == 1
    assert first.lab == ("build", "run")
    assert "## Hello" in first.body


def test_it_names_the_file_and_a_missing_field(tmp_path):
    write_lesson(tmp_path / "content", "03-x.md", summary=None)
    with pytest.raises(LessonError, match=r"03-x\.md: front matter field 'summary' is missing"):
        load(tmp_path)


def test_it_names_the_file_and_a_field_of_the_wrong_type(tmp_path):
    write_lesson(tmp_path / "content", "03-x.md", order="three")
    with pytest.raises(LessonError, match=r"03-x\.md: front matter field 'order' must be an integer"):
        load(tmp_path)


def test_it_refuses_a_boolean_where_an_integer_is_needed(tmp_path):
    write_lesson(tmp_path / "content", "03-x.md", order=True)
    with pytest.raises(LessonError, match="'order' must be an integer"):
        load(tmp_path)


def test_it_rejects_an_empty_objectives_list(tmp_path):
    write_lesson(tmp_path / "content", "x.md", objectives=[])
    with pytest.raises(LessonError, match="'objectives' must not be empty"):
        load(tmp_path)


def test_it_rejects_an_unknown_field_so_typos_surface(tmp_path):
    write_lesson(tmp_path / "content", "x.md", quizz=[])
    with pytest.raises(LessonError, match="unknown front matter field 'quizz'"):
        load(tmp_path)


def test_it_rejects_a_slug_with_capitals_or_slashes(tmp_path):
    write_lesson(tmp_path / "content", "x.md", slug="Bad/Slug")
    with pytest.raises(LessonError, match="x.md: front matter field 'slug' must be lowercase"):
        load(tmp_path)


def test_it_rejects_an_unknown_lab_action(tmp_path):
    write_lesson(tmp_path / "content", "x.md",
                 steps=[{"title": "t", "text": "x", "action": "format-disk"}])
    with pytest.raises(LessonError, match=r"'steps\[0\]\.action' names an unknown lab action"):
        load(tmp_path)


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ({"question": "Q", "options": ["only one"], "answer": 0, "explain": "e"},
         r"'quiz\[0\]\.options' needs at least 2 options"),
        ({"question": "Q", "options": ["a", "b"], "answer": 2, "explain": "e"},
         r"'quiz\[0\]\.answer' must be an option index from 0 to 1"),
        ({"question": "Q", "options": ["a", "b"], "answer": "a", "explain": "e"},
         r"'quiz\[0\]\.answer' must be an integer"),
        ({"question": "Q", "options": ["a", "b"], "answer": 0},
         r"'quiz\[0\]\.explain' is missing"),
    ],
)
def test_it_checks_every_quiz_question(tmp_path, question, message):
    write_lesson(tmp_path / "content", "q.md", quiz=[question])
    with pytest.raises(LessonError, match=message):
        load(tmp_path)


def test_bad_yaml_names_the_file_and_line(tmp_path):
    content = tmp_path / "content"
    content.mkdir()
    (content / "broken.md").write_text(
        "---\ntitle: Fine\nslug: broken\nobjectives: [one, two\norder: 1\n---\nBody\n"
    )
    with pytest.raises(LessonError, match=r"broken\.md, line \d+: invalid YAML") as info:
        load(tmp_path)
    line = int(str(info.value).split("line ")[1].split(":")[0])
    assert 4 <= line <= 6


def test_it_requires_front_matter(tmp_path):
    content = tmp_path / "content"
    content.mkdir()
    (content / "plain.md").write_text("# Just Markdown\n")
    with pytest.raises(LessonError, match=r"plain\.md: must start with a '---' line"):
        load(tmp_path)


def test_it_rejects_duplicate_slugs_naming_both_files(tmp_path):
    content = tmp_path / "content"
    write_lesson(content, "01-a.md", slug="same", order=1)
    write_lesson(content, "02-b.md", slug="same", order=2)
    with pytest.raises(LessonError, match=r"02-b\.md: front matter field 'slug' 'same' is already used by .*01-a\.md"):
        load(tmp_path)


def test_it_rejects_duplicate_orders(tmp_path):
    content = tmp_path / "content"
    write_lesson(content, "01-a.md", slug="a", order=4)
    write_lesson(content, "02-b.md", slug="b", order=4)
    with pytest.raises(LessonError, match=r"02-b\.md: front matter field 'order' 4 is already used"):
        load(tmp_path)


def test_it_reads_included_sample_files(tmp_path):
    write_sample(tmp_path, "sample/app/Dockerfile", "FROM python:3.12-slim\n")
    write_lesson(tmp_path / "content", "x.md", body="Intro\n\n{!include sample/app/Dockerfile!}\n")
    (lesson,) = load(tmp_path)
    assert lesson.includes == {"sample/app/Dockerfile": "FROM python:3.12-slim\n"}


@pytest.mark.parametrize(
    "path",
    ["lessons/loader.py", "/etc/passwd", "sample/../dockerlab/settings.py", "sample/../../x",
     "var/secret_key"],
)
def test_it_rejects_include_paths_outside_sample(tmp_path, path):
    write_lesson(tmp_path / "content", "x.md", body=f"{{!include {path}!}}\n")
    with pytest.raises(LessonError, match=r"x\.md: include path .* is not allowed"):
        load(tmp_path)


def test_it_rejects_a_symlink_that_leaves_sample(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("hush")
    (tmp_path / "sample").mkdir()
    (tmp_path / "sample" / "link.txt").symlink_to(secret)
    write_lesson(tmp_path / "content", "x.md", body="{!include sample/link.txt!}\n")
    with pytest.raises(LessonError, match="leads outside sample/"):
        load(tmp_path)


def test_a_missing_include_names_the_lesson_and_the_path(tmp_path):
    write_lesson(tmp_path / "content", "x.md",
                 steps=[{"title": "t", "text": "{!include sample/nope/Dockerfile!}"}])
    with pytest.raises(LessonError, match=r"x\.md: include file 'sample/nope/Dockerfile' does not exist"):
        load(tmp_path)


def test_a_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(LessonError, match="lesson directory does not exist"):
        load_lessons(tmp_path / "nowhere", root=tmp_path)


def test_get_lesson_refuses_malformed_slugs_without_lookup(tmp_path):
    write_lesson(tmp_path / "content", "x.md", slug="x")
    previous = loader.all_lessons()
    try:
        loader.install(load(tmp_path))
        assert loader.get_lesson("x").slug == "x"
        for slug in ["X", "../x", "x/", "", "x\x00"]:
            assert loader.get_lesson(slug) is None
    finally:
        loader.install(previous)
