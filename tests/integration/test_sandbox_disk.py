"""Disk limits on the real engine: sizes where it has quotas, measurement everywhere.

The quota tests are written for the engine `make test` gets from
scripts/engine-up.sh: XFS with project quotas, where a write past a
container's or a volume's size fails with ENOSPC. On an engine that cannot
have quotas (a kernel without CONFIG_XFS_QUOTA) the same tests check that
nothing is sized and that the measurement stops what grew past the limit;
where the engine should have quotas and has not, they fail
(tests/integration/disk_engine.py).
"""

from __future__ import annotations

import os
import re
from io import StringIO

import pytest
from django.core.management import call_command

from engine import client
from sandboxes import services
from sandboxes.errors import QuotaExceeded
from sandboxes.services import disk
from tests.integration.disk_engine import engine_is_local, require_expected_quotas
from tests.integration.learners import two_learners

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

MB = 1024 * 1024
FILLER = 'FROM python:3.12-slim\nVOLUME /data\nCMD ["sleep", "600"]\n'
OVER = re.compile(
    r"^Your sandbox uses \d+(\.\d)? MB of disk, over its 64 MB limit: remove images "
    r"or volumes \(docker rmi, docker volume rm, docker system prune\)\.$"
)


@pytest.fixture(autouse=True)
def fresh_record():
    """Each test starts from no recorded measurement, and leaves none behind."""
    disk.record_path().unlink(missing_ok=True)
    yield
    disk.record_path().unlink(missing_ok=True)


@pytest.fixture(scope="module")
def engine_quotas(django_db_setup):
    return require_expected_quotas()


@pytest.fixture
def learners(django_db_blocker):
    with two_learners(django_db_blocker, "disk") as (_, sandboxes):
        yield sandboxes


def _layered(mb: int, path: str) -> str:
    """The filler image with one more layer of `mb` MiB."""
    step = f"RUN dd if=/dev/zero of={path} bs=1M count={mb}\n"
    return FILLER.replace("VOLUME", step + "VOLUME")


def _sleeper(sandbox, name: str, seconds: int = 600) -> None:
    services.run_container(
        sandbox, "python:3.12-slim", name=name, port=None, command=f"sleep {seconds}"
    )


def _build(sandbox, tag: str, dockerfile: str) -> list[dict]:
    return list(services.build_image(sandbox, tag, dockerfile))


def _built(sandbox, tag: str, dockerfile: str) -> None:
    events = _build(sandbox, tag, dockerfile)
    assert events[-1]["kind"] == "done", events[-5:]


def _exec(sandbox, container: str, command: str) -> tuple[int, str]:
    api = client.api()
    engine_id = services.find_container(sandbox, container)["Id"]
    with client.translate_errors():
        exec_id = api.exec_create(engine_id, ["sh", "-c", command])
        output = api.exec_start(exec_id).decode(errors="replace")
        code = api.exec_inspect(exec_id)["ExitCode"]
    return code, output


def _fill(sandbox, container: str, path: str, mb: int) -> tuple[int, str]:
    return _exec(
        sandbox,
        container,
        f"dd if=/dev/zero of={path} bs=1M count={mb} 2>&1; code=$?; sync; "
        f"echo size=$(stat -c %s {path}); exit $code",
    )


def _written(output: str) -> int:
    return int(re.search(r"size=(\d+)", output).group(1))


def _raw(sandbox, container: str) -> dict:
    engine_id = services.find_container(sandbox, container)["Id"]
    return client.api().inspect_container(engine_id)


def _state(sandbox, container: str) -> str:
    return services.find_container(sandbox, container)["State"]


def _data_volume(sandbox, container: str) -> dict:
    mounts = _raw(sandbox, container)["Mounts"]
    (mount,) = [m for m in mounts if m["Destination"] == "/data"]
    return client.api().inspect_volume(mount["Name"])


def _volume_figures(sandbox, container: str, written: int) -> range:
    """What the measurement may say of the container's /data volume."""
    volume = _data_volume(sandbox, container)
    size = (volume["Options"] or {}).get("size")
    if size and not (engine_is_local() and os.path.exists(volume["Mountpoint"])):
        # A sized volume whose files this process cannot see counts as full.
        full = int(size.rstrip("M")) * MB
        return range(full, full + 1)
    return range(written, written + MB)


def test_usage_is_measured_and_charged_to_the_sandbox_that_holds_it(learners):
    alice, bob = learners
    _built(alice, "heavy", _layered(20, "/layer"))
    _built(alice, "heavier", "FROM heavy\nRUN dd if=/dev/zero of=/more bs=1M count=5\n")
    _built(bob, "light", _layered(3, "/b"))
    services.run_container(alice, "heavy", name="box", port=None)
    services.run_container(bob, "light", name="box", port=None)
    assert _fill(alice, "box", "/fill", 30)[0] == 0
    assert _fill(alice, "box", "/data/fill", 10)[0] == 0

    entries = disk.sweep()

    mine, theirs = entries[alice.sid], entries[bob.sid]
    assert 30 * MB <= mine["containers"] < 31 * MB
    assert mine["volumes"] in _volume_figures(alice, "box", 10 * MB)
    # Her two images' own layers (20 + 5 MB), not the lesson image under them.
    assert 25 * MB <= mine["images"] < 26 * MB
    assert mine["used"] == mine["containers"] + mine["volumes"] + mine["images"]
    assert theirs["containers"] < MB
    assert theirs["volumes"] in _volume_figures(bob, "box", 0)
    assert 3 * MB <= theirs["images"] < 4 * MB
    assert not mine["over"] and not theirs["over"]
    shown = services.disk_usage(alice)
    assert shown["used"] == mine["used"] and shown["message"] is None
    assert _state(alice, "box") == "running"


def test_a_sandbox_over_its_limit_is_stopped_and_refused(
    learners, settings, monkeypatch
):
    alice, bob = learners
    settings.DOCKERLAB_SANDBOX_DISK_MB = 64
    # Sizes of their own above the total, so only the measurement stops this.
    settings.DOCKERLAB_CONTAINER_DISK_MB = 128
    monkeypatch.setattr(disk, "RECHECK_SECONDS", 0)
    _built(alice, "filler", FILLER)
    services.run_container(alice, "filler", name="hog", port=None)
    services.run_container(alice, "filler", name="idle", port=None)
    _sleeper(bob, "calm")
    assert _fill(alice, "hog", "/fill", 80)[0] == 0

    out = StringIO()
    call_command("reap", stdout=out)

    entry = services.disk_usage(alice)
    assert entry["over"] and entry["used"] >= 80 * MB
    assert entry["stopped"] == ["hog", "idle"]
    assert OVER.match(entry["message"]), entry["message"]
    assert f"disk: {alice.sid} uses" in out.getvalue()
    assert "over its limit (stopped: hog, idle)" in out.getvalue()
    assert _state(alice, "hog") == "exited" and _state(alice, "idle") == "exited"
    assert _state(bob, "calm") == "running"
    assert not services.disk_usage(bob)["over"]
    for attempt in (
        lambda: services.run_container(alice, "filler", name="more", port=None),
        lambda: services.build_image(alice, "another", FILLER),
    ):
        with pytest.raises(QuotaExceeded) as refused:
            attempt()
        assert refused.value.code == "disk_quota"
        assert OVER.match(refused.value.message), refused.value.message
    _sleeper(bob, "fine", 60)

    services.remove_container(alice, "hog")

    services.run_container(alice, "filler", name="again", port=None)
    assert not services.disk_usage(alice)["over"]


def test_a_writable_layer_fill_stops_at_the_containers_size(
    learners, engine_quotas, settings
):
    alice, _ = learners
    settings.DOCKERLAB_CONTAINER_DISK_MB = 64
    settings.DOCKERLAB_SANDBOX_DISK_MB = 64
    _sleeper(alice, "fill")
    storage = _raw(alice, "fill")["HostConfig"].get("StorageOpt")

    code, output = _fill(alice, "fill", "/fill", 100)

    if engine_quotas.layers:
        assert storage == {"size": "64M"}
        assert code != 0 and "No space left on device" in output, output
        assert 50 * MB < _written(output) <= 64 * MB
    else:
        # No quotas: nothing is sized, the write goes through, and the
        # measurement stops the sandbox.
        assert not storage
        assert code == 0 and _written(output) == 100 * MB
        assert disk.sweep()[alice.sid]["over"]
        assert _state(alice, "fill") == "exited"


def test_a_volume_fill_stops_at_its_size(learners, engine_quotas, settings):
    alice, _ = learners
    settings.DOCKERLAB_VOLUME_DISK_MB = 48
    settings.DOCKERLAB_SANDBOX_DISK_MB = 64
    _built(alice, "filler", FILLER)
    services.run_container(alice, "filler", name="vol", port=None)
    volume = _data_volume(alice, "vol")
    assert volume["Labels"]["org.dockerlab.sandbox"] == alice.sid

    code, output = _fill(alice, "vol", "/data/fill", 100)

    if engine_quotas.volumes:
        assert volume["Options"] == {"size": "48M"}
        assert code != 0 and "No space left on device" in output, output
        assert 30 * MB < _written(output) <= 48 * MB
    else:
        assert not volume["Options"]
        assert code == 0 and _written(output) == 100 * MB
        entry = disk.sweep()[alice.sid]
        assert entry["over"] and entry["volumes"] >= 100 * MB
        assert _state(alice, "vol") == "exited"


def test_a_build_step_fill_stops_at_the_engines_layer_size(learners, engine_quotas):
    alice, _ = learners
    if engine_quotas.layers:
        # Whatever size the engine's default is, the step writes past it.
        events = _build(
            alice,
            "greedy",
            "FROM python:3.12-slim\n"
            "RUN size=$(df -k / | awk 'NR==2 {print $2}'); echo \"layer: $size KiB\"; "
            "dd if=/dev/zero of=/big bs=1M count=$((size / 1024 + 16))\n",
        )
        text = "".join(e.get("text", "") for e in events)
        layer_kib = int(re.search(r"layer: (\d+) KiB", text).group(1))
        assert layer_kib <= 8 * 1024 * 1024, "the step saw the whole store, not a size"
        assert events[-1]["kind"] == "error", events[-3:]
        assert "No space left on device" in text, text[-500:]
    else:
        # No quotas: the step's layer lands in the image, and the image is
        # charged to the sandbox that built it.
        _built(alice, "greedy", _layered(30, "/big"))
        assert disk.sweep()[alice.sid]["images"] >= 30 * MB
