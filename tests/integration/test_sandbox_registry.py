"""Tag, push, remove and pull back through a registry of the learner's own."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from engine import client
from sandboxes import services
from sandboxes.models import SandboxImage
from sandboxes.services import registry
from tests.integration.learners import two_learners

# Builds, pushes and pulls record image ids in the database.
pytestmark = [pytest.mark.integration, pytest.mark.django_db]

REF = "127.0.0.1:5000/flask-app:v1"


@pytest.fixture(scope="module")
def learners(django_db_setup, django_db_blocker):
    with two_learners(django_db_blocker, "registry") as (_, sandboxes):
        yield sandboxes


def _registry_up(sandbox) -> int:
    services.run_container(sandbox, "registry:2", name="registry", port=5000)
    port = services.published_port(sandbox, "registry")
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=3):
                return port
        except OSError:
            assert time.monotonic() < deadline, "the registry never answered"
            time.sleep(0.3)


def _names(sandbox) -> set[str]:
    return {image["name"] for image in services.list_state(sandbox)["images"]}


def test_an_image_goes_to_the_learners_registry_and_comes_back(learners):
    alice, bob = learners
    assert list(services.build_image(alice, "flask-app"))[-1]["kind"] == "done"
    port = _registry_up(alice)

    assert registry.tag_image(alice, "flask-app", REF) == {"source": "flask-app", "target": REF}
    assert REF in _names(alice)

    events = list(registry.push(alice, REF))
    assert events[-1] == {"kind": "done", "image": REF, "id": events[-1]["id"]}, events[-3:]
    text = "".join(e["text"] for e in events if e["kind"] == "line")
    assert "Pushed" in text and "127.0.0.1:5000/" in text
    assert f"127.0.0.1:{port}" not in text  # the real port stays the lab's business
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/flask-app/tags/list") as answer:
        assert json.load(answer) == {"name": "flask-app", "tags": ["v1"]}
    # The engine keeps no name of its own for the registry copy (the relay's
    # names, tags and digests, are gone), and the site recorded the push.
    with client.translate_errors():
        assert not [
            name
            for image in client.api().images()
            for name in (image.get("RepoTags") or []) + (image.get("RepoDigests") or [])
            # Other sandboxes' pushes may hold relay names of their own meanwhile.
            if name.startswith(f"127.0.0.1:{port}/") or f"dl-relay-{alice.sid}-" in name
        ]
    assert SandboxImage.objects.filter(
        sandbox=alice, image_id=events[-1]["id"], how=SandboxImage.PUSHED
    ).exists()

    services.remove_image(alice, REF)
    assert REF not in _names(alice)
    events = list(registry.pull(alice, REF))
    assert events[-1]["kind"] == "done", events[-3:]
    # The manifest comes back as the engine pushed it: the same digest.
    digests = [e["text"].split()[-1] for e in events if e.get("text", "").startswith("Digest:")]
    assert digests and digests[0] in text
    assert REF in _names(alice)
    assert REF in services.inspect(alice, "image", REF)["RepoTags"]
    with pytest.raises(services.BadRequest, match="names no registry"):
        registry.push(alice, "flask-app")
    with pytest.raises(services.InvalidName):
        registry.push(alice, "registry.example:5000/flask-app:v1")

    # bob has no registry at 5000: his pushes and pulls are refused plainly.
    with pytest.raises(services.NotInSandbox, match="publishes port 5000"):
        registry.pull(bob, REF)
    with pytest.raises(services.NotInSandbox):
        registry.tag_image(bob, "flask-app", REF)


def test_a_pull_of_an_image_built_elsewhere_is_refused_and_leaves_nothing(learners):
    alice, bob = learners
    # bob builds and tags an image under a name in bob's own registry form ...
    assert list(services.build_image(bob, "flask-app"))[-1]["kind"] == "done"
    port = services.published_port(alice, "registry")
    # ... and it lands in alice's registry by another road (the engine itself).
    image, _ = services.find_image(bob, "flask-app")
    api = client.api()
    with client.translate_errors():
        api.tag(image["Id"], f"127.0.0.1:{port}/planted", "x")
        list(api.push(f"127.0.0.1:{port}/planted", tag="x", stream=True, decode=True))
        api.remove_image(f"127.0.0.1:{port}/planted:x", noprune=True)
    events = list(registry.pull(alice, "127.0.0.1:5000/planted:x"))
    assert events[-1]["kind"] == "error"
    assert "not built in your sandbox" in events[-1]["message"]
    assert "127.0.0.1:5000/planted:x" not in _names(alice)
    with client.translate_errors():
        left = [t for i in api.images() for t in i.get("RepoTags") or [] if "planted" in t]
    assert left == []
