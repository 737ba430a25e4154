#!/usr/bin/env python3
"""dockerlab benchmark: how soon a lesson page sees a step's new state after an action.

On the real engine and the real server (python -m dockerlab.serve), a learner's
page watches the building-images lesson. Each round sends `run` (web from the
learner's flask-app image, the lesson's step 2) and measures, in the page's
socket, the time from the run's `result` frame to the automatic `check.result`
of step 2: what the server adds after the action (keeping it in the lab history,
reading the learner's progress, queueing) plus the check itself on the engine.
Between rounds the container is removed and the step's progress reset, so
every round is a first "done".

Baseline, measured in the same run: the same evaluation called directly in
this process (lessons.progress.evaluate_step) with web running, which is the
check's own cost without the socket and the server around it.

Prints a table and merges its figures into bench/results.json.
Usage: .venv/bin/python bench/checks.py [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import time

import common
from common import percentile, print_table, save_results

# A deployment id of its own: a site's reaper on this engine leaves it alone.
WORKDIR = common.django_setup("dockerlab-bench-checks-", f"bench-checks-{os.getpid()}")

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402

from lessons import progress  # noqa: E402
from lessons.models import Progress  # noqa: E402
from sandboxes import services  # noqa: E402

LESSON = "building-images"
STEP = 2  # "Run a container from it": container_running web, flask-app, port 5002
TARGETS = {"check_after_action_p95_ms": ("<=", 1000)}


class Page:
    """A lesson page's socket: sends actions, waits for frames, notes when they arrived."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.counter = 0

    async def frame(self, timeout: float = 120.0) -> tuple[dict, float]:
        text = await asyncio.wait_for(self.ws.recv(), timeout)
        return json.loads(text), time.perf_counter()

    async def until(self, predicate, timeout: float = 120.0) -> tuple[dict, float]:
        deadline = time.monotonic() + timeout
        while True:
            frame, at = await self.frame(max(0.1, deadline - time.monotonic()))
            if frame.get("type") == "error":
                raise SystemExit(f"the server refused an action: {frame}")
            if predicate(frame):
                return frame, at

    async def send(self, action: str, **args) -> str:
        self.counter += 1
        ref = f"r{self.counter}"
        await self.ws.send(json.dumps({"action": action, "ref": ref, **args}))
        return ref

    async def quiet(self, seconds: float = 1.0) -> None:
        """Read frames until none has come for `seconds` (automatic checks settle)."""
        while True:
            try:
                await self.frame(seconds)
            except TimeoutError:
                return


def is_step(frame: dict) -> bool:
    return (frame.get("type") == "check.result" and frame.get("lesson") == LESSON
            and frame.get("kind") == "step" and frame.get("number") == STEP)


async def rounds(server: common.Server, cookie: str, user, n: int) -> list[float]:
    latencies: list[float] = []
    async with await common.lab_socket(server.url, cookie) as ws:
        page = Page(ws)
        await page.until(lambda f: f["type"] == "hello")
        ref = await page.send("watch", lesson=LESSON)
        await page.until(lambda f: f.get("ref") == ref)
        ref = await page.send("build", tag="flask-app")
        done, _ = await page.until(lambda f: f["type"] == "build.done", timeout=600)
        if not done.get("ok"):
            raise SystemExit(f"the sample app did not build: {done}")
        await page.quiet(2.0)
        for i in range(n):
            await asyncio.to_thread(reset, user)
            ref = await page.send("run", image="flask-app", name="web", port=5002)
            _, started = await page.until(lambda f, ref=ref: f.get("ref") == ref)
            result, ended = await page.until(is_step, timeout=60)
            if not result["passed"]:
                raise SystemExit(f"step {STEP} did not pass after the run: {result['results']}")
            latencies.append((ended - started) * 1000)
            print(f"  round {i + 1:2d}: {latencies[-1]:7.1f} ms", flush=True)
            ref = await page.send("remove", container="web")
            await page.until(lambda f, ref=ref: f.get("ref") == ref, timeout=60)
            await page.quiet(1.0)
    return latencies


def reset(user) -> None:
    """Every step but the build not started again, so the next run is a first "done"."""
    Progress.objects.filter(user=user, lesson=LESSON).exclude(kind="step", number=1).delete()


def direct(user, sandbox, n: int) -> list[float]:
    """The step's evaluation called in this process, with web running."""
    services.run_container(sandbox, "flask-app", name="web", port=5002)
    times = []
    try:
        for _ in range(n):
            started = time.perf_counter()
            evaluation = progress.evaluate_step(user, LESSON, STEP)
            times.append((time.perf_counter() - started) * 1000)
            if not evaluation.passed:
                raise SystemExit(f"the direct check failed: {evaluation.as_dict()}")
    finally:
        services.remove_container(sandbox, "web")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="runs measured (default 20)")
    args = parser.parse_args()

    call_command("migrate", "--noinput", verbosity=0)
    user = get_user_model().objects.create_user("bench-checks")
    cookie = common.session_cookie(user)
    sandbox = services.sandbox_for(user)
    server = common.Server(WORKDIR)
    try:
        print(f"==> {args.rounds} runs of web, each followed by its automatic check")
        latencies = asyncio.run(rounds(server, cookie, user, args.rounds))
        print(f"==> the same check, {args.rounds} times, called directly")
        baseline = direct(user, sandbox, args.rounds)
    finally:
        server.stop()
        services.remove_objects(sandbox.sid)
        shutil.rmtree(WORKDIR, ignore_errors=True)

    after, alone = statistics.median(latencies), statistics.median(baseline)
    results = {
        "check_after_action_p50_ms": after,
        "check_after_action_p95_ms": percentile(latencies, 95),
        "check_direct_p50_ms": alone,
        "check_direct_p95_ms": percentile(baseline, 95),
        "check_after_action_added_p50_ms": after - alone,
    }
    print_table(results, TARGETS, digits=1)
    out = save_results(results)
    print(f"\nmerged into {out.relative_to(common.ROOT)}")


if __name__ == "__main__":
    main()
