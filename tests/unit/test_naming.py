"""Learner names are checked, namespaced per sandbox, shown back without prefix."""

import pytest

from sandboxes import naming
from sandboxes.errors import InvalidName, SandboxError

SID = "0123456789"
OTHER = "abcdefabcd"


@pytest.mark.parametrize(
    "ref, expected",
    [
        ("flask-app", ("flask-app", "latest")),
        ("flask-app:v2", ("flask-app", "v2")),
        ("a", ("a", "latest")),
        ("my_app.2:V1.0-rc_1", ("my_app.2", "V1.0-rc_1")),
        ("python:3.12-slim", ("python", "3.12-slim")),
    ],
)
def test_it_accepts_ordinary_image_names(ref, expected):
    assert naming.parse_image(ref) == expected


@pytest.mark.parametrize(
    "ref",
    [
        "",
        "../x",
        "UPPER",
        "a;rm -rf /",
        "x" * 300,
        "dl-othersandbox/app",
        "dl-abcdefabcd/flask-app:latest",
        "-leading-dash",
        ".hidden",
        "app:",
        "app:-tag",
        "app:.tag",
        "app:v1:v2",
        "app@sha256:abcd",
        "localhost/app",
        "registry.example:5000/app",
        "localhost:0/app",
        "localhost:05000/app",
        "localhost:99999/app",
        "localhost:5000/../x",
        "localhost:5000/a/b",
        "127.0.0.1:5000/dl-abcdefabcd/app",
        "127.0.0.1:5000//app",
        "127.0.0.2:5000/app",
        "app name",
        "app\nname",
        "app:" + "t" * 129,
        "a" * 64,
    ],
)
def test_it_rejects_a_hostile_image_name(ref):
    with pytest.raises(InvalidName) as info:
        naming.parse_image(ref)
    assert info.value.code == "invalid_name"
    assert len(info.value.message) < 300


def test_invalid_name_is_a_sandbox_error_with_a_message():
    with pytest.raises(SandboxError) as info:
        naming.engine_image(SID, "UPPER")
    assert "not allowed" in info.value.message


def test_it_rejects_non_text_names():
    for value in (None, 3, ["web"]):
        with pytest.raises(InvalidName):
            naming.parse_image(value)
        with pytest.raises(InvalidName):
            naming.check_container_name(value)


@pytest.mark.parametrize("name", ["web", "web-1", "a.b_c", "0"])
def test_it_accepts_ordinary_container_names(name):
    assert naming.check_container_name(name) == name


@pytest.mark.parametrize(
    "name", ["Web", "../web", "web/x", "-web", "w" * 64, "a b", "web;ls", ""]
)
def test_it_rejects_a_hostile_container_name(name):
    with pytest.raises(InvalidName):
        naming.check_container_name(name)


def test_it_namespaces_images_and_containers_per_sandbox():
    assert naming.engine_image(SID, "flask-app") == f"dl-{SID}/flask-app:latest"
    assert naming.engine_image(SID, "flask-app:v2") == f"dl-{SID}/flask-app:v2"
    assert naming.engine_container(SID, "web") == f"dl-{SID}-web"
    assert naming.network_name(SID) == f"dl-{SID}-net"
    assert naming.engine_image(SID, "flask-app") != naming.engine_image(
        OTHER, "flask-app"
    )


def test_it_strips_only_its_own_prefix():
    assert naming.learner_image(SID, f"dl-{SID}/flask-app:v2") == "flask-app:v2"
    assert naming.learner_image(SID, f"dl-{OTHER}/flask-app:v2") is None
    assert naming.learner_image(SID, "python:3.12-slim") is None
    assert naming.learner_container(SID, f"/dl-{SID}-web") == "web"
    assert naming.learner_container(SID, f"/dl-{OTHER}-web") is None
    text = f"Tagged dl-{SID}/flask-app:latest in dl-{SID}-web, not dl-{OTHER}-x"
    assert (
        naming.strip(SID, text) == f"Tagged flask-app:latest in web, not dl-{OTHER}-x"
    )


@pytest.mark.parametrize(
    "sid", ["", "ABCDEF0123", "0123", "0123456789a", "../../xx", "012345678g"]
)
def test_it_refuses_a_malformed_sandbox_id(sid):
    with pytest.raises(InvalidName):
        naming.image_prefix(sid)


def test_new_sandbox_ids_are_short_lowercase_hex():
    sids = {naming.new_sid() for _ in range(50)}
    assert len(sids) == 50
    assert all(naming.SID_RE.match(sid) for sid in sids)


def test_auto_container_names_are_valid_and_derived_from_the_image():
    name = naming.auto_container_name("flask-app:v2")
    assert name.startswith("flask-app-")
    assert naming.check_container_name(name) == name
    assert naming.check_container_name(naming.auto_container_name("sha256:" + "a" * 64))


@pytest.mark.parametrize(
    ("ref", "engine", "shown"),
    [
        ("127.0.0.1:5000/flask-app:v1", f"dl-{SID}/127.0.0.1-5000/flask-app:v1",
         "127.0.0.1:5000/flask-app:v1"),
        ("localhost:5000/flask-app", f"dl-{SID}/localhost-5000/flask-app:latest",
         "localhost:5000/flask-app:latest"),
    ],
)
def test_a_registry_of_the_learners_own_may_prefix_an_image_name(ref, engine, shown):
    assert naming.engine_image(SID, ref) == engine
    assert naming.learner_image(SID, engine) == shown
    assert naming.learner_image(OTHER, engine) is None
    assert naming.strip(SID, f"The push refers to repository [{engine.split(':v')[0]}]") == (
        f"The push refers to repository [{shown.split(':v')[0]}]"
    )
    assert naming.registry_of(ref) == (ref.split(":")[0], 5000)
    assert naming.registry_of("flask-app:v1") is None
