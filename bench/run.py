#!/usr/bin/env python3
"""dockerlab benchmarks: the live-lab paths on the real engine and server.

Measured in one run, each against a baseline taken in the same run:
- log latency a websocket client sees, minus the latency of following the raw
  SDK stream of the same container (what the app adds);
- 100 websocket clients following logs at 10 lines/s for 30 s;
- one container flooding its log for 10 s;
- building the sample image through the app vs `docker build` on the same
  context, cache cold and warm.

Prints a table and writes bench/results.json (figure name -> number).
Usage: .venv/bin/python bench/run.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import tarfile
import threading
import time
from pathlib import Path

import common
from common import ROOT, percentile, print_table, save_results

# 20 learners each own one ticking container; the default quota is enough.
# --quick puts 25 sockets on each of 4 learners: the per-learner socket,
# stream and action limits (8 by default) are not what this bench measures.
os.environ.setdefault("DOCKERLAB_WS_SOCKETS_PER_USER", "32")
os.environ.setdefault("DOCKERLAB_STREAMS_PER_USER", "32")
os.environ.setdefault("DOCKERLAB_ACTIONS_PER_USER", "32")
# A deployment id of its own: a site's reaper on this engine leaves it alone.
WORKDIR = common.django_setup("dockerlab-bench-", f"bench-{os.getpid()}")

import docker  # noqa: E402  (the raw SDK is the baseline being compared against)
from django.core.management import call_command  # noqa: E402

from sandboxes import services  # noqa: E402

TICKER = """FROM python:3.12-slim
CMD ["python3", "-u", "-c", "import time\\nstart = time.time()\\ni = 0\\nwhile True:\\n    print('%d %.6f' % (i, time.time()), flush=True)\\n    i += 1\\n    time.sleep(max(0.0, start + i * 0.1 - time.time()))"]
"""
FLOOD = """FROM python:3.12-slim
CMD ["python3", "-c", "import sys, time\\ntime.sleep(2)\\nend = time.time() + 10\\ni = 0\\nw = sys.stdout.write\\nwhile time.time() < end:\\n    for _ in range(1000):\\n        w('%d %.6f flood line with some padding to look like a real log line\\\\n' % (i, time.time()))\\n        i += 1\\n    sys.stdout.flush()\\nprint('done', i, flush=True)"]
"""


class Server(common.Server):
    """Daphne serving dockerlab on a free loopback port, in its own process."""

    def __init__(self) -> None:
        super().__init__(WORKDIR, common.DAPHNE, app=common.ASGI_APP, log_name="daphne.log")


class Learner(common.Learner):
    """A bench learner who builds and runs the bench's images in their sandbox."""

    def build(self, tag: str, dockerfile: str | None = None) -> None:
        stream = services.build_image(self.sandbox, tag=tag, dockerfile=dockerfile)
        try:
            for event in stream:
                if event["kind"] == "error":
                    raise SystemExit(f"bench image {tag} failed to build: {event['message']}")
        finally:
            stream.close()

    def run(self, image: str, name: str) -> dict:
        return services.run_container(self.sandbox, image, name=name)

    def container_id(self, name: str) -> str:
        """The engine's id of this learner's container (for the raw SDK)."""
        return services.inspect(self.sandbox, "container", name)["Id"]


async def ws_connect(server: Server, learner: Learner):
    return await learner.socket(server)


async def follow(server: Server, learner: Learner, container: str, seconds: float,
                 on_line, stats: dict, tail: int | None = None) -> None:
    """Follow a container's logs over the websocket for `seconds`.

    `stats["started"]` is when the follow began (the logs.start frame).
    """
    async with await ws_connect(server, learner) as ws:
        message = {"action": "logs", "container": container, "ref": "b"}
        if tail is not None:
            message["tail"] = tail
        await ws.send(json.dumps(message))
        deadline = time.monotonic() + seconds
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=remaining)
            except asyncio.TimeoutError:
                break
            now = time.time()
            frame = json.loads(raw)
            kind = frame.get("type")
            if kind == "output":
                stats["frames"] = stats.get("frames", 0) + 1
                stats["skipped"] = stats.get("skipped", 0) + int(frame.get("skipped") or 0)
                for line in frame.get("lines", []):
                    on_line(line, now)
            elif kind == "logs.start":
                stats["started"] = now
            elif kind == "logs.end":
                stats["ended"] = True
                break
            elif kind == "error":
                raise SystemExit(f"websocket error while following logs: {frame}")


def raw_follow(container_id: str, seconds: float, on_line) -> threading.Thread:
    """Follow the same container's logs with the raw SDK in a thread."""
    api = docker.APIClient(version="auto", timeout=3600)

    def run() -> None:
        stream = api.logs(container_id, stream=True, follow=True, tail=0)
        timer = threading.Timer(seconds, stream.close)
        timer.start()
        buffer = b""
        try:
            for chunk in stream:
                now = time.time()
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    text = line.decode("utf-8", "replace")
                    if text.startswith("done "):  # the flood's last line
                        return
                    on_line(text, now)
        except Exception:  # closing the stream from the timer ends the read
            pass
        finally:
            timer.cancel()

    thread = threading.Thread(target=run, name="bench-raw-follow", daemon=True)
    thread.start()
    return thread


def parse(line: str) -> tuple[int, float] | None:
    parts = line.split()
    if len(parts) < 2:
        return None
    try:
        return int(parts[0]), float(parts[1])
    except ValueError:
        return None


def bench_latency(server: Server, learner: Learner, container: str, seconds: float) -> dict:
    start = time.time() + 0.5  # ignore the tail of history sent on subscribe
    ws_lat: list[float] = []
    raw_lat: list[float] = []

    def on_ws(line: str, now: float) -> None:
        got = parse(line)
        if got and got[1] >= start:
            ws_lat.append((now - got[1]) * 1000)

    def on_raw(line: str, now: float) -> None:
        got = parse(line)
        if got and got[1] >= start:
            raw_lat.append((now - got[1]) * 1000)

    thread = raw_follow(learner.container_id(container), seconds, on_raw)
    asyncio.run(follow(server, learner, container, seconds, on_ws, {}))
    thread.join(timeout=10)
    return {
        "log_latency_ws_p50_ms": percentile(ws_lat, 50),
        "log_latency_ws_p99_ms": percentile(ws_lat, 99),
        "log_latency_raw_p50_ms": percentile(raw_lat, 50),
        "log_latency_raw_p99_ms": percentile(raw_lat, 99),
        "log_latency_added_p50_ms": percentile(ws_lat, 50) - percentile(raw_lat, 50),
        "log_latency_added_p99_ms": percentile(ws_lat, 99) - percentile(raw_lat, 99),
        "log_latency_samples": len(ws_lat),
    }


class PeakRss:
    """Samples the server's RSS in a thread while the block runs; `.peak` after."""

    def __init__(self, server: Server, every: float) -> None:
        self.server, self.every = server, every
        self.before = self.peak = server.rss_mb()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(self.every):
            self.peak = max(self.peak, self.server.rss_mb())

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()


def bench_concurrent(server: Server, learners: list[Learner], per_learner: int,
                     seconds: float) -> dict:
    latencies: list[float] = []
    seqs: list[list[int]] = []
    stats: list[dict] = []

    async def main() -> None:
        tasks = []
        for learner in learners:
            for _ in range(per_learner):
                seen: list[int] = []
                stat: dict = {}
                seqs.append(seen)
                stats.append(stat)

                def on_line(line: str, now: float, seen=seen, stat=stat) -> None:
                    # Only lines printed after this client's follow began:
                    # what came before is history, not live latency.
                    got = parse(line)
                    if got and got[1] >= stat.get("started", now):
                        seen.append(got[0])
                        latencies.append((now - got[1]) * 1000)

                tasks.append(follow(server, learner, "ticker", seconds, on_line, stat, tail=0))
        await asyncio.gather(*tasks)

    with PeakRss(server, 0.5) as rss:
        asyncio.run(main())
    lost = 0
    for seen in seqs:
        if seen:
            lost += (max(seen) - min(seen) + 1) - len(set(seen))
    # A client that saw nothing at all lost its whole share.
    silent = sum(1 for seen in seqs if not seen)
    lost += silent * int(seconds * 10)
    return {
        "concurrent_clients": len(seqs),
        "concurrent_p50_ms": percentile(latencies, 50),
        "concurrent_p99_ms": percentile(latencies, 99),
        "concurrent_lost_lines": lost + sum(s.get("skipped", 0) for s in stats),
        "concurrent_lines_received": len(latencies),
        "server_rss_mb": rss.peak,
    }


def bench_flood(server: Server, learner: Learner) -> dict:
    """One container floods its log for 10 s, followed through the app, then
    (a second run of the same container) through the raw SDK."""

    class Counter:
        def __init__(self) -> None:
            self.count, self.first, self.last = 0, 0.0, 0.0

        def __call__(self, line: str, now: float) -> None:
            if not self.first:
                self.first = now
            self.last = now
            self.count += 1

        @property
        def rate(self) -> float:
            return self.count / max(self.last - self.first, 1e-9)

    app, raw, stats = Counter(), Counter(), {}

    async def through_app() -> None:
        # The container sleeps 2 s before its flood, so the follow sees it all live.
        await asyncio.to_thread(learner.run, "flood", "flood")
        await follow(server, learner, "flood", 40, app, stats, tail=0)

    with PeakRss(server, 0.25) as rss:
        asyncio.run(through_app())
    after = server.rss_mb()
    services.remove_container(learner.sandbox, "flood")

    learner.run("flood", "flood")
    raw_follow(learner.container_id("flood"), 40, raw).join(45)
    services.remove_container(learner.sandbox, "flood")
    return {
        "flood_delivered_lines": app.count,
        "flood_delivered_lines_per_s": app.rate,
        "flood_raw_sdk_lines_per_s": raw.rate,
        "flood_ratio_app_vs_raw": app.rate / raw.rate,
        "flood_skipped_lines": stats.get("skipped", 0),
        "flood_rss_growth_mb": rss.peak - rss.before,
        "flood_rss_after_mb": after,
    }


async def app_build_seconds(ws, tag: str, no_cache: bool) -> float:
    """Build through an open lab socket (as a learner's page does); seconds to build.done."""
    began = time.perf_counter()
    await ws.send(json.dumps({"action": "build", "tag": tag, "no_cache": no_cache, "ref": "b"}))
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=900))
        if frame.get("type") == "build.done":
            if not frame.get("ok"):
                raise SystemExit(f"app build failed: {frame}")
            return time.perf_counter() - began
        if frame.get("type") == "error":
            raise SystemExit(f"app build failed: {frame}")


def same_context(learner: Learner) -> Path:
    """The exact build context the app sends the engine, unpacked for the CLI."""
    from sandboxes.services import builds

    source = builds.sample_dir()
    text = builds.with_labels(
        builds.prepare_dockerfile(learner.sandbox, (source / "Dockerfile").read_text()),
        learner.sandbox.labels(),
    )
    target = WORKDIR / "cli-context"
    with tarfile.open(fileobj=builds.build_context(source, text)) as tar:
        tar.extractall(target, filter="data")
    return target


def cli_build_seconds(context: Path, tag: str, no_cache: bool) -> float:
    command = ["docker", "build", "-q", "-t", tag, str(context)]
    if no_cache:
        command.insert(2, "--no-cache")
    began = time.perf_counter()
    # The app drives the engine's classic builder; the CLI is told to use it too.
    subprocess.run(command, check=True, capture_output=True,
                   env={**os.environ, "DOCKER_BUILDKIT": "0"})
    return time.perf_counter() - began


def bench_build(server: Server, learner: Learner, rounds: int) -> dict:
    """Cold: every step rebuilt (--no-cache); warm: every step cached."""
    context = same_context(learner)
    cli_tag = "dockerlab-bench/cli:latest"
    figures: dict[str, list[float]] = {"app_cold": [], "cli_cold": [], "app_warm": [],
                                       "cli_warm": []}

    async def main() -> None:
        async with await ws_connect(server, learner) as ws:
            await app_build_seconds(ws, "benchapp", False)  # fill the cache once
            cli_build_seconds(context, cli_tag, False)
            for _ in range(rounds):
                # Alternate app and CLI so drift on a noisy machine hits both alike.
                figures["app_cold"].append(await app_build_seconds(ws, "benchapp", True))
                figures["cli_cold"].append(cli_build_seconds(context, cli_tag, True))
                figures["app_warm"].append(await app_build_seconds(ws, "benchapp", False))
                figures["cli_warm"].append(cli_build_seconds(context, cli_tag, False))

    asyncio.run(main())
    subprocess.run(["docker", "rmi", "-f", cli_tag], capture_output=True)
    med = {name: statistics.median(values) for name, values in figures.items()}
    return {
        "build_app_cold_s": med["app_cold"],
        "build_cli_cold_s": med["cli_cold"],
        "build_app_warm_s": med["app_warm"],
        "build_cli_warm_s": med["cli_warm"],
        "build_ratio_cold": med["app_cold"] / med["cli_cold"],
        "build_ratio_warm": med["app_warm"] / med["cli_warm"],
    }


TARGETS = {
    "log_latency_added_p50_ms": ("<=", 15),
    "log_latency_added_p99_ms": ("<=", 60),
    "concurrent_p99_ms": ("<=", 250),
    "concurrent_lost_lines": ("<=", 0),
    "flood_delivered_lines_per_s": (">=", 20000),
    "build_ratio_cold": ("<=", 1.05),
    "build_ratio_warm": ("<=", 1.05),
}


def cleanup(learners: list[Learner]) -> None:
    for learner in learners:
        services.remove_objects(learner.sandbox.sid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (a smoke check)")
    args = parser.parse_args()
    latency_s = 8 if args.quick else 20
    concurrent_s = 8 if args.quick else 30
    learners_n = 4 if args.quick else 20
    rounds = 1 if args.quick else 5

    call_command("migrate", "--noinput", verbosity=0)
    learners = [Learner(f"bench{i}") for i in range(learners_n)]
    server = Server()
    results: dict = {}
    try:
        print("==> preparing bench images in the learners' sandboxes")
        for learner in learners:
            learner.build("ticker", TICKER)
        learners[0].build("flood", FLOOD)
        for learner in learners:
            learner.run("ticker", name="ticker")
        time.sleep(1.5)

        print(f"==> log latency: websocket vs raw SDK, {latency_s}s at 10 lines/s")
        results.update(bench_latency(server, learners[0], "ticker", latency_s))

        per = max(1, 100 // len(learners))
        print(f"==> {per * len(learners)} websocket clients for {concurrent_s}s")
        results.update(bench_concurrent(server, learners, per, concurrent_s))

        print("==> log flood for 10s")
        results.update(bench_flood(server, learners[0]))

        print("==> builds: app vs docker CLI, cold and warm")
        results.update(bench_build(server, learners[0], rounds))
    finally:
        server.stop()
        cleanup(learners)
        shutil.rmtree(WORKDIR, ignore_errors=True)

    print_table(results, TARGETS)
    out = save_results(results, fresh=True)
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
