"""Build steps' limits, proved on the real engine.

A fork bomb in a RUN step stops at the sandbox's process cap and the build
fails saying so, while the host keeps starting processes; a CPU spinner gets
at most its quota; a RUN step has no network at all. Every container and
image a build makes carries the sandbox's stable labels, and a new expiry
still finds every earlier step in the cache. Reaping the sandbox removes its
build cgroups.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from engine import client
from sandboxes import services
from sandboxes.models import Sandbox
from sandboxes.services import buildlimits
from tests.integration.learners import two_learners
from tests.integration.trap import Trap

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

BASE = "FROM python:3.12-slim\n"
STABLE = ("org.dockerlab.deployment", "org.dockerlab.sandbox", "org.dockerlab.owner")
EXPIRY = "org.dockerlab.expires"


@pytest.fixture(scope="module")
def learners(django_db_setup, django_db_blocker):
    with two_learners(django_db_blocker, "limits") as (_, sandboxes):
        yield sandboxes


@pytest.fixture(scope="module")
def carol(learners):
    return learners[0]


def _run_step(script: str) -> str:
    """A RUN step running a Python script (JSON form: no shell, no escaping)."""
    return "RUN " + json.dumps(["python", "-c", script]) + "\n"


def _text(events: list[dict]) -> str:
    return "".join(e.get("text", "") for e in events if e["kind"] == "line")


def _cgroup(sandbox, hierarchy: str = "pids") -> Path:
    return (
        buildlimits.CGROUP_ROOT
        / hierarchy
        / buildlimits.PARENT
        / (f"{services.builds.settings.DOCKERLAB_DEPLOYMENT}/{sandbox.sid}")
    )


def test_this_host_can_cap_build_processes(carol):
    """The classroom set-up here: a local cgroup v1 engine we may write to."""
    buildlimits.reset()
    assert buildlimits._problem() is None
    assert (
        buildlimits.cgroup_parent(carol.sid)
        == f"/dockerlab/{services.builds.settings.DOCKERLAB_DEPLOYMENT}/{carol.sid}"
    )


def test_a_fork_bomb_in_a_run_step_is_contained(carol, settings):
    settings.DOCKERLAB_BUILD_PIDS = 48
    bomb = "import os\nwhile True:\n    os.fork()\n"
    stream = services.build_image(carol, "bomb", BASE + _run_step(bomb))
    events: list[dict] = []
    reader = threading.Thread(target=lambda: events.extend(stream), daemon=True)
    reader.start()
    # While it runs, the host still starts processes and the engine answers.
    started = time.monotonic()
    while reader.is_alive() and time.monotonic() - started < 120:
        subprocess.run(["true"], check=True, timeout=20)
        client.ping(timeout=20)
        time.sleep(0.2)
    reader.join(5)
    assert not reader.is_alive(), "the fork bomb's build did not end"
    error = events[-1]
    assert error["kind"] == "error"
    assert "returned a non-zero code" in error["message"]
    assert "at most 48 processes" in error["message"]
    assert "Resource temporarily unavailable" in _text(events)
    peak = int((_cgroup(carol) / "pids.peak").read_text())
    assert peak <= 48
    assert (_cgroup(carol) / "pids.max").read_text().strip() == "48"


SPINNER = """
import multiprocessing, resource, time
def spin():
    end = time.monotonic() + 3
    while time.monotonic() < end:
        pass
workers = [multiprocessing.Process(target=spin) for _ in range(2)]
[w.start() for w in workers]
[w.join() for w in workers]
used = resource.getrusage(resource.RUSAGE_CHILDREN)
quota = open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read().strip()
period = open("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read().strip()
seconds = used.ru_utime + used.ru_stime
print("cpu-seconds=%.2f quota=%s period=%s" % (seconds, quota, period))
"""


def test_a_cpu_spinner_gets_at_most_its_quota(carol, settings):
    settings.DOCKERLAB_CONTAINER_CPUS = 0.25
    events = list(
        services.build_image(carol, "spinner", BASE + _run_step(SPINNER), no_cache=True)
    )
    assert events[-1]["kind"] == "done", events[-3:]
    line = next(
        line for line in _text(events).splitlines() if line.startswith("cpu-seconds=")
    )
    facts = dict(item.split("=") for item in line.split())
    assert (facts["quota"], facts["period"]) == ("25000", "100000")
    # Two processes spinning for 3 s could use 6 CPU-seconds on two cores;
    # a quarter of one CPU allows 0.75 (plus the scheduler's slack).
    assert float(facts["cpu-seconds"]) <= 0.25 * 3 * 1.4 + 0.2, line


PROBE = """
import errno, socket, sys
def attempt(host, port):
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect((host, port))
        return "connected"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc))
rows = open("/proc/net/dev").readlines()[2:]
interfaces = [row.split(":")[0].strip() for row in rows]
print("interfaces=" + ",".join(interfaces))
print("loopback=" + attempt("127.0.0.1", int(sys.argv[1])))
print("gateway=" + attempt(sys.argv[2], int(sys.argv[1])))
"""


def test_a_run_step_reaches_no_network(carol):
    with client.translate_errors():
        bridge = client.api().inspect_network("bridge")
    config = bridge["IPAM"]["Config"][0]
    # The default bridge's gateway (docker0's address), said or implied by its subnet.
    gateway = config.get("Gateway") or str(
        next(ipaddress.ip_network(config["Subnet"]).hosts())
    )
    with Trap() as trap:
        run = (
            "RUN " + json.dumps(["python", "-c", PROBE, str(trap.port), gateway]) + "\n"
        )
        events = list(services.build_image(carol, "probe", BASE + run, no_cache=True))
        assert events[-1]["kind"] == "done", events[-3:]
        assert trap.connections == 0
    facts = dict(
        line.split("=", 1) for line in _text(events).splitlines() if "=" in line
    )
    assert facts["interfaces"] == "lo"
    # Its own loopback only: nothing listens there, and the host is not on it.
    assert facts["loopback"] == "ECONNREFUSED"
    # No route at all: the default bridge's gateway is unreachable.
    assert facts["gateway"] == "ENETUNREACH"


def test_the_sample_still_builds_without_a_network(carol):
    events = list(services.build_image(carol, "flask-app"))
    assert events[-1]["kind"] == "done", events[-3:]
    assert "Requirement already satisfied" in _text(events)


def test_every_container_and_image_a_build_makes_carries_the_stable_labels(carol):
    stream = services.build_image(
        carol,
        "labelled",
        BASE + 'RUN echo step-one\nRUN sleep 4 && echo step-two\nCMD ["true"]\n',
    )
    events: list[dict] = []
    reader = threading.Thread(target=lambda: events.extend(stream), daemon=True)
    reader.start()
    seen: dict[str, dict] = {}
    while reader.is_alive():
        with client.translate_errors():
            for container in client.api().containers(
                all=True, filters=carol.label_filter()
            ):
                seen[container["Id"]] = container.get("Labels") or {}
        time.sleep(0.1)
    assert events[-1]["kind"] == "done", events[-3:]
    assert seen, "no build step container was seen"
    for labels in seen.values():
        assert {key: labels.get(key) for key in STABLE} == {
            key: carol.labels()[key] for key in STABLE
        }
    with client.translate_errors():
        api = client.api()
        base = {entry["Id"] for entry in api.history("python:3.12-slim")}
        chain = [e["Id"] for e in api.history(events[-1]["id"]) if e["Id"] not in base]
        found = {
            image["Id"]: image.get("Labels") or {}
            for image in api.images(all=True, filters=carol.label_filter())
        }
    assert len(chain) == 5  # our LABEL, two RUNs, CMD, the expiry LABEL
    assert set(chain) <= set(found), (
        "an image of the build is not labelled with its sandbox"
    )
    assert EXPIRY in found[chain[0]]
    assert all(EXPIRY not in found[image] for image in chain[1:])


def test_a_new_expiry_finds_every_earlier_step_in_the_cache(carol, django_db_blocker):
    dockerfile = BASE + 'RUN echo cached-step\nCMD ["true"]\n'
    first = list(services.build_image(carol, "cached", dockerfile))
    assert first[-1]["kind"] == "done"
    with django_db_blocker.unblock():
        Sandbox.objects.filter(pk=carol.pk).update(
            expires_at=timezone.now() + timedelta(hours=3)
        )
        carol.refresh_from_db()
    second = list(services.build_image(carol, "cached", dockerfile))
    assert second[-1]["kind"] == "done"
    steps, cached = [], set()
    for event in second:
        if event["kind"] == "step":
            steps.append(event["step"])
        elif event["kind"] == "line" and "Using cache" in event["text"]:
            cached.add(steps[-1])
    assert cached == {2, 3, 4}  # all but FROM (nothing to cache) and the new expiry
    assert second[-1]["id"] != first[-1]["id"]
    labels = client.api().inspect_image(second[-1]["id"])["Config"]["Labels"]
    assert labels[EXPIRY] == carol.labels()[EXPIRY]


def test_reaping_a_sandbox_removes_its_build_cgroups(learners):
    sandbox = learners[1]
    events = list(services.build_image(sandbox, "tiny", BASE + "RUN true\n"))
    assert events[-1]["kind"] == "done"
    made = [h / buildlimits.PARENT for h in buildlimits.CGROUP_ROOT.iterdir()]
    paths = [
        path / services.builds.settings.DOCKERLAB_DEPLOYMENT / sandbox.sid
        for path in made
    ]
    assert any(path.is_dir() for path in paths)
    services.remove_objects(sandbox.sid)
    assert not [path for path in paths if path.exists()]
    assert sandbox.sid not in buildlimits.cgroup_sids()
