#!/usr/bin/env python3
"""Many log streams at once: the site's shared follows vs the raw SDK, in one run.

Learners each run a ticking container; N websockets follow them (stream i
follows learner i mod C's ticker), while bench/raw_follow.py follows the same
containers with the raw SDK, one engine follow per stream, in the same
window. Figures (merged into bench/results.json, other keys kept):
streams_N_p50_ms / _p99_ms (delivery lag: read time minus the time printed
in the line), streams_N_raw_p50_ms / _raw_p99_ms, streams_N_p99_ratio,
streams_N_starved, server_rss_per_stream_kb, streams_knee; and what the
window cost (so a figure can be told from a busy machine):
streams_N_server_cpu_pct, _raw_cpu_pct, _client_cpu_pct (percent of one core,
each process over the window), streams_N_box_busy_pct (both cores) and
streams_N_load (the one-minute load average at the window's end).

Usage: .venv/bin/python bench/streams.py [--steps 50] [--containers 10] [--seconds 20]
       .venv/bin/python bench/streams.py --sweep   # 100, 250, 500 streams on 100 tickers

The sweep's shape: 100 tickers (1,000 lines/s into the engine's logs) is what
a 2-core box's engine serves with room left for 500 raw SDK follows beside
the site; the steps put 1, 2.5 and 5 sockets on each ticker (5 tabs per
learner at 500).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from django.core.management import call_command

# bench/run.py sets Django up on import and holds the shared helpers.
from run import (
    ROOT,
    WORKDIR,
    Learner,
    PeakRss,
    percentile,
    services,
    ws_connect,
)

import common

# Streams at each step. The first step runs on a fresh server, so that the
# memory one stream costs is measured from a server that has served nothing.
# Larger steps (--steps 100 500) are for a machine of their own.
STREAM_STEPS = (50,)
# Ticking containers the streams follow (one per learner); see bench_streams.
STREAM_CONTAINERS = 10
# --sweep: the steps and tickers that find the knee up to 500 streams.
SWEEP_STEPS = (100, 250, 500)
SWEEP_CONTAINERS = 100
KNEE_P99_MS = 250
# Lines printed up to this long before a window ends are still waited for.
STREAM_GRACE_S = 5.0
# Sockets opening at once: each opening reads the learner's session and
# sandbox from the database, one at a time in the server.
STREAM_OPENING = 16
# The ticker, as a one-line command for the lesson image (no build needed):
# "<n> <unix time>" ten times a second, on schedule.
TICK = (
    "python3 -u -c \"import itertools, time; s = time.time(); "
    "[print('%d %.6f' % (i, time.time()), flush=True) "
    "or time.sleep(max(0.0, s + (i + 1) * 0.1 - time.time())) for i in itertools.count()]\""
)


def bench_streams(steps: tuple[int, ...], containers: int, seconds: float) -> dict:
    """N sockets, each following a ticking container, vs the raw SDK following them.

    The set-up: `containers` learners, each running one ticker (10 lines/s).
    Stream i is a websocket of learner i mod `containers` following that
    learner's ticker with tail 0, so with 10 tickers 50 streams are five
    sockets (tabs) per learner on one container: one engine follow in the
    site, shared by five sockets. Many more tickers than cores saturate a
    small machine on their own (the engine's logging, one shim each), and
    then the figures measure the machine, not the follow path.

    The baseline, in the same window: bench/raw_follow.py in a process of its
    own follows the same containers with the raw SDK, one engine follow per
    stream: N follows for N streams, what it takes to serve N followers each
    with a follow of their own (as the site did before its follows were
    shared). Both run at once, so both see the same machine.

    A line's latency is when a client read it minus the time the container
    printed in it; lines printed in the window count. A stream that read no
    line of the window is starved. Memory per stream: the site's RSS at the
    end of the first step's window less its RSS before the step, over N.
    The knee: the largest step whose site p99 is at most KNEE_P99_MS (0 if
    none is).

    The site is a fresh server of its own with the default settings (up to 8
    streams per learner). The tickers get 32 MB each
    instead of 256 MB (they need 3) and the lab's budgets are lifted in this
    process, which is the one that starts them.
    """
    from django.conf import settings

    settings.DOCKERLAB_CONTAINER_MEMORY_MB = 32
    settings.DOCKERLAB_LAB_MEMORY_MB = 10**7
    settings.DOCKERLAB_LAB_MAX_CONTAINERS = 10**5
    learners = [Learner(f"streams{i}") for i in range(containers)]
    results: dict = {}
    try:
        print(f"==> streams: {containers} learners, each running a ticking container")
        targets = start_tickers(learners)
        # The site as `make run` serves it (dockerlab.serve: Daphne with the
        # lab's websocket limits and send back-pressure).
        server = common.Server(WORKDIR)
        try:
            warm_up(server, targets[0])
            knee = 0
            for n in steps:
                print(f"==> streams: {n} sockets and {n} raw SDK follows for {seconds:.0f}s")
                step = streams_step(server, [targets[i % len(targets)] for i in range(n)],
                                    seconds)
                for name, value in step.items():
                    if name != "rss_per_stream_kb":
                        results[f"streams_{n}_{name}"] = value
                if "server_rss_per_stream_kb" not in results:
                    results["server_rss_per_stream_kb"] = step["rss_per_stream_kb"]
                if step["p99_ms"] <= KNEE_P99_MS:
                    knee = max(knee, n)
            results["streams_knee"] = knee
        finally:
            server.stop()
    finally:
        print("==> streams: removing the tickers")
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda learner: services.remove_objects(learner.sandbox.sid), learners))
    for n in steps:
        raw_p99 = results.get(f"streams_{n}_raw_p99_ms")
        if raw_p99:
            results[f"streams_{n}_p99_ratio"] = results[f"streams_{n}_p99_ms"] / raw_p99
    return results


def start_tickers(learners: list[Learner]) -> list[tuple]:
    """Run a ticker for each learner; (learner, container name, engine id) each."""

    def run(learner: Learner) -> tuple:
        services.run_container(learner.sandbox, "python:3.12-slim", name="ticker",
                               command=TICK, port=None)
        return learner, "ticker", learner.container_id("ticker")

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(run, learners))


def warm_up(server: common.Server, target: tuple) -> None:
    """One follow before measuring, so the server has loaded what serving one takes."""
    learner, name, _ = target

    async def once() -> None:
        async with await ws_connect(server, learner) as ws:
            await ws.send(json.dumps({"action": "logs", "container": name, "tail": 1}))
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if frame.get("type") == "output":
                    return
                if frame.get("type") in ("error", "logs.end"):
                    raise SystemExit(f"could not follow a ticker: {frame}")

    asyncio.run(once())
    time.sleep(1)


def _ticks(pid: int) -> int:
    """CPU time a process has used (user + system), in clock ticks."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _box_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of every core, from /proc/stat."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


class CpuWindow:
    """What the server, the raw follower, this client and the box used in a window."""

    def __init__(self, server: common.Server, raw: subprocess.Popen) -> None:
        self.pids = {"server": server.proc.pid, "raw": raw.pid}

    def __enter__(self) -> "CpuWindow":
        self.began = time.monotonic()
        self.start = {name: _ticks(pid) for name, pid in self.pids.items()}
        self.client = time.process_time()
        self.box = _box_ticks()
        return self

    def __exit__(self, *exc) -> None:
        elapsed = time.monotonic() - self.began
        hz = os.sysconf("SC_CLK_TCK")
        self.pct = {
            f"{name}_cpu_pct": (_ticks(pid) - self.start[name]) / hz / elapsed * 100
            for name, pid in self.pids.items()
        }
        self.pct["client_cpu_pct"] = (time.process_time() - self.client) / elapsed * 100
        busy, total = _box_ticks()
        self.pct["box_busy_pct"] = (busy - self.box[0]) / max(1, total - self.box[1]) * 100
        self.pct["load"] = os.getloadavg()[0]


def streams_step(server: common.Server, targets: list[tuple], seconds: float) -> dict:
    raw = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "raw_follow.py")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    raw.stdin.write(json.dumps({"ids": [target[2] for target in targets]}) + "\n")
    raw.stdin.flush()
    before = server.rss_mb()
    site = asyncio.run(site_streams(server, targets, seconds, raw))
    raw_result = json.loads(raw.stdout.readline())
    raw.wait(timeout=30)
    n = len(targets)
    return {
        **site["cpu"],
        "p50_ms": site["p50_ms"],
        "p99_ms": site["p99_ms"],
        "raw_p50_ms": raw_result["p50_ms"],
        "raw_p99_ms": raw_result["p99_ms"],
        "starved": site["starved"],
        "raw_starved": raw_result["starved"],
        "lines": site["lines"],
        "raw_lines": raw_result["lines"],
        "open_s": site["open_s"],
        "rss_per_stream_kb": (site["rss_mb"] - before) * 1024 / n,
    }


async def site_streams(server: common.Server, targets: list[tuple], seconds: float,
                       raw: subprocess.Popen) -> dict:
    """Open a socket per target, follow, measure one window (see bench_streams)."""
    window = [float("inf"), float("inf")]
    latencies: list[float] = []
    counts = [0] * len(targets)
    handshakes = asyncio.Semaphore(STREAM_OPENING)

    async def client(i: int, learner: Learner, name: str, opened: asyncio.Future) -> None:
        async with handshakes:
            ws = await ws_connect(server, learner)
            await ws.recv()  # hello: the server has finished opening the socket
        async with ws:
            await ws.send(json.dumps({"action": "logs", "container": name, "tail": 0}))
            async for message in ws:
                now = time.time()
                frame = json.loads(message)
                kind = frame.get("type")
                if kind == "output":
                    start, end = window
                    for line in frame["lines"]:
                        parts = line.split()
                        printed = float(parts[1]) if len(parts) == 2 else 0.0
                        if start <= printed <= end:
                            latencies.append((now - printed) * 1000)
                            counts[i] += 1
                elif kind == "logs.start":
                    opened.set_result(True)
                elif kind in ("error", "logs.end") and not opened.done():
                    opened.set_result(False)
                    print(f"    stream {i} refused: {frame}")
                    return

    loop = asyncio.get_running_loop()
    began = time.monotonic()
    opened = [loop.create_future() for _ in targets]
    tasks = [asyncio.create_task(client(i, learner, name, opened[i]))
             for i, (learner, name, _) in enumerate(targets)]
    await asyncio.wait(opened, timeout=120)
    open_s = time.monotonic() - began
    ready = json.loads(await asyncio.to_thread(raw.stdout.readline))
    assert ready.get("ready") == len(targets), ready
    window[:] = [time.time() + 1.0, time.time() + 1.0 + seconds]
    raw.stdin.write(json.dumps({"start": window[0], "end": window[1]}) + "\n")
    raw.stdin.flush()
    with PeakRss(server, 1.0) as rss, CpuWindow(server, raw) as cpu:
        await asyncio.sleep(window[1] - time.time() + 0.5)
        peak_rss = server.rss_mb()
    await asyncio.sleep(STREAM_GRACE_S)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "lines": len(latencies),
        "starved": sum(1 for count in counts if not count),
        "open_s": open_s,
        "rss_mb": max(peak_rss, rss.peak),
        "cpu": cpu.pct,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=list(STREAM_STEPS),
                        help=f"streams at each step {STREAM_STEPS}")
    parser.add_argument("--containers", type=int, default=STREAM_CONTAINERS,
                        help=f"ticking containers ({STREAM_CONTAINERS})")
    parser.add_argument("--seconds", type=float, default=20.0, help="window per step (20)")
    parser.add_argument("--sweep", action="store_true",
                        help=f"steps {SWEEP_STEPS} on {SWEEP_CONTAINERS} tickers (the knee)")
    args = parser.parse_args()
    if args.sweep:
        args.steps, args.containers = list(SWEEP_STEPS), SWEEP_CONTAINERS

    call_command("migrate", "--noinput", verbosity=0)
    try:
        results = bench_streams(tuple(args.steps), args.containers, args.seconds)
    finally:
        import shutil

        shutil.rmtree(WORKDIR, ignore_errors=True)
    print()
    for name in sorted(results):
        print(f"{name:36} {results[name]:>12.2f}")
    out = ROOT / "bench" / "results.json"
    merged = json.loads(out.read_text()) if out.exists() else {}
    merged.update(results)
    out.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")
    print(f"\nmerged into {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
