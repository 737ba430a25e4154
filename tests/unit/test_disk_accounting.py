"""Disk accounting without an engine: whose image layers are whose, and the words.

The image lists below have the shape of the engine's `GET /images/json?all=1`
(intermediate images included); the integration tier measures a real engine.
"""

from __future__ import annotations

import pytest
from django.conf import settings

from sandboxes.services import disk

MB = 1024 * 1024
ALICE, BOB = "a1a1a1a1a1", "b2b2b2b2b2"


def labels(sid: str | None = None, deployment: str | None = None) -> dict:
    if sid is None:
        return {}
    return {
        "org.dockerlab.sandbox": sid,
        "org.dockerlab.deployment": deployment or settings.DOCKERLAB_DEPLOYMENT,
    }


def image(image_id, size_mb, parent="", sid=None, tags=None, deployment=None):
    return {
        "Id": image_id,
        "ParentId": parent,
        "Size": int(size_mb * MB),
        "Labels": labels(sid, deployment),
        "RepoTags": tags or ["<none>:<none>"],
    }


class LayersOnly:
    """Answers inspect_image with the layers given; nothing else is asked for."""

    def __init__(self, layers: dict[str, list[str]]):
        self.layers = layers
        self.asked: list[str] = []

    def inspect_image(self, image_id):
        self.asked.append(image_id)
        return {"RootFS": {"Layers": self.layers[image_id]}}


@pytest.fixture(autouse=True)
def no_cached_layers():
    disk._layers.clear()
    yield
    disk._layers.clear()


PYTHON = image("py", 120, tags=["python:3.12-slim"])


def test_a_build_on_a_lesson_image_is_charged_its_own_steps_only():
    images = [
        PYTHON,
        image("step1", 135, parent="py"),
        image("step2", 136, parent="step1"),
        image("app", 136, parent="step2", sid=ALICE, tags=[f"dl-{ALICE}/app:latest"]),
    ]
    assert disk.image_bytes(None, images) == {ALICE: 16 * MB}


def test_two_images_of_one_sandbox_share_their_common_steps_once():
    images = [
        PYTHON,
        image("step1", 135, parent="py"),
        image("v1", 140, parent="step1", sid=ALICE),
        image("v2", 150, parent="step1", sid=ALICE),
    ]
    # 15 (step1) + 5 (v1's own) + 15 (v2's own)
    assert disk.image_bytes(None, images) == {ALICE: 35 * MB}


def test_an_image_built_on_anothers_image_adds_only_its_own_part():
    images = [
        PYTHON,
        image("base", 130, parent="py", sid=ALICE),
        image("top", 180, parent="base", sid=ALICE),
    ]
    assert disk.image_bytes(None, images) == {ALICE: 60 * MB}


def test_steps_two_sandboxes_share_through_the_cache_count_for_both():
    images = [
        PYTHON,
        image("pip", 150, parent="py"),
        image("alices", 151, parent="pip", sid=ALICE),
        image("bobs", 152, parent="pip", sid=BOB),
    ]
    assert disk.image_bytes(None, images) == {ALICE: 31 * MB, BOB: 32 * MB}


def test_a_step_a_tagged_image_outside_the_sandboxes_keeps_is_no_ones():
    images = [
        PYTHON,
        image("kit-step", 150, parent="py"),
        image("kit", 160, parent="kit-step", tags=["mariadb:11"]),
        image("alices", 170, parent="kit-step", sid=ALICE),
    ]
    assert disk.image_bytes(None, images) == {ALICE: 20 * MB}


def test_another_sites_sandbox_images_are_neither_counted_nor_charged():
    images = [
        PYTHON,
        image("theirs", 200, parent="py", sid=ALICE, deployment="another-site"),
    ]
    assert disk.image_bytes(None, images) == {}


def test_a_pulled_image_is_charged_what_it_adds_to_the_longest_image_under_it():
    images = [
        PYTHON,
        image("built", 150, parent="py", sid=ALICE),
        image("pulled", 190, sid=ALICE),  # no parent: it came from a registry
    ]
    api = LayersOnly(
        {"py": ["l1"], "built": ["l1", "l2"], "pulled": ["l1", "l2", "l3"]}
    )
    assert disk.image_bytes(api, images) == {ALICE: 30 * MB + 40 * MB}
    # Layers are asked for once per image, then remembered.
    disk.image_bytes(api, images)
    assert sorted(api.asked) == ["built", "pulled", "py"]


def test_a_pulled_image_on_no_known_image_is_charged_whole():
    images = [PYTHON, image("pulled", 90, sid=ALICE)]
    api = LayersOnly({"py": ["l1"], "pulled": ["x1", "x2"]})
    assert disk.image_bytes(api, images) == {ALICE: 90 * MB}


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (2048 * MB, "2 GB"),
        (int(2.34 * 1024 * MB), "2.3 GB"),
        (512 * MB, "512 MB"),
        (1536, "1.5 KB"),
        (12, "12 bytes"),
    ],
)
def test_sizes_read_as_a_learner_reads_them(size, text):
    assert disk.shown(size) == text


def test_the_message_says_what_is_used_the_limit_and_what_to_do():
    message = disk.over_message(int(2.3 * 1024 * MB), 2048 * MB)
    assert message == (
        "Your sandbox uses 2.3 GB of disk, over its 2 GB limit: remove images or "
        "volumes (docker rmi, docker volume rm, docker system prune)."
    )


@pytest.mark.parametrize(
    ("text", "size"),
    [("512M", 512 * MB), ("1g", 1024 * MB), ("48MiB", 48 * MB), ("100", 100), ("x", None)],
)
def test_volume_sizes_are_read_as_the_engine_reads_them(text, size):
    assert disk._bytes(text) == size


def test_a_sized_volume_of_a_remote_engine_counts_as_full(settings):
    settings.DOCKERLAB_ENGINE_URL = "tcp://lab-engine:2376"
    volume = {"Options": {"size": "48M"}, "Mountpoint": "/nowhere"}
    assert disk.sized_volume_bytes(volume) == 48 * MB


def test_a_sized_volume_without_its_quota_yet_is_counted_file_by_file(
    settings, monkeypatch, tmp_path
):
    settings.DOCKERLAB_ENGINE_URL = ""
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "data").write_bytes(b"x" * MB)
    volume = {"Options": {"size": "48M"}, "Mountpoint": str(tmp_path)}
    # tmp_path's file system is far larger than 48M: no quota of its own.
    assert MB <= disk.sized_volume_bytes(volume) < MB + 64 * 1024
