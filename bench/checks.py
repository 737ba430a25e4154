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
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORKDIR = Path(tempfile.mkdtemp(prefix="dockerlab-bench-checks-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dockerlab.settings")
os.environ["DOCKERLAB_DB"] = str(WORKDIR / "db.sqlite3")
# A deployment id of its own: a site's reaper on this engine leaves it alone.
os.environ["DOCKERLAB_DEPLOYMENT"] = f"bench-checks-{os.getpid()}"

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from lessons import progress  # noqa: E402
from lessons.models import Progress  # noqa: E402
from sandboxes import services  # noqa: E402

LESSON = "building-images"
STEP = 2  # "Run a container from it": container_running web, flask-app, port 5002
TARGETS = {"check_after_action_p95_ms": ("<=", 1000)}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """The site as `make run` serves it, on a free loopback port, sharing our database."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(WORKDIR / "server.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dockerlab.serve", "-b", "127.0.0.1", "-p", str(self.port)],
            cwd=ROOT, env=dict(os.environ), stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                urlopen(self.url + "/lessons/", timeout=2).read()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    log = (WORKDIR / "server.log").read_text()
                    raise SystemExit("server did not start:\n" + log)
                time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


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


async def rounds(server: Server, cookie: str, user, n: int) -> list[float]:
    latencies: list[float] = []
    async with connect(
        f"ws://127.0.0.1:{server.port}/ws/lab/",
        additional_headers={"Cookie": f"sessionid={cookie}", "Origin": server.url},
        max_size=None, open_timeout=30,
    ) as ws:
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


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def report(results: dict) -> None:
    print()
    print(f"{'figure':34} {'value':>12}  target")
    print("-" * 62)
    for name, value in results.items():
        target = ""
        if name in TARGETS:
            op, bound = TARGETS[name]
            met = value <= bound if op == "<=" else value >= bound
            target = f"{op} {bound}  {'met' if met else 'MISSED'}"
        print(f"{name:34} {value:12.1f}  {target}")


def merge(results: dict) -> Path:
    out = ROOT / "bench" / "results.json"
    figures = json.loads(out.read_text()) if out.exists() else {}
    figures.update(results)
    out.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="runs measured (default 20)")
    args = parser.parse_args()

    call_command("migrate", "--noinput", verbosity=0)
    user = get_user_model().objects.create_user("bench-checks")
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"].value
    sandbox = services.sandbox_for(user)
    server = Server()
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
        "check_after_action_p95_ms": p95(latencies),
        "check_direct_p50_ms": alone,
        "check_direct_p95_ms": p95(baseline),
        "check_after_action_added_p50_ms": after - alone,
    }
    report(results)
    out = merge(results)
    print(f"\nmerged into {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
