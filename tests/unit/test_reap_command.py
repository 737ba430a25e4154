"""`manage.py reap` refuses a sweep interval that would hammer the engine, and
its loop measures disk on a cadence of its own."""

import pytest
from django.core.management import CommandError, call_command

from sandboxes.management.commands import reap as command
from sandboxes.services import disk, reaper


@pytest.mark.parametrize("args", [["--every", "1"], ["--every", "60", "--sandbox", "abc"]])
def test_it_refuses_a_bad_sweep_interval(args):
    with pytest.raises(CommandError, match="at least 10 seconds"):
        call_command("reap", *args)


class Clock:
    """Stands in for the time module: sleeping moves the clock, until `end`."""

    def __init__(self, end: float):
        self.now = 0.0
        self.end = end

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        if self.now > self.end:
            raise KeyboardInterrupt


def test_the_loop_measures_disk_every_so_often_between_sweeps(monkeypatch, settings):
    settings.DOCKERLAB_DISK_CHECK_EVERY = 10
    done = []
    monkeypatch.setattr(reaper, "reap", lambda: done.append(("reap", clock.now)) or {})
    monkeypatch.setattr(disk, "sweep", lambda: done.append(("disk", clock.now)) or {})
    clock = Clock(end=65)
    monkeypatch.setattr(command, "time", clock)

    with pytest.raises(KeyboardInterrupt):
        call_command("reap", "--every", "30")

    assert [at for job, at in done if job == "reap"] == [0, 30, 60]
    assert [at for job, at in done if job == "disk"] == [0, 10, 20, 30, 40, 50, 60]


def test_an_engine_error_does_not_end_the_loop(monkeypatch, settings):
    from engine.client import EngineUnavailable

    settings.DOCKERLAB_DISK_CHECK_EVERY = 10

    def down():
        raise EngineUnavailable("The Docker engine is not reachable.")

    monkeypatch.setattr(reaper, "reap", lambda: {})
    monkeypatch.setattr(disk, "sweep", down)
    clock = Clock(end=25)
    monkeypatch.setattr(command, "time", clock)

    with pytest.raises(KeyboardInterrupt):
        call_command("reap", "--every", "30")
    assert clock.now > 25
