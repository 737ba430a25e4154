"""`manage.py kit`: its --check report, and a clear message when the engine is down."""

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from engine import client, kit

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def engine_down(settings, tmp_path):
    settings.DOCKERLAB_ENGINE_URL = f"unix://{tmp_path}/no-engine.sock"
    client.reset()
    yield
    client.reset()


@pytest.fixture
def image_states(monkeypatch, settings):
    """Stand in for the engine's image list (which images are present)."""
    settings.DOCKERLAB_SWARM = False
    settings.DOCKERLAB_IMAGES = {
        "python": "python:3.12-slim",
        "mariadb": "mariadb:11",
        "registry": "registry:2",
    }
    states = {}
    monkeypatch.setattr(kit, "image_state", lambda name, timeout=None: states[name])
    return states


def test_check_reports_every_image_and_succeeds_when_all_are_present(image_states):
    image_states.update(
        {"python:3.12-slim": kit.KIT_BUILT, "mariadb:11": kit.PRESENT, "registry:2": kit.KIT_BUILT}
    )
    out = StringIO()
    call_command("kit", "--check", stdout=out)
    text = out.getvalue()
    assert "python:3.12-slim" in text and "present (kit build)" in text
    assert "All lesson images are present." in text


def test_check_fails_naming_the_missing_images_and_the_fix(image_states):
    image_states.update(
        {"python:3.12-slim": kit.KIT_BUILT, "mariadb:11": kit.MISSING, "registry:2": kit.MISSING}
    )
    out = StringIO()
    with pytest.raises(CommandError) as info:
        call_command("kit", "--check", stdout=out)
    assert info.value.returncode == 1
    assert "mariadb, registry" in str(info.value)
    assert "make kit" in str(info.value)
    assert "MISSING" in out.getvalue()


def test_check_reports_the_swarm_node_image_while_orchestration_runs_its_own_swarm(
    image_states, settings
):
    settings.DOCKERLAB_SWARM = True
    settings.DOCKERLAB_SWARM_MANAGER_URL = ""
    node_image = kit.local_image_name("swarmnode")
    image_states.update(dict.fromkeys(settings.DOCKERLAB_IMAGES.values(), kit.PRESENT))
    image_states[node_image] = kit.MISSING
    out = StringIO()
    with pytest.raises(CommandError, match="swarmnode"):
        call_command("kit", "--check", stdout=out)
    assert f"swarmnode {node_image}" in " ".join(out.getvalue().split())


def test_check_leaves_the_swarm_node_image_out_when_an_existing_swarm_is_used(
    image_states, settings
):
    settings.DOCKERLAB_SWARM = True
    settings.DOCKERLAB_SWARM_MANAGER_URL = "tcp://swarm.example:2376"
    image_states.update(dict.fromkeys(settings.DOCKERLAB_IMAGES.values(), kit.PRESENT))
    out = StringIO()
    call_command("kit", "--check", stdout=out)
    assert "swarmnode" not in out.getvalue()


def test_an_unreachable_engine_is_a_clear_command_error(engine_down):
    with pytest.raises(CommandError, match="not reachable") as info:
        call_command("kit", stdout=StringIO())
    assert info.value.returncode == 1


def test_from_the_shell_an_unreachable_engine_exits_1_without_a_traceback(tmp_path):
    env = {**os.environ, "DOCKERLAB_ENGINE_URL": f"unix://{tmp_path}/no-engine.sock"}
    proc = subprocess.run(
        [sys.executable, "manage.py", "kit", "--check"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 1
    assert "not reachable" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_check_reports_the_full_python_image_for_the_multistage_lesson(image_states, settings):
    settings.DOCKERLAB_IMAGES = {**settings.DOCKERLAB_IMAGES, "python-build": "python:3.12"}
    image_states.update(dict.fromkeys(settings.DOCKERLAB_IMAGES.values(), kit.KIT_BUILT))
    image_states["python:3.12"] = kit.MISSING
    out = StringIO()
    with pytest.raises(CommandError, match="python-build"):
        call_command("kit", "--check", stdout=out)
    assert "python-build python:3.12" in " ".join(out.getvalue().split())
    assert "MISSING" in out.getvalue()
