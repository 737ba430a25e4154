#!/usr/bin/env python3
"""dockerlab benchmark: a class doing the building-images lesson at once.

On the real engine and the real server (python -m dockerlab.serve), each
learner opens a lesson page's lab socket (watching the lesson, so the
automatic checks run as they do for a page) and does the lesson's four
actions one after the other, as a learner presses the buttons:

- build: the sample app as `flask-app`, from the send to `build.done`;
- run: `web` from it on port 5002, from the send to the run's `result`;
- logs: following web, from the send to the first `output` frame (what the
  learner first sees; the bench then waits for Flask's "Running on" line
  before going on, as a learner would);
- open: the app through the site's proxy (/sandbox/app/web/, the learner's
  session cookie), from the request to the whole page with the app's
  greeting.

Every learner's first build is a whole build: the sandbox's labels follow
FROM, so no sandbox shares another's cached steps (only the base image).
First `--solo-rounds` learners do the lesson alone, one after the other
(after one warm-up learner, not counted): the baseline. Then N other
learners start it at the same moment. Figures (merged into
bench/results.json): classroom_1_action_p95_ms (the baseline, same run) and
classroom_N_action_p95_ms over every action, per action
classroom_N_<action>_p95_ms beside classroom_1_<action>_p95_ms, the class's
wall time and its failed actions (error frames, timeouts, pages that did
not answer). Every engine object of the bench's sandboxes is removed after.

Usage: .venv/bin/python bench/classroom.py [--learners 60] [--solo-rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import common
from common import Learner, percentile, print_table, save_results

# A deployment id of its own: a site's reaper on this engine leaves it alone,
# and the clean-up below finds every object the bench made by it.
WORKDIR = common.django_setup("dockerlab-bench-classroom-", f"bench-classroom-{os.getpid()}")

from django.core.management import call_command  # noqa: E402

from sandboxes import services  # noqa: E402
from sandboxes.services import reaper  # noqa: E402

LESSON = "building-images"
ACTIONS = ("build", "run", "logs", "open")
GREETING = b"Hello from Docker"
BUILD_TIMEOUT_S = 900.0
ACTION_TIMEOUT_S = 180.0


class ActionFailed(Exception):
    """An action of the lesson did not complete; the learner stops there."""


class Page:
    """One learner's lesson page: its lab socket, and the actions it times."""

    def __init__(self, learner: Learner, server: common.Server, opener: ThreadPoolExecutor):
        self.learner, self.server, self.opener = learner, server, opener
        self.ws = None
        self.counter = 0
        self.stream = ""  # the log follow's stream id, once `logs` opened it

    async def open_socket(self) -> None:
        self.ws = await self.learner.socket(self.server)
        await self.until(lambda f: f.get("type") == "hello", ACTION_TIMEOUT_S)
        ref = await self.send("watch", lesson=LESSON)
        await self.until(lambda f: f.get("ref") == ref, ACTION_TIMEOUT_S)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def send(self, action: str, **args) -> str:
        self.counter += 1
        ref = f"c{self.counter}"
        await self.ws.send(json.dumps({"action": action, "ref": ref, **args}))
        return ref

    async def until(self, predicate, timeout: float, ref: str | None = None) -> dict:
        """The first frame matching `predicate`; an error answering `ref` fails the action."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                frame = json.loads(await asyncio.wait_for(self.ws.recv(), max(0.01, remaining)))
            except TimeoutError:
                raise ActionFailed(f"no answer in {timeout:.0f} s") from None
            if frame.get("type") == "error" and (ref is None or frame.get("ref") == ref):
                raise ActionFailed(f"{frame.get('code')}: {frame.get('message')}")
            if predicate(frame):
                return frame

    async def build(self) -> None:
        ref = await self.send("build", tag="flask-app")
        start = await self.until(
            lambda f: f.get("type") == "build.start" and f.get("ref") == ref, ACTION_TIMEOUT_S, ref
        )
        # The build's later frames carry its stream, not the action's ref.
        done = await self.until(
            lambda f: f.get("type") == "build.done" and f.get("stream") == start["stream"],
            BUILD_TIMEOUT_S, ref,
        )
        if not done.get("ok"):
            raise ActionFailed(f"build failed: {done.get('error')}")

    async def run(self) -> None:
        ref = await self.send("run", image="flask-app", name="web", port=5002)
        await self.until(lambda f: f.get("type") == "result" and f.get("ref") == ref,
                         ACTION_TIMEOUT_S, ref)

    async def logs(self) -> dict:
        """Follow web's logs; the first output frame (the caller times its arrival)."""
        ref = await self.send("logs", container="web", tail=50)
        start = await self.until(lambda f: f.get("type") == "logs.start" and f.get("ref") == ref,
                                 ACTION_TIMEOUT_S, ref)
        self.stream = start["stream"]
        frame = await self.until(
            lambda f: f.get("type") == "output" and f.get("stream") == self.stream,
            ACTION_TIMEOUT_S, ref,
        )
        return frame

    async def running(self, first: dict) -> None:
        """Wait for Flask's "Running on" line (untimed), then stop following."""
        if not any("Running on" in line for line in first.get("lines", [])):
            await self.until(
                lambda f: f.get("type") == "output" and f.get("stream") == self.stream
                and any("Running on" in line for line in f.get("lines", [])),
                ACTION_TIMEOUT_S,
            )
        ref = await self.send("unfollow", stream=self.stream)
        await self.until(lambda f: f.get("ref") == ref and f.get("type") == "result",
                         ACTION_TIMEOUT_S, ref)

    async def open_app(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.opener, self.fetch_app)

    def fetch_app(self) -> None:
        request = Request(self.server.url + "/sandbox/app/web/",
                          headers={"Cookie": f"sessionid={self.learner.cookie}"})
        try:
            with urlopen(request, timeout=ACTION_TIMEOUT_S) as response:
                body = response.read()
        except HTTPError as exc:
            raise ActionFailed(f"the app answered {exc.code}") from None
        except OSError as exc:
            raise ActionFailed(f"the app did not answer: {exc}") from None
        if GREETING not in body:
            raise ActionFailed("the app's page has no greeting")


async def lesson(page: Page, times: dict[str, list[float]], failures: list[str]) -> None:
    """The lesson's four actions in order, each timed into `times[action]`."""
    try:
        for action in ACTIONS:
            began = time.perf_counter()
            if action == "build":
                await page.build()
            elif action == "run":
                await page.run()
            elif action == "logs":
                first = await page.logs()
            else:
                await page.open_app()
            times[action].append((time.perf_counter() - began) * 1000)
            if action == "logs":
                await page.running(first)
    except ActionFailed as exc:
        failures.append(f"{page.learner.user.username} {action}: {exc}")


def figures(prefix: str, times: dict[str, list[float]]) -> dict:
    every = [ms for action in ACTIONS for ms in times[action]]
    out = {f"{prefix}_action_p50_ms": percentile(every, 50),
           f"{prefix}_action_p95_ms": percentile(every, 95)}
    for action in ACTIONS:
        out[f"{prefix}_{action}_p95_ms"] = percentile(times[action], 95)
    return out


async def solo(server: common.Server, learners: list[Learner],
               opener: ThreadPoolExecutor) -> dict:
    """Each learner does the lesson alone, one after the other; the first is not counted."""
    times: dict[str, list[float]] = {action: [] for action in ACTIONS}
    for i, learner in enumerate(learners):
        # The first round warms the site and the engine (base image, the
        # sandbox-independent steps); it is not counted.
        kept = times if i else {action: [] for action in ACTIONS}
        failures: list[str] = []
        page = Page(learner, server, opener)
        try:
            await page.open_socket()
            await lesson(page, kept, failures)
        finally:
            await page.close()
        if failures:
            raise SystemExit("the learner alone could not do the lesson: " + failures[0])
        await asyncio.to_thread(services.remove_objects, learner.sandbox.sid)
    return figures("classroom_1", times)


async def classroom(server: common.Server, learners: list[Learner],
                    opener: ThreadPoolExecutor) -> dict:
    times: dict[str, list[float]] = {action: [] for action in ACTIONS}
    failures: list[str] = []
    pages = [Page(learner, server, opener) for learner in learners]
    try:
        # Every page is open before anyone starts, so all start at one moment.
        await asyncio.gather(*(page.open_socket() for page in pages))
        began = time.perf_counter()
        await asyncio.gather(*(lesson(page, times, failures) for page in pages))
        wall = time.perf_counter() - began
    finally:
        await asyncio.gather(*(page.close() for page in pages), return_exceptions=True)
    for failure in failures[:10]:
        print(f"  failed: {failure}")
    n = len(learners)
    return {
        **figures(f"classroom_{n}", times),
        f"classroom_{n}_wall_s": wall,
        f"classroom_{n}_failed_actions": len(failures),
        f"classroom_{n}_actions": sum(len(v) for v in times.values()),
    }


def cleanup(learners: list[Learner]) -> None:
    """Every engine object of the bench's sandboxes, then anything else of its deployment."""
    # A few sandboxes at a time: one after the other, a class takes minutes.
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="cleanup") as pool:
        list(pool.map(services.remove_objects, [learner.sandbox.sid for learner in learners]))
    for sid in reaper.labelled_sids():
        services.remove_objects(sid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=60, help="the class's size (default 60)")
    parser.add_argument("--solo-rounds", type=int, default=5,
                        help="learners measured doing it alone (default 5)")
    args = parser.parse_args()

    call_command("migrate", "--noinput", verbosity=0)
    alone = [Learner(f"classroom-solo{i}") for i in range(args.solo_rounds + 1)]
    learners = [Learner(f"classroom{i:02d}") for i in range(args.learners)]
    server = common.Server(WORKDIR, timeout=60)
    # Pages open the app at the same moment; the bench's own threads must not queue them.
    opener = ThreadPoolExecutor(max_workers=args.learners + 4, thread_name_prefix="open")
    results: dict = {}
    try:
        print(f"==> {args.solo_rounds} learners (after a warm-up), each alone, one at a time",
              flush=True)
        results.update(asyncio.run(solo(server, alone, opener)))
        print(f"==> {args.learners} learners start the lesson at once", flush=True)
        results.update(asyncio.run(classroom(server, learners, opener)))
        n = args.learners
        results[f"classroom_{n}_vs_1_action_p95_ratio"] = (
            results[f"classroom_{n}_action_p95_ms"] / results["classroom_1_action_p95_ms"]
        )
        results["classroom_server_rss_mb"] = server.rss_mb()
    finally:
        opener.shutdown(wait=False, cancel_futures=True)
        server.stop()
        cleanup([*alone, *learners])
        shutil.rmtree(WORKDIR, ignore_errors=True)
    print_table(results, width=36)
    print(f"\nmerged into {save_results(results).relative_to(common.ROOT)}")


if __name__ == "__main__":
    main()
