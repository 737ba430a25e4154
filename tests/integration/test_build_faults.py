"""A server killed in the middle of a build leaves nothing behind once reconciled.

A child process (`python -m tests.integration.killable_build`) builds through the
sandbox services, as the server does, and is SIGKILLed while a long RUN step
runs. While it runs, its step container already carries the sandbox's labels.
Then reconciliation runs, as at the next start:

- the sandbox is still live (same database): `manage.py reap` leaves no build
  container, and no image of that build - the sandbox's earlier image stays;
- the database does not know the sandbox any more (a fresh one): reap()
  leaves nothing at all of it - containers, images (intermediate ones too),
  volumes, networks, build cgroups.

Objects are looked for by label, and also by content: anything created
during the test whose command or history holds the build's random token, or
a new anonymous volume nobody uses, is an orphan whatever its labels say.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from engine import client
from sandboxes import services
from sandboxes.models import Sandbox
from sandboxes.services import buildlimits
from tests.integration.learners import two_learners

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

ROOT = Path(__file__).resolve().parents[2]
BASE = "FROM python:3.12-slim\n"
STABLE = ("org.dockerlab.deployment", "org.dockerlab.sandbox", "org.dockerlab.owner")
ANONYMOUS = re.compile(r"^[0-9a-f]{64}$")


@pytest.fixture(scope="module")
def learners(django_db_setup, django_db_blocker):
    with two_learners(django_db_blocker, "faults") as (_, sandboxes):
        yield sandboxes


def _engine_state() -> dict[str, set[str]]:
    with client.translate_errors():
        api = client.api()
        return {
            "containers": {c["Id"] for c in api.containers(all=True)},
            "images": {i["Id"] for i in api.images(all=True)},
            "volumes": {v["Name"] for v in (api.volumes() or {}).get("Volumes") or []},
        }


def _orphans(before: dict[str, set[str]], token: str) -> list[str]:
    """New objects that hold the build's token, or new anonymous volumes nobody uses."""
    api = client.api()
    now = _engine_state()
    found = []
    for container_id in now["containers"] - before["containers"]:
        with client.translate_errors():
            data = api.inspect_container(container_id)
        if token in json.dumps(data["Config"].get("Cmd")):
            found.append(
                f"container {container_id[:12]} {data['Config'].get('Labels')}"
            )
    for image_id in now["images"] - before["images"]:
        with client.translate_errors():
            history = api.history(image_id)
        if any(token in (entry.get("CreatedBy") or "") for entry in history):
            found.append(f"image {image_id[:19]}")
    used = {
        mount.get("Name")
        for container in api.containers(all=True)
        for mount in container.get("Mounts") or []
    }
    for name in now["volumes"] - before["volumes"]:
        with client.translate_errors():
            labels = api.inspect_volume(name).get("Labels") or {}
        if ANONYMOUS.match(name) and not labels and name not in used:
            found.append(f"volume {name[:12]}")
    return found


def _kill_mid_build(sandbox, token: str) -> None:
    """Start the build in a child process, check it mid-RUN, SIGKILL the child."""
    dockerfile = (
        BASE
        + "RUN echo one > /one\n"
        + "VOLUME /data\n"
        + f"RUN echo started-{token} && sleep 120\n"
        + 'CMD ["true"]\n'
    )
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.killable_build",
            sandbox.sid,
            "victim",
        ],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "DOCKERLAB_DB": connection.settings_dict["NAME"]},
    )
    child.stdin.write(dockerfile)
    child.stdin.close()
    lines: queue.Queue = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(line) for line in child.stdout], daemon=True
    ).start()
    deadline = time.monotonic() + 120
    while True:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            child.kill()
            pytest.fail(f"the build never reached its long step: {child.stderr.read()}")
        event = json.loads(line)
        assert event["kind"] != "error", event
        if event["kind"] == "line" and event["text"].strip() == f"started-{token}":
            break  # the step's own output: its container runs
    # Mid-build: the step container runs, and is already the sandbox's. (The
    # engine's list may show it as running a moment after its first output.)
    running: list[dict] = []
    for _ in range(50):
        with client.translate_errors():
            running = [
                c
                for c in client.api().containers(
                    all=True, filters=sandbox.label_filter()
                )
                if token in c.get("Command", "") and c["State"] == "running"
            ]
        if running:
            break
        time.sleep(0.1)
    assert len(running) == 1
    labels = running[0]["Labels"]
    assert {key: labels.get(key) for key in STABLE} == {
        key: sandbox.labels()[key] for key in STABLE
    }
    with buildlimits.idle(sandbox.sid) as idle:
        assert not idle, "the build holds no lease"
    child.send_signal(signal.SIGKILL)
    child.wait(10)


def _labelled(sandbox) -> dict[str, list]:
    flt = sandbox.label_filter()
    with client.translate_errors():
        api = client.api()
        return {
            "containers": [c["Id"] for c in api.containers(all=True, filters=flt)],
            "images": sorted(i["Id"] for i in api.images(all=True, filters=flt)),
            "volumes": [
                v["Name"] for v in (api.volumes(filters=flt) or {}).get("Volumes") or []
            ],
            "networks": [n["Id"] for n in api.networks(filters=flt)],
        }


def test_after_a_kill_the_next_start_clears_the_builds_leftovers_of_a_live_sandbox(
    learners,
):
    sandbox = learners[0]
    events = list(services.build_image(sandbox, "kept", BASE + "RUN echo kept\n"))
    assert events[-1]["kind"] == "done"
    kept = _labelled(sandbox)
    before = _engine_state()
    token = uuid.uuid4().hex[:12]

    _kill_mid_build(sandbox, token)
    out = StringIO()
    call_command("reap", stdout=out)  # what `make run` starts with

    assert _labelled(sandbox) == kept
    assert services.list_state(sandbox)["images"][0]["name"] == "kept:latest"
    assert _orphans(before, token) == []
    with buildlimits.idle(sandbox.sid) as idle:
        assert idle


def test_after_a_kill_a_sandbox_the_database_forgot_leaves_nothing(
    learners, django_db_blocker
):
    sandbox = learners[1]
    events = list(services.build_image(sandbox, "kept", BASE + "RUN echo kept\n"))
    assert events[-1]["kind"] == "done"
    before = _engine_state()
    token = uuid.uuid4().hex[:12]

    _kill_mid_build(sandbox, token)
    with django_db_blocker.unblock():
        Sandbox.objects.filter(
            sid=sandbox.sid
        ).delete()  # a restart with a fresh database
    swept = services.reap(only={sandbox.sid})

    assert swept[sandbox.sid]["images"] >= 1
    assert _labelled(sandbox) == {
        "containers": [],
        "images": [],
        "volumes": [],
        "networks": [],
    }
    assert _orphans(before, token) == []
    assert sandbox.sid not in buildlimits.cgroup_sids()
    deployment = services.builds.settings.DOCKERLAB_DEPLOYMENT
    assert not [
        h
        for h in buildlimits.CGROUP_ROOT.iterdir()
        if (h / buildlimits.PARENT / deployment / sandbox.sid).exists()
    ]
