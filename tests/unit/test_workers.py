"""The lab's thread pools and per-learner slots: nobody fills them for others."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from sandboxes import slots
from sandboxes.workers import FairPool

# --- slots ----------------------------------------------------------------------


@pytest.fixture
def fresh_slots():
    old = slots.use_store(slots.LocalSlots())
    yield
    slots.use_store(old)


def test_a_learner_gets_slots_up_to_the_limit_and_back_once_released(fresh_slots):
    taken = [slots.take("streams", 1, 3) for _ in range(4)]
    assert [t is not None for t in taken] == [True, True, True, False]
    assert slots.take("streams", 2, 3) is not None  # another learner: own count
    taken[0].release()
    taken[0].release()  # a second release gives nothing more back
    assert slots.count("streams", 1) == 2
    assert slots.take("streams", 1, 3) is not None
    assert slots.take("streams", 1, 3) is None


def test_slots_are_never_shared_by_racing_threads(fresh_slots):
    got = []
    barrier = threading.Barrier(20)

    def grab():
        barrier.wait()
        got.append(slots.take("builds", 7, 5))

    threads = [threading.Thread(target=grab) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(slot is not None for slot in got) == 5
    assert slots.count("builds", 7) == 5


# --- FairPool -------------------------------------------------------------------


def _sleeper(seconds: float, started: list, label: str):
    def work():
        started.append(label)
        time.sleep(seconds)
        return label

    return work


async def test_one_learners_slow_calls_queue_behind_each_other_not_before_others():
    pool = FairPool("test", threads=4, per_user=2)
    started: list[str] = []
    try:
        slow = [
            asyncio.ensure_future(pool.run("alice", _sleeper(0.5, started, f"a{i}")))
            for i in range(6)
        ]
        await asyncio.sleep(0.1)
        assert pool.running("alice") == 2 and pool.waiting("alice") == 4
        begun = time.monotonic()
        assert await pool.run("bob", lambda: "bob's state") == "bob's state"
        assert time.monotonic() - begun < 0.3  # not behind alice's six stops
        assert await asyncio.gather(*slow) == [f"a{i}" for i in range(6)]
        assert sorted(started) == [f"a{i}" for i in range(6)]
        assert pool.running("alice") == 0 and pool.waiting("alice") == 0
    finally:
        pool.shutdown()


async def test_a_cancelled_caller_keeps_its_slot_until_its_thread_ends():
    pool = FairPool("test", threads=2, per_user=1)
    release = threading.Event()
    try:
        running = asyncio.ensure_future(pool.run("alice", release.wait))
        await asyncio.sleep(0.05)
        running.cancel()  # the socket went away; the engine call goes on
        await asyncio.sleep(0.05)
        assert pool.running("alice") == 1
        queued = asyncio.ensure_future(pool.run("alice", lambda: "next"))
        await asyncio.sleep(0.05)
        assert not queued.done()
        release.set()
        assert await asyncio.wait_for(queued, 2) == "next"
        assert pool.running("alice") == 0
    finally:
        pool.shutdown()


async def test_a_call_cancelled_while_waiting_takes_no_slot():
    pool = FairPool("test", threads=2, per_user=1)
    release = threading.Event()
    try:
        first = asyncio.ensure_future(pool.run("alice", release.wait))
        await asyncio.sleep(0.05)
        waiting = asyncio.ensure_future(pool.run("alice", lambda: "never"))
        await asyncio.sleep(0.05)
        waiting.cancel()
        await asyncio.sleep(0.01)
        assert pool.waiting("alice") == 0
        release.set()
        await first
        await asyncio.sleep(0.05)
        assert pool.running("alice") == 0
        assert await pool.run("alice", lambda: "again") == "again"
    finally:
        pool.shutdown()


async def test_an_error_in_a_call_reaches_the_caller_and_frees_the_slot():
    pool = FairPool("test", threads=1, per_user=1)

    def broken():
        raise ValueError("engine said no")

    try:
        with pytest.raises(ValueError, match="engine said no"):
            await pool.run("alice", broken)
        await asyncio.sleep(0.01)
        assert pool.running("alice") == 0
    finally:
        pool.shutdown()
