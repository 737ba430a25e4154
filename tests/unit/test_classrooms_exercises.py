"""Trainers' exercises are checked like lesson files, and rendered inert.

Hostile or mistaken parameters get a clear message naming the check and
the field; Markdown with script or HTML is shown as text; a solution line
the lab cannot run is named, with why.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from checks.base import vocabulary
from classrooms import exercises
from classrooms.exercises import InvalidExercise, clean_checks, clean_solution
from classrooms.markdown import render_untrusted, safe_url
from classrooms.models import Exercise
from tests.unit.classrooms_helpers import (
    assign_exercise,
    classroom,
    editor_post,
    exercise,
    member,
    user,
)


def _refused(checks) -> InvalidExercise:
    with pytest.raises(InvalidExercise) as info:
        clean_checks(checks)
    return info.value


@pytest.mark.parametrize(
    "checks, path, words",
    [
        (
            [{"check": "container_running", "with": {"name": "web", "port": "5002"}}],
            "checks[0].with.port",
            "Check 1 (container_running): port must be a port number from 1 to 65535",
        ),
        (
            [
                {"check": "image_exists", "with": {"image": "flask-app"}},
                {"check": "container_running", "with": {"name": "web", "port": 70000}},
            ],
            "checks[1].with.port",
            "Check 2 (container_running): port must be a port number",
        ),
        (
            [{"check": "container_running", "with": {"name": "web\nrm -rf /"}}],
            "checks[0].with.name",
            "Check 1 (container_running): name must be a container name",
        ),
        (
            [{"check": "container_running", "with": {"name": "web", "privileged": True}}],
            "checks[0].with.privileged",
            "privileged is not a parameter of this check",
        ),
        (
            [{"check": "rm_rf", "with": {}}],
            "checks[0].check",
            "Check 1: the check must name a known check (got 'rm_rf'",
        ),
        (
            [{"check": "http_answers", "with": {"container": "web", "path": "/a b"}}],
            "checks[0].with.path",
            "Check 1 (http_answers): path must be a path starting with /",
        ),
        (
            [{"check": "http_answers", "with": {"container": "web", "timeout": 1e9}}],
            "checks[0].with.timeout",
            "timeout must be a number of seconds",
        ),
        (
            [{"check": "image_exists", "with": {"image": "flask-app", "labels": {"A B": "x"}}}],
            "checks[0].with.labels",
            "Check 1 (image_exists): labels has 'A B', which is not a label key",
        ),
        (
            [{"check": "image_exists", "with": {"image": "../../etc/passwd"}}],
            "checks[0].with.image",
            "image must be an image name",
        ),
        (
            [{"check": "image_exists", "with": {"image": "flask-app", "dockerfile": "../x"}}],
            "checks[0].with.dockerfile",
            "dockerfile must be the name of one of the sample app's Dockerfiles",
        ),
        (
            [{"check": "quiz_passed", "with": {}}],
            "checks[0].with.lesson",
            "Check 1 (quiz_passed): lesson must name a lesson with a quiz",
        ),
        (
            [{"check": "quiz_passed", "with": {"lesson": "orchestration", "min_correct": 101}}],
            "checks[0].with.min_correct",
            "Check 1 (quiz_passed): min_correct must be a whole number from 1 to 100",
        ),
        (
            [{"check": "quiz_passed", "with": {"lesson": "orchestration", "min_correct": 9}}],
            "checks[0].with.min_correct",
            "min_correct is more than the 4 questions",
        ),
        ([{"check": "image_exists", "with": "flask-app"}], "checks[0].with", "its parameters"),
        (["image_exists"], "checks[0]", "Check 1: must be a mapping"),
        ([{"check": "image_exists", "do": "x"}], "checks[0].do", "is not a field of a check"),
    ],
)
def test_hostile_check_parameters_get_a_message_naming_the_field(checks, path, words):
    error = _refused(checks)
    assert error.field == "checks"
    assert error.path == path
    assert words in error.message


def test_a_check_list_must_have_one_to_twelve_checks():
    assert "at least one check" in _refused([]).message
    assert "at least one check" in _refused({"check": "image_exists"}).message
    many = [{"check": "image_exists", "with": {"image": "flask-app"}}] * 13
    assert "at most 12 checks" in _refused(many).message


def test_solution_lines_the_lab_cannot_run_are_each_named_with_why():
    with pytest.raises(InvalidExercise) as info:
        clean_solution(
            ["docker build -t flask-app .", "curl localhost:5002", "docker run x | tee y"]
        )
    message = info.value.message
    assert "line 2 (curl localhost:5002): `curl` runs on your own machine" in message
    assert "line 3 (docker run x | tee y)" in message
    assert "line 1" not in message
    assert info.value.path == "solution[1]"
    assert clean_solution(["$ docker run -d --name web flask-app", "  "]) == (
        "$ docker run -d --name web flask-app",
    )


@pytest.mark.parametrize(
    "title, words",
    [("", "title is missing"), ("a\nb", "one line"), ("x" * 201, "at most 200")],
)
def test_a_title_is_one_line(title, words):
    with pytest.raises(InvalidExercise, match=words):
        exercises.clean_title(title)


def test_instructions_are_bounded_and_free_of_control_characters():
    with pytest.raises(InvalidExercise, match="missing"):
        exercises.clean_instructions("   ")
    with pytest.raises(InvalidExercise, match="too long"):
        exercises.clean_instructions("x" * 20_001)
    with pytest.raises(InvalidExercise, match="control characters"):
        exercises.clean_instructions("hi\x00there")
    assert exercises.clean_instructions("a\r\n\tb") == "a\n\tb\n"


def test_hints_are_single_lines():
    assert exercises.clean_hints(["one", " ", "two"]) == ("one", "two")
    with pytest.raises(InvalidExercise, match="at most 8 hints"):
        exercises.clean_hints(["h"] * 9)
    with pytest.raises(InvalidExercise, match="Hint 1 must be one line"):
        exercises.clean_hints(["x" * 501])
    with pytest.raises(InvalidExercise):
        exercises.clean_hints([{"evil": 1}])


# --- Markdown -------------------------------------------------------------------------


HOSTILE_MARKDOWN = """<script>alert(1)</script>

Hello <img src=x onerror=alert(2)> **bold** <b onmouseover=alert(3)>b</b>

<div onclick="alert(4)">
block
</div>

<iframe src="https://evil.example/"></iframe>

[a](javascript:alert(5)) [b](JaVaScRiPt:alert(6)) [c](&#106;avascript:alert(7))
[d](&amp;#106;avascript:alert(8)) [e](java&#x09;script:alert(9)) [f](data:text/html,x)
[g](vbscript:x) ![img](https://tracker.example/pixel.png) ![i2](javascript:alert(10))
<javascript:alert(11)> [ok](https://docs.docker.com/) [rel](/lessons/) [mail](mailto:t@example.org)

```html
<script>alert("in code")</script>
```
"""


class _Elements(HTMLParser):
    """Every element a browser would build from some HTML, with its attributes."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def _elements(html: str) -> list[tuple[str, dict]]:
    parser = _Elements()
    parser.feed(html)
    return parser.found


def assert_inert(html: str) -> None:
    """No element that runs or fetches anything, no handler, no unsafe address."""
    allowed = {"p", "strong", "em", "a", "code", "pre", "span", "div", "button", "ul", "ol",
               "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table", "thead",
               "tbody", "tr", "th", "td", "hr", "br"}
    for tag, attrs in _elements(html):
        assert tag in allowed, tag
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert name in {"href", "rel", "class", "type", "data-copy", "hidden", "title",
                            "id", "align", "style"}, (tag, name)
            if name == "href":
                assert value.split(":", 1)[0].lower() in {"https", "http", "mailto"} or (
                    ":" not in value.split("/", 1)[0]
                ), value


def test_markdown_with_script_and_html_is_rendered_inert():
    html = render_untrusted(HOSTILE_MARKDOWN)
    assert_inert(html)
    hrefs = [attrs.get("href") for tag, attrs in _elements(html) if tag == "a"]
    assert all(href is None or "script" not in href.lower() for href in hrefs)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<strong>bold</strong>" in html
    assert 'href="https://docs.docker.com/"' in html and 'href="/lessons/"' in html
    assert 'href="mailto:t@example.org"' in html
    assert 'rel="nofollow noopener noreferrer"' in html
    # An image is a link to it: nothing is fetched from a trainer's chosen host.
    assert '<a href="https://tracker.example/pixel.png"' in html
    assert 'class="codehilite"' in html  # fenced code is highlighted as in lessons


@pytest.mark.parametrize(
    "url, safe",
    [
        ("https://x.example/a?b=1&c=2", True),
        ("/lessons/", True),
        ("#step-2", True),
        ("relative/page", True),
        ("javascript:alert(1)", False),
        (" javascript:alert(1)", False),
        ("\x01javascript:alert(1)", False),
        ("java\nscript:alert(1)", False),
        ("&#x6A;avascript:alert(1)", False),
        ("&amp;#x6A;avascript:alert(1)", False),
        ("&amp;amp;#x6A;avascript:alert(1)", False),
        ("data:text/html;base64,PHNjcmlwdD4=", False),
        ("file:///etc/passwd", False),
        ("java script:alert(1)", False),
    ],
)
def test_only_safe_addresses_survive(url, safe):
    assert (safe_url(url) is not None) is safe


# --- the editor ---------------------------------------------------------------------


@pytest.mark.django_db
def test_the_editor_offers_every_check_with_its_parameters(client):
    client.force_login(user("tina", trainer=True))
    page = client.get("/classes/exercises/new/")
    assert page.status_code == 200
    offered = page.context["vocabulary"]
    assert [check["name"] for check in offered] == sorted(vocabulary())
    running = next(check for check in offered if check["name"] == "container_running")
    params = {param["name"]: param for param in running["params"]}
    assert params["name"]["required"] and params["name"]["kind"] == "text"
    assert params["port"]["kind"] == "integer" and params["port"]["max"] == 65535
    assert params["env"]["kind"] == "mapping" and params["on_network"]["kind"] == "boolean"
    assert 'id="check-vocabulary"' in page.content.decode()


@pytest.mark.django_db
def test_the_editor_saves_a_good_exercise(client):
    tina = user("tina", trainer=True)
    client.force_login(tina)
    response = client.post("/classes/exercises/new/", editor_post())
    assert response.status_code == 302
    made = Exercise.objects.get(owner=tina)
    assert made.checks == json.loads(editor_post()["checks"])
    assert made.hints == ["Build first.", "Then run it."]
    assert made.solution == ["docker build -t flask-app .", "docker run -d --name web flask-app"]
    assert made.as_item().checks[1].name == "container_running"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "field, value, words",
    [
        ("checks", json.dumps([{"check": "container_running", "with": {"name": "web", "port": "x"}}]),
         "Check 1 (container_running): port must be a port number"),
        ("checks", "[{not json", "The checks are not valid JSON"),
        ("solution", "docker network create -d overlay mesh", "The lab cannot run this line"),
        ("title", "two\nlines", "one line"),
    ],
)
def test_the_editor_refuses_bad_fields_with_a_message_naming_them(client, field, value, words):
    client.force_login(user("tina", trainer=True))
    response = client.post("/classes/exercises/new/", editor_post(**{field: value}))
    assert response.status_code == 400
    assert words in response.content.decode()
    assert not Exercise.objects.exists()


@pytest.mark.django_db
def test_the_editor_marks_the_field_at_fault_for_the_page(client):
    client.force_login(user("tina", trainer=True))
    checks = json.dumps(TWO := [
        {"check": "image_exists", "with": {"image": "flask-app"}},
        {"check": "container_running", "with": {"name": "web", "port": 0}},
    ])
    assert TWO
    response = client.post("/classes/exercises/new/", editor_post(checks=checks))
    assert 'data-error-path="checks[1].with.port"' in response.content.decode()


@pytest.mark.django_db
def test_the_admin_checks_an_exercise_like_the_editor(client):
    from django.contrib.auth import get_user_model

    root = get_user_model().objects.create_superuser("root", password="x-long-Pass-1")
    client.force_login(root)
    data = {
        "owner": root.pk,
        "title": "Evil",
        "instructions": "text",
        "checks": json.dumps([{"check": "container_running", "with": {"name": "web", "port": -1}}]),
        "hints": "[]",
        "solution": "[]",
        "created_at_0": "2026-01-01",
        "created_at_1": "10:00:00",
    }
    response = client.post("/admin/classrooms/exercise/add/", data)
    assert response.status_code == 200
    assert "port must be a port number" in response.content.decode()
    assert not Exercise.objects.exists()


@pytest.mark.django_db
def test_a_learner_sees_the_trainers_markdown_inert(client):
    tina = user("tina", trainer=True)
    room = classroom(tina)
    made = exercise(tina, instructions=HOSTILE_MARKDOWN)
    assignment = assign_exercise(room, made)
    leo = user("leo")
    member(room, leo)
    client.force_login(leo)
    page = client.get(f"/classes/{room.pk}/assignments/{assignment.pk}/").content.decode()
    body = page[page.index('<div class="exercise-text">'):page.index("exercise-check")]
    assert_inert(body.split(">", 1)[1].rsplit("<section", 1)[0])
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


@pytest.mark.django_db
def test_an_exercise_whose_stored_checks_went_bad_says_so_instead_of_running(client):
    tina = user("tina", trainer=True)
    room = classroom(tina)
    made = exercise(tina)
    Exercise.objects.filter(pk=made.pk).update(checks=[{"check": "gone_check", "with": {}}])
    assignment = assign_exercise(room, made)
    leo = user("leo")
    member(room, leo)
    client.force_login(leo)
    page = client.get(f"/classes/{room.pk}/assignments/{assignment.pk}/")
    assert "no longer match what the lab can check" in page.content.decode()
    response = client.post(
        f"/classes/{room.pk}/assignments/{assignment.pk}/hint/", HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 409
