"""Check parameters are validated like lesson files: hostile values are refused, by field.

Trainers will write check parameters; whatever they write is held to each
parameter's kind before a check may run, and the message names the field.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from checks.base import CheckSpec, validate, vocabulary
from checks.schema import InvalidCheck

# A valid parameter set for every check, to vary one field at a time.
GOOD = {
    "image_exists": {"image": "flask-app"},
    "image_removed": {"image": "flask-app"},
    "image_smaller": {"image": "flask-app:multi", "than": "flask-app:single"},
    "container_running": {"name": "web"},
    "container_stopped": {"name": "web"},
    "container_removed": {"name": "web"},
    "logs_contain": {"container": "web", "text": "Running on"},
    "http_answers": {"container": "web"},
    "reaches": {"from": "web", "to": "db", "port": 3306},
    "compose_up": {"services": ["web", "db"]},
    "compose_down": {},
    "image_pushed": {"image": "127.0.0.1:5000/flask-app:v1"},
    "image_pulled": {"image": "127.0.0.1:5000/flask-app:v1"},
    "command_ran": {"command": "python --version"},
    "action_done": {"action": "inspect"},
    "quiz_passed": {},
    "service_running": {"service": "web", "replicas": 3},
    "service_spread": {"service": "web"},
    "service_image": {"service": "web", "image": "flask-app:v2"},
    "service_healed": {"service": "web"},
    "service_off_node": {"service": "web", "node": "worker1"},
    "service_removed": {"service": "web"},
    "service_answers": {"service": "web"},
    "stack_deployed": {"stack": "flask", "services": ["web", "db"]},
    "stack_removed": {"stack": "flask"},
}


def test_every_check_has_a_valid_example_here_and_describes_itself():
    assert set(vocabulary()) == set(GOOD)
    for name, params in GOOD.items():
        spec = validate({"check": name, "with": params}, "checks[0]")
        definition = vocabulary()[name]
        assert definition.summary and spec.describe(), name
        assert all(param.doc for param in definition.params.values()), name


def test_the_docs_describe_every_check():
    text = (Path(__file__).resolve().parents[2] / "docs" / "checks.md").read_text()
    for name in vocabulary():
        assert f"| `{name}` |" in text, name


def test_the_vocabulary_covers_what_lessons_need():
    assert {
        "image_exists",
        "container_running",
        "http_answers",
        "reaches",
        "logs_contain",
        "compose_up",
        "image_pushed",
        "image_pulled",
        "image_smaller",
        "quiz_passed",
    } <= set(vocabulary())


def test_valid_parameters_come_back_cleaned_with_defaults():
    spec = validate({"check": "http_answers", "with": {"container": "web"}})
    assert spec == CheckSpec("http_answers", dict(spec.params))
    assert spec.params == {
        "container": "web",
        "port": 5002,
        "path": "/",
        "status": 200,
        "timeout": 8.0,
    }
    assert validate({"check": "image_exists", "with": {"image": "flask-app"}}).params == {
        "image": "flask-app:latest"
    }
    assert validate({"check": "compose_down"}).params == {"project": "flaskapp", "volumes": False}


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        ("container_running", "checks[0]", "must be a mapping"),
        (["container_running"], "checks[0]", "must be a mapping"),
        ({"check": "format_disk"}, "checks[0].check", "known check"),
        ({"check": None}, "checks[0].check", "known check"),
        ({"check": ["container_running"]}, "checks[0].check", "known check"),
        ({"check": "container_running", "width": {}}, "checks[0].width", "not a field"),
        ({"check": "container_running", "with": "web"}, "checks[0].with", "mapping of parameters"),
        ({"check": "container_running", "with": ["name", "web"]}, "checks[0].with", "mapping"),
        ({"check": "container_running"}, "checks[0].with.name", "is missing"),
        ({"check": "container_running", "with": {}}, "checks[0].with.name", "is missing"),
        (
            {"check": "container_running", "with": {"name": "web", "nmae": "x"}},
            "checks[0].with.nmae",
            "not a parameter",
        ),
    ],
)
def test_a_malformed_check_is_refused_naming_the_field(raw, field, words):
    with pytest.raises(InvalidCheck) as caught:
        validate(raw, "checks[0]")
    assert caught.value.field == field
    assert words in caught.value.problem
    assert str(caught.value).startswith(field)


HOSTILE = [
    # container names: the sandbox's naming rules, nothing that could reach another sandbox
    ("container_running", "name", "../etc"),
    ("container_running", "name", "Web"),
    ("container_running", "name", "dl-0123456789/web"),
    ("container_running", "name", "web\n"),
    ("container_running", "image", "flask-app:v1\n"),
    ("compose_up", "services", ["web\n"]),
    ("container_running", "env", {"A\n": "x"}),
    ("container_running", "name", "x" * 64),
    ("container_running", "name", ""),
    ("container_running", "name", 5),
    ("container_running", "name", ["web"]),
    ("container_running", "name", {"$ne": ""}),
    ("container_running", "name", True),
    # images: no foreign registries, no path tricks
    ("container_running", "image", "evil.example.com/x"),
    ("container_running", "image", "x:y:z"),
    ("container_running", "image", "../../x"),
    ("container_running", "image", ""),
    ("container_running", "image", 12),
    ("image_pushed", "image", "flask-app:v1"),
    ("image_pushed", "image", "127.0.0.1:70000/x"),
    ("image_pulled", "image", "registry.example:5000/x"),
    # numbers: types and limits, no bools, no NaN
    ("container_running", "port", 0),
    ("container_running", "port", 65536),
    ("container_running", "port", -1),
    ("container_running", "port", True),
    ("container_running", "port", "5002"),
    ("container_running", "port", 5002.5),
    ("http_answers", "timeout", 0),
    ("http_answers", "timeout", 31),
    ("http_answers", "timeout", float("nan")),
    ("http_answers", "timeout", float("inf")),
    ("http_answers", "timeout", "5"),
    ("http_answers", "timeout", False),
    ("http_answers", "status", 99),
    ("http_answers", "status", 600),
    ("logs_contain", "tail", 0),
    ("logs_contain", "tail", 10_001),
    ("image_smaller", "tolerance_percent", 51),
    ("image_smaller", "tolerance_percent", -1),
    ("quiz_passed", "min_correct", 0),
    ("quiz_passed", "min_correct", 101),
    ("container_stopped", "exit_code", 256),
    # booleans
    ("container_running", "on_network", "yes"),
    ("container_running", "on_network", 1),
    ("compose_down", "volumes", "true"),
    # environment variables
    ("container_running", "env", {}),
    ("container_running", "env", "A=1"),
    ("container_running", "env", {"1A": "x"}),
    ("container_running", "env", {"A B": "x"}),
    ("container_running", "env", {"A": True}),
    ("container_running", "env", {"A": None}),
    ("container_running", "env", {"A": "x\n"}),
    ("container_running", "env", {"A": "x" * 257}),
    ("container_running", "env", {f"A{i}": "x" for i in range(17)}),
    # HTTP paths: nothing that could change the request line or leave the app
    ("http_answers", "path", "no-slash"),
    ("http_answers", "path", "/a b"),
    ("http_answers", "path", "/\r\nHost: evil.example"),
    ("http_answers", "path", "http://evil.example/"),
    ("http_answers", "path", "/" + "a" * 300),
    ("http_answers", "path", ["/"]),
    # texts
    ("logs_contain", "text", ""),
    ("logs_contain", "text", "a" * 201),
    ("logs_contain", "text", "two\nlines"),
    ("logs_contain", "text", 42),
    ("command_ran", "command", "'unclosed"),
    ("command_ran", "command", "a" * 301),
    ("command_ran", "command", "  "),
    ("action_done", "target", "web\x00"),
    # names lists
    ("compose_up", "services", []),
    ("compose_up", "services", "web"),
    ("compose_up", "services", ["web", "web"]),
    ("compose_up", "services", ["Web"]),
    ("compose_up", "services", [f"s{i}" for i in range(9)]),
    ("compose_up", "services", [["web"]]),
    ("compose_up", "healthy", ["db;rm"]),
    # choices and files
    ("action_done", "action", "state"),
    ("action_done", "action", "format_disk"),
    ("image_exists", "dockerfile", "../Dockerfile"),
    ("image_exists", "dockerfile", "/etc/passwd"),
    ("image_exists", "dockerfile", "Dockerfile.nope"),
    ("image_exists", "labels", {"Bad Key": "x"}),
    ("image_exists", "labels", {"version": 5}),
    ("image_exists", "labels", {}),
    ("quiz_passed", "lesson", "../x"),
    ("quiz_passed", "lesson", "Containers"),
    ("reaches", "from", "web db"),
    ("reaches", "timeout", 21),
]


@pytest.mark.parametrize(("check", "param", "value"), HOSTILE)
def test_a_hostile_parameter_is_refused_naming_its_field(check, param, value):
    raw = {"check": check, "with": {**GOOD[check], param: value}}
    with pytest.raises(InvalidCheck) as caught:
        validate(raw, "steps[2].checks[1]")
    message = str(caught.value)
    assert caught.value.field.startswith(f"steps[2].checks[1].with.{param}")
    assert "must" in message or "has" in message or "not" in message
    # The message quotes a bounded piece of the value, never all of a huge one.
    assert len(message) < 400


def test_a_missing_required_parameter_says_what_it_must_be():
    with pytest.raises(InvalidCheck, match=r"with\.port is missing: it must be a port number"):
        validate({"check": "reaches", "with": {"from": "web", "to": "db"}})
