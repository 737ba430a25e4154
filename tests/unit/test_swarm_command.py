"""`manage.py swarm`: switched off, misconfigured or without an engine, it says so plainly."""

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from engine import client
from orchestration.errors import SwarmDisabled, SwarmError
from orchestration.services import nodes

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def engine_down(settings, tmp_path):
    settings.DOCKERLAB_ENGINE_URL = f"unix://{tmp_path}/no-engine.sock"
    client.reset()
    yield
    client.reset()


@pytest.mark.parametrize("action", ["up", "status", "down"])
def test_with_orchestration_off_every_action_says_so_and_succeeds(settings, action):
    settings.DOCKERLAB_SWARM = False
    out = StringIO()
    call_command("swarm", action, stdout=out)
    assert "switched off" in out.getvalue()


def test_a_bad_subnet_is_a_clear_command_error(settings):
    settings.DOCKERLAB_SWARM = True
    settings.DOCKERLAB_SWARM_MANAGER_URL = ""
    settings.DOCKERLAB_SWARM_SUBNET = "10.213.0.0/16"
    with pytest.raises(CommandError, match="DOCKERLAB_SWARM_SUBNET must be an IPv4 /24"):
        call_command("swarm", "status", stdout=StringIO())


def test_an_unreachable_engine_is_a_clear_command_error(settings, engine_down):
    settings.DOCKERLAB_SWARM = True
    settings.DOCKERLAB_SWARM_MANAGER_URL = ""
    with pytest.raises(CommandError, match="not reachable") as info:
        call_command("swarm", "status", stdout=StringIO())
    assert info.value.returncode == 1


def test_an_unreachable_existing_swarm_is_reported_not_raised(settings, tmp_path):
    settings.DOCKERLAB_SWARM = True
    settings.DOCKERLAB_SWARM_MANAGER_URL = f"unix://{tmp_path}/no-manager.sock"
    out = StringIO()
    with pytest.raises(CommandError, match="not ready: manager"):
        call_command("swarm", "status", stdout=out)
    assert "no-manager.sock" in out.getvalue()


def test_down_never_touches_an_existing_swarm(settings, tmp_path):
    settings.DOCKERLAB_SWARM = True
    settings.DOCKERLAB_SWARM_MANAGER_URL = f"unix://{tmp_path}/no-manager.sock"
    out = StringIO()
    call_command("swarm", "down", "--volumes", stdout=out)
    assert "stops nothing" in out.getvalue()


def test_the_seam_refuses_when_orchestration_is_off(settings):
    settings.DOCKERLAB_SWARM = False
    for call in (nodes.manager_api, nodes.registry, lambda: nodes.node_api("manager")):
        with pytest.raises(SwarmDisabled):
            call()


def test_an_existing_swarm_needs_its_registry_named(settings):
    settings.DOCKERLAB_SWARM = True
    settings.DOCKERLAB_SWARM_MANAGER_URL = "tcp://swarm.example:2376"
    settings.DOCKERLAB_SWARM_REGISTRY = ""
    with pytest.raises(SwarmError, match="DOCKERLAB_SWARM_REGISTRY"):
        nodes.registry()
    settings.DOCKERLAB_SWARM_REGISTRY = "registry.example:5000"
    registry = nodes.registry()
    assert registry.push_name("app:v1") == registry.pull_name("app:v1") == "registry.example:5000/app:v1"
    assert nodes.hostnames() == []


def test_from_the_shell_an_unreachable_engine_exits_1_without_a_traceback(tmp_path):
    env = {**os.environ, "DOCKERLAB_ENGINE_URL": f"unix://{tmp_path}/no-engine.sock",
           "DOCKERLAB_SWARM": "1", "DOCKERLAB_SWARM_MANAGER_URL": ""}
    proc = subprocess.run(
        [sys.executable, "manage.py", "swarm", "up"],
        check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 1
    assert "not reachable" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
