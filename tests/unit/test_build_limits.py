"""Build limits the build API cannot set: the per-sandbox cgroup, and the lease.

The engine is not asked here: engine.client's is_local/info seam is patched.
The cgroup hierarchy is a temporary folder standing in for /sys/fs/cgroup;
tests/integration/test_build_limits.py proves the limits on the real engine.
"""

import logging

import pytest

from engine import client
from sandboxes.services import buildlimits

SID = "0123456789"


@pytest.fixture
def host(tmp_path, monkeypatch, settings):
    """A local cgroup v1 engine, with a writable stand-in cgroup tree."""
    (tmp_path / "pids").mkdir()
    monkeypatch.setattr(buildlimits, "CGROUP_ROOT", tmp_path)
    monkeypatch.setattr(client, "is_local", lambda: True)
    monkeypatch.setattr(
        client, "info", lambda: {"CgroupVersion": "1", "CgroupDriver": "cgroupfs"}
    )
    settings.DOCKERLAB_DEPLOYMENT = "unit-test"
    settings.DOCKERLAB_BUILD_PIDS = 42
    settings.VAR_DIR = tmp_path / "var"
    buildlimits.reset()
    yield tmp_path
    buildlimits.reset()


def test_a_sandbox_gets_its_own_cgroup_under_the_deployments_with_the_process_cap(host):
    assert buildlimits.cgroup_parent(SID) == f"/dockerlab/unit-test/{SID}"
    assert (
        host / "pids" / "dockerlab" / "unit-test" / SID / "pids.max"
    ).read_text() == "42\n"
    assert buildlimits.cgroup_sids() == {SID}


def test_without_a_writable_cgroup_tree_builds_go_on_with_one_warning(host, caplog):
    (host / "pids").rmdir()
    with caplog.at_level(logging.WARNING):
        assert buildlimits.cgroup_parent(SID) is None
        assert buildlimits.cgroup_parent(SID) is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "without a process limit" in warnings[0] and "pids" in warnings[0]


@pytest.mark.parametrize(
    "facts, reason",
    [
        ({"CgroupVersion": "2", "CgroupDriver": "systemd"}, "cgroup v2"),
        ({"CgroupVersion": "1", "CgroupDriver": "systemd"}, "systemd driver"),
    ],
)
def test_another_cgroup_set_up_is_said_and_skipped(
    host, monkeypatch, caplog, facts, reason
):
    monkeypatch.setattr(client, "info", lambda: facts)
    with caplog.at_level(logging.WARNING):
        assert buildlimits.cgroup_parent(SID) is None
    assert reason in caplog.text


def test_a_remote_engine_gets_no_cgroup(host, monkeypatch, caplog):
    monkeypatch.setattr(client, "is_local", lambda: False)
    with caplog.at_level(logging.WARNING):
        assert buildlimits.cgroup_parent(SID) is None
    assert "another machine" in caplog.text


def test_the_local_engine_is_told_by_its_url(settings, monkeypatch):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    settings.DOCKERLAB_ENGINE_URL = ""
    assert client.is_local()
    settings.DOCKERLAB_ENGINE_URL = "unix:///var/run/docker.sock"
    assert client.is_local()
    settings.DOCKERLAB_ENGINE_URL = "tcp://lab-engine:2376"
    assert not client.is_local()


def test_the_reaper_waits_while_a_build_holds_the_lease(host):
    with buildlimits.idle(SID) as idle:
        assert idle
    lease = buildlimits.Lease(SID)
    with buildlimits.idle(SID) as idle:
        assert not idle
    lease.release()
    lease.release()  # twice is harmless
    with buildlimits.idle(SID) as idle:
        assert idle


def test_the_cap_counts_as_reached_only_at_its_peak(host):
    buildlimits.cgroup_parent(SID)
    folder = host / "pids" / "dockerlab" / "unit-test" / SID
    (folder / "pids.peak").write_text("41\n")
    assert not buildlimits.pids_cap_reached(SID)
    (folder / "pids.peak").write_text("42\n")
    assert buildlimits.pids_cap_reached(SID)
