#!/usr/bin/env python3
"""Swarm healing on the classroom swarm: from a task's kill to its replacement running.

One learner's service of N replicas (the sample app); each round kills one
running task's container through the lab's own path (learner.kill_task) and
polls the manager every 50 ms until a new task runs in that slot. The
figure is what a learner sees in the live picture, give or take the
picture's poll interval. Baseline in the same run: the same kill done with
the raw SDK against the node's engine, its replacement timed the same way
(what the swarm itself takes; the difference is what the lab adds).

Prints a table and merges its figures into bench/results.json (figure name
-> number), keeping the other benchmarks' figures.
Usage: .venv/bin/python bench/swarm.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time

import common
from common import print_table, save_results

# A deployment id of its own: a site's reaper leaves the bench's objects alone.
WORKDIR = common.django_setup("dockerlab-bench-swarm-", f"bench-{os.getpid()}")

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402

from orchestration.services import learner, nodes  # noqa: E402
from sandboxes import services  # noqa: E402

POLL_S = 0.05
TIMEOUT_S = 120.0


def _running(sandbox, name: str) -> dict[int, dict]:
    return {
        t["slot"]: t for t in learner.list_tasks(sandbox, name)
        if t["state"] == "running" and t["desired"] == "running"
    }


def _wait(what: str, probe) -> object:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(POLL_S)
    raise SystemExit(f"bench: {what} did not happen in {TIMEOUT_S:.0f}s")


def _replaced(sandbox, name: str, slot: int, old: str) -> float:
    start = time.monotonic()
    _wait(f"a new task in slot {slot}", lambda: (
        (t := _running(sandbox, name).get(slot)) is not None and t["id"] != old))
    return time.monotonic() - start


def _kill_raw(sandbox, name: str, slot: int) -> tuple[str, float]:
    """The baseline: kill the task's container with the raw SDK on its node."""
    task_id = _running(sandbox, name)[slot]["id"]
    task = learner.manager().inspect_task(task_id)
    container = task["Status"]["ContainerStatus"]["ContainerID"]
    hostname = learner.hostnames_by_id(learner.node_entries(sandbox))[task["NodeID"]]
    nodes.node_api(hostname).kill(container)
    return task_id, time.monotonic()


def measure(sandbox, name: str, rounds: int) -> dict[str, float]:
    lab, raw = [], []
    for i in range(rounds):
        slot = 1 + i % 3
        _wait("three running tasks", lambda: len(_running(sandbox, name)) == 3)
        killed = learner.kill_task(sandbox, f"{name}.{slot}")
        lab.append(_replaced(sandbox, name, slot, killed["task"]))
        _wait("three running tasks", lambda: len(_running(sandbox, name)) == 3)
        old, _ = _kill_raw(sandbox, name, slot)
        raw.append(_replaced(sandbox, name, slot, old))
        print(f"  round {i + 1}: lab {lab[-1]:.2f}s, raw SDK {raw[-1]:.2f}s")
    return {
        "swarm_task_replace_s": round(statistics.median(lab), 3),
        "swarm_task_replace_max_s": round(max(lab), 3),
        "swarm_task_replace_raw_s": round(statistics.median(raw), 3),
        "swarm_task_replace_ratio": round(statistics.median(lab) / statistics.median(raw), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    call_command("migrate", "--noinput", verbosity=0)
    user = get_user_model().objects.create_user("bench-swarm")
    sandbox = services.sandbox_for(user)
    try:
        print("==> build and create a service of 3 replicas")
        for event in services.build_image(sandbox, "flask-app"):
            if event["kind"] == "error":
                raise SystemExit(f"bench: the build failed: {event}")
        wanted = learner.wanted_service(sandbox, "web", "flask-app", replicas=3)
        for _ in learner.create(sandbox, wanted):
            pass
        print(f"==> {args.rounds} kills: the lab's, then the raw SDK's")
        results = measure(sandbox, "web", args.rounds)
    finally:
        services.remove_objects(sandbox.sid)
        shutil.rmtree(WORKDIR, ignore_errors=True)
    print_table(results, digits=3)
    print(f"\nmerged into {save_results(results).relative_to(common.ROOT)}")


if __name__ == "__main__":
    main()
