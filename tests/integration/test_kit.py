"""The classroom kit on a real engine: every lesson image exists and is labelled."""

import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from engine import client as engine_client
from engine import kit
from engine.status import engine_status


@pytest.fixture(scope="module")
def kit_ready():
    lines = []
    kit.make_images(lines.append)
    return lines


def _labels(name: str) -> dict:
    with engine_client.translate_errors():
        info = engine_client.api().inspect_image(name)
    return info["Config"].get("Labels") or {}


def test_every_configured_lesson_image_exists_after_the_kit_ran(kit_ready):
    for role, name in settings.DOCKERLAB_IMAGES.items():
        assert kit.image_state(name) != kit.MISSING, f"{role} image {name} is missing"


def test_kit_builds_carry_the_kit_and_description_labels(kit_ready):
    for role, name in settings.DOCKERLAB_IMAGES.items():
        if kit.image_state(name) == kit.KIT_BUILT:
            labels = _labels(name)
            assert labels[kit.KIT_LABEL] == "1"
            assert labels[kit.DESCRIPTION_LABEL] == kit.DESCRIPTIONS[role]


def test_the_internal_base_image_is_labelled_when_it_exists(kit_ready):
    name = kit.base_image_name(settings.DOCKERLAB_KIT_SUITE)
    if kit.image_state(name) != kit.MISSING:
        assert _labels(name)[kit.KIT_LABEL] == "1"


def test_running_the_kit_again_is_fast_and_builds_nothing(kit_ready):
    lines = []
    started = time.monotonic()
    plan = kit.make_images(lines.append)
    assert time.monotonic() - started < 10
    assert not [line for line in lines if "building" in line or "pulling" in line]
    assert plan.missing == []
    assert lines[-1].endswith("all lesson images are ready")


def test_the_kit_command_from_the_shell_builds_nothing_when_everything_is_present(kit_ready):
    # Nothing rebuilt is what makes it quick; how quick is not a test's business.
    proc = subprocess.run(
        [sys.executable, "manage.py", "kit"], cwd=Path(__file__).resolve().parents[2],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "all lesson images are ready" in proc.stdout
    assert "building" not in proc.stdout


def test_the_check_mode_passes_once_the_kit_ran(kit_ready):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("kit", "--check", stdout=out)
    assert "All lesson images are present." in out.getvalue()


def test_the_engine_status_says_the_lesson_images_are_ready(kit_ready):
    status = engine_status()
    assert status["reachable"] is True
    assert status["version"]
    assert status["ready"] is True
    assert {image["role"] for image in status["images"]} == set(settings.DOCKERLAB_IMAGES)


def test_the_home_page_shows_a_ready_engine(kit_ready, client):
    text = client.get("/").content.decode()
    assert 'data-engine="reachable"' in text
    assert 'data-images="ready"' in text


def test_the_full_python_image_adds_a_compiler_and_headers_to_the_slim_one(kit_ready):
    full = settings.DOCKERLAB_IMAGES["python-build"]
    slim = settings.DOCKERLAB_IMAGES["python"]
    api = engine_client.api(timeout=120)
    with engine_client.translate_errors():
        if kit.image_state(full) == kit.KIT_BUILT:
            # The kit builds it on its own python image: one layer on top.
            slim_layers = api.inspect_image(slim)["RootFS"]["Layers"]
            full_layers = api.inspect_image(full)["RootFS"]["Layers"]
            assert full_layers[: len(slim_layers)] == slim_layers
            assert len(full_layers) == len(slim_layers) + 1
        container = api.create_container(
            full, command=["sh", "-c", "gcc --version && python3-config --includes"],
            labels={"org.dockerlab.test": "kit"},
            host_config=api.create_host_config(network_mode="none"),
        )
        try:
            api.start(container["Id"])
            assert api.wait(container["Id"], timeout=60)["StatusCode"] == 0
            output = api.logs(container["Id"]).decode()
        finally:
            api.remove_container(container["Id"], force=True)
    assert "gcc" in output and "-I/usr" in output
    sizes = {name: api.inspect_image(name)["Size"] for name in (slim, full)}
    assert sizes[full] - sizes[slim] > 50_000_000
