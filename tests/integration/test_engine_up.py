"""scripts/engine-up.sh run again on a running engine changes nothing.

It runs against the engine under test (DOCKER_HOST, else the local socket),
with the environment the tests have. The first run may still install the
host guard on a machine where the engine was started otherwise; the second
must find everything in place: no daemon started, no file system mounted,
no firewall rule touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from engine import client
from tests.integration.disk_engine import engine_is_local

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "engine-up.sh"


def _run() -> subprocess.CompletedProcess:
    done = subprocess.run(
        [str(SCRIPT)], capture_output=True, text=True, timeout=180, env=dict(os.environ)
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _rules(chain: str) -> dict[str, str]:
    rules = {}
    for ipt in ("iptables", "ip6tables"):
        if shutil.which(ipt):
            listed = [ipt, "-w", "-S", chain]
            rules[ipt] = subprocess.run(listed, capture_output=True, text=True).stdout
    return rules


def _state() -> dict:
    info = client.api().info()
    state = {"engine": info["ID"], "root": info["DockerRootDir"]}
    if engine_is_local():
        findmnt = ["findmnt", "-n", "-o", "SOURCE,FSTYPE,OPTIONS", "--target"]
        found = subprocess.run(
            [*findmnt, info["DockerRootDir"]], capture_output=True, text=True
        )
        state["store"] = found.stdout
        pidfile = Path(
            os.environ.get("DOCKERLAB_ENGINE_PIDFILE", "/var/run/docker.pid")
        )
        state["daemon"] = pidfile.read_text().strip() if pidfile.exists() else None
        if os.geteuid() == 0:
            state["input"] = _rules("INPUT")
            state["guard"] = _rules("DOCKERLAB-GUARD")
    return state


def test_a_second_run_finds_everything_in_place_and_changes_nothing():
    _run()
    before = _state()

    again = _run()

    assert _state() == before
    said = again.stdout
    assert "==> engine: running" in said
    for change in ("starting dockerd", "engine store:", "host guard: ip"):
        assert change not in said, said
    if engine_is_local() and os.geteuid() == 0:
        assert "-j DOCKERLAB-GUARD" in before["input"]["iptables"]
