"""Sandbox pieces that need no engine: the model, build contexts, proxy rules."""

from __future__ import annotations

import tarfile
from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from engine import client as engine_client
from sandboxes import proxy, services
from sandboxes.services.builds import build_context


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice")


def test_a_sandbox_is_created_on_first_use_and_reused(db, alice):
    first = services.sandbox_for(alice)
    assert len(first.sid) == 10
    assert services.sandbox_for(alice).pk == first.pk


def test_sandboxes_of_two_users_have_different_ids(db, alice, django_user_model):
    bob = django_user_model.objects.create_user("bob")
    assert services.sandbox_for(alice).sid != services.sandbox_for(bob).sid


def test_use_extends_a_sandbox_close_to_expiry(db, alice, settings):
    settings.DOCKERLAB_SANDBOX_TTL_HOURS = 8
    sandbox = services.sandbox_for(alice)
    sandbox.expires_at = timezone.now() + timedelta(hours=1)
    sandbox.save()
    extended = services.sandbox_for(alice)
    assert extended.expires_at > timezone.now() + timedelta(hours=7)


def test_an_anonymous_user_gets_no_sandbox(db):
    with pytest.raises(services.SandboxError) as info:
        services.sandbox_for(AnonymousUser())
    assert info.value.code == "login_required"


def test_labels_name_sandbox_owner_and_expiry(db, alice):
    sandbox = services.sandbox_for(alice)
    labels = sandbox.labels()
    assert labels["org.dockerlab.sandbox"] == sandbox.sid
    assert labels["org.dockerlab.owner"] == str(alice.pk)
    assert labels["org.dockerlab.expires"].endswith("Z")
    assert labels["org.dockerlab.deployment"].startswith("test-")
    assert sandbox.label_filter() == {"label": [f"org.dockerlab.sandbox={sandbox.sid}"]}
    assert sandbox.network == f"dl-{sandbox.sid}-net"


def test_the_build_context_swaps_in_the_dockerfile_and_honours_dockerignore(tmp_path):
    (tmp_path / "app.py").write_text("print('hi')\n")
    (tmp_path / "Dockerfile").write_text("FROM original\n")
    (tmp_path / "secret.env").write_text("x")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "app.pyc").write_bytes(b"x")
    (tmp_path / ".dockerignore").write_text("# comment\n*.env\n__pycache__\n")
    with tarfile.open(fileobj=build_context(tmp_path, "FROM learner\n")) as tar:
        names = sorted(tar.getnames())
        dockerfile = tar.extractfile("Dockerfile").read()
    assert names == [".dockerignore", "Dockerfile", "app.py"]
    assert dockerfile == b"FROM learner\n"
    assert (tmp_path / "Dockerfile").read_text() == "FROM original\n"


@pytest.mark.parametrize(
    "location, expected",
    [
        ("/next", "/sandbox/app/web/next"),
        ("/a?b=1#c", "/sandbox/app/web/a?b=1#c"),
        ("http://127.0.0.1:5002/x", "/sandbox/app/web/x"),
        ("http://localhost/", "/sandbox/app/web/"),
        ("relative/page", "relative/page"),
        ("https://example.invalid/", None),
        ("//example.invalid/x", None),
        ("http://127.0.0.1:22/", None),
        ("javascript:alert(1)", None),
    ],
)
def test_redirects_stay_inside_the_proxy(location, expected):
    assert proxy._rewrite_location(location, "web", 40000) == expected


def test_the_forwarded_path_is_quoted():
    assert (
        proxy._target_path("a b/c\r\nX: y", "q=1&r=%20")
        == "/a%20b/c%0D%0AX:%20y?q=1&r=%20"
    )


def test_an_unreachable_engine_is_a_clear_error_not_a_crash(db, alice, settings):
    settings.DOCKERLAB_ENGINE_URL = "unix:///nonexistent/docker.sock"
    engine_client.reset()
    try:
        sandbox = services.sandbox_for(alice)
        with pytest.raises(services.SandboxError) as info:
            services.list_state(sandbox)
        assert info.value.code == "engine_unavailable"
        assert "not reachable" in info.value.message
    finally:
        engine_client.reset()


def test_the_proxy_says_503_when_the_engine_is_down(db, alice, client, settings):
    settings.DOCKERLAB_ENGINE_URL = "unix:///nonexistent/docker.sock"
    engine_client.reset()
    try:
        client.force_login(alice)
        response = client.get("/sandbox/app/web/")
        assert response.status_code == 503
        assert b"not reachable" in response.content
    finally:
        engine_client.reset()


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        ("python --version", ["python", "--version"]),
        ("python -c \"print('a b')\"", ["python", "-c", "print('a b')"]),
        ("sh -c 'echo $HOME | wc -c'", ["sh", "-c", "echo $HOME | wc -c"]),
        (["uname", "-r"], ["uname", "-r"]),
    ],
)
def test_a_command_is_split_into_words_like_a_shell_would(typed, words):
    from sandboxes.services.containers import parse_command

    assert parse_command(typed) == words


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("echo 'oops", "quote"),
        ("   ", "Type a command"),
        ("echo a\nrm -rf /", "one line"),
        ("echo \x00", "one line"),
        ("x " * 1500, "too long"),
        (42, "must be text"),
        (["echo", 3], "text"),
    ],
)
def test_a_bad_command_is_refused_with_a_reason(typed, says):
    from sandboxes.errors import BadRequest
    from sandboxes.services.containers import parse_command

    with pytest.raises(BadRequest, match=says):
        parse_command(typed)
