"""The multistage lesson on a real engine: two images, their sizes, their layers.

alice builds the sample both ways in her sandbox, through the lab's own build
service. The single-stage image keeps the compiler it built with; the
multistage one leaves it in its builder stage, so it is smaller by at least
the toolchain: the size the engine reports for the full python lesson image
less the slim one's (the kit builds the first on the second). The small image
still answers through the site's app proxy, with its compiled part working.
"""

from __future__ import annotations

import time

import pytest
from django.conf import settings

from engine import client
from sandboxes import services
from sandboxes.commands import sample_dockerfiles
from sandboxes.services import layers
from tests.integration.learners import two_learners

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture(scope="module")
def users(django_db_setup, django_db_blocker):
    with two_learners(django_db_blocker, "multistage") as (pair, _):
        yield pair


def _built(sandbox, tag: str, dockerfile: str) -> list[dict]:
    events = list(services.build_image(sandbox, tag, sample_dockerfiles()[dockerfile]))
    assert events[-1]["kind"] == "done", events[-5:]
    return events


@pytest.fixture(scope="module")
def images(users, django_db_blocker):
    """alice's flask-app:single and flask-app:multi, with their build events."""
    sandbox = users[0].sandbox
    with django_db_blocker.unblock():  # a finished build records its image
        single = _built(sandbox, "flask-app:single", "Dockerfile")
        multi = _built(sandbox, "flask-app:multi", "Dockerfile.multistage")
    return single, multi


def _size(sandbox, tag: str) -> int:
    found, _ = services.find_image(sandbox, tag)
    return int(found["Size"])


def _engine_size(name: str) -> int:
    with client.translate_errors():
        return int(client.api().inspect_image(name)["Size"])


def toolchain_bytes() -> int:
    """The full python lesson image's size less the slim one's, as the engine says."""
    full = settings.DOCKERLAB_IMAGES["python-build"]
    slim = settings.DOCKERLAB_IMAGES["python"]
    return _engine_size(full) - _engine_size(slim)


def test_the_multistage_image_is_smaller_by_at_least_the_toolchain(users, images):
    sandbox = users[0].sandbox
    single, multi = _size(sandbox, "flask-app:single"), _size(sandbox, "flask-app:multi")
    toolchain = toolchain_bytes()
    assert toolchain > 50_000_000, "the full python image should carry a compiler"
    assert single - multi >= toolchain, (single, multi, toolchain)
    print(
        f"\nsingle {single / 1e6:.1f} MB, multi {multi / 1e6:.1f} MB, "
        f"toolchain {toolchain / 1e6:.1f} MB"
    )


def test_the_compiler_ships_in_the_single_stage_image_only(users, images):
    sandbox = users[0].sandbox
    view = services.run_container(
        sandbox, "flask-app:single", command="gcc --version", port=None, name="has-gcc"
    )
    assert view["name"] == "has-gcc"
    with client.translate_errors():
        container = services.find_container(sandbox, "has-gcc")["Id"]
        assert client.api().wait(container, timeout=30)["StatusCode"] == 0
    with pytest.raises(services.SandboxError, match="gcc"):
        services.run_container(
            sandbox, "flask-app:multi", command="gcc --version", port=None, name="no-gcc"
        )


def _answer(client_, path: str, wanted: bytes, seconds: float = 30) -> bytes:
    deadline = time.monotonic() + seconds
    while True:
        response = client_.get(path)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        if response.status_code == 200 and wanted in body:
            return body
        if time.monotonic() > deadline:
            pytest.fail(f"{path} answered {response.status_code}: {body[:300]!r}")
        time.sleep(0.5)


def test_the_small_image_answers_through_the_proxy_with_its_compiled_part(
    client, users, images
):
    alice, sandbox = users[0], users[0].sandbox
    services.run_container(sandbox, "flask-app:multi", name="multi")
    client.force_login(alice)
    body = _answer(client, "/sandbox/app/multi/", b"Hello from Docker!")
    assert b"from the compiled part (greet.c):" in body
    assert b"No compiled part" not in body


def test_the_history_shows_the_layers_without_sandbox_names(users, images):
    sandbox = users[0].sandbox
    multi = layers.image_history(sandbox, "flask-app:multi")
    single = layers.image_history(sandbox, "flask-app:single")
    assert multi["image"] == "flask-app:multi"
    assert multi["size"] == _size(sandbox, "flask-app:multi")
    text = repr(multi) + repr(single)
    assert f"dl-{sandbox.sid}" not in text and sandbox.sid not in text
    assert multi["hidden"] >= 2 and not any(
        "org.dockerlab." in row["instruction"] for row in multi["rows"]
    )
    # The builder's compile step is not among the small image's layers.
    assert not any("gcc" in row["instruction"] for row in multi["rows"])
    assert any(row["instruction"].startswith("RUN gcc") for row in single["rows"])
    # The layers each Dockerfile added come first; the base image's follow.
    assert multi["rows"][0]["instruction"] == 'CMD ["python" "app.py"]'
    assert multi["rows"][0]["base"] is None
    assert multi["rows"][-1]["base"] == settings.DOCKERLAB_IMAGES["python"]
    assert settings.DOCKERLAB_IMAGES["python-build"] in {row["base"] for row in single["rows"]}
    assert sum(row["size"] for row in multi["rows"]) == multi["size"]


def test_another_learners_image_has_no_history_for_bob(users, images):
    bob = users[1].sandbox
    with pytest.raises(services.NotInSandbox):
        layers.image_history(bob, "flask-app:multi")
    engine_name = f"dl-{users[0].sandbox.sid}/flask-app:multi"
    with pytest.raises((services.NotInSandbox, services.InvalidName)):
        layers.image_history(bob, engine_name)
    # A lesson image is anyone's to look at.
    assert layers.image_history(bob, settings.DOCKERLAB_IMAGES["python"])["rows"]
