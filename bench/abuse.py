#!/usr/bin/env python3
"""dockerlab benchmark: one learner abuses their sandbox; another learner's lab must not notice.

On the real engine and the real server (python -m dockerlab.serve), learner
"mallory" starts, all at once and through the lab's own services and socket:
a fork bomb in a build step and one in a container, a memory hog, a CPU
spinner, a log flood (followed over the lab socket), a disk fill and a YAML
alias bomb sent as a compose file. Meanwhile learner "alice" loads lesson
pages and follows a container printing a timestamped line every 100 ms.

Baseline, measured in the same run: alice's page loads and log lines for the
same length of time before the abuse starts.

Figures (merged into bench/results.json):
- abuse_page_p99_ms / abuse_page_quiet_p99_ms: a lesson page, during / before;
- abuse_other_stream_p99_ms / abuse_other_stream_quiet_p99_ms: alice's log
  line from print to her socket, during / before;
- abuse_server_rss_growth_mb: the server's peak resident memory during the
  abuse minus before it;
- abuse_disk_mb / abuse_disk_limit_mb: the most mallory's sandbox held on
  disk as measured, beside its limit. The sweep that stops an over-limit
  sandbox's containers runs here every DISK_SWEEP_S, as the reaper does;
  where the engine sizes writable layers (XFS project quotas) the write
  itself fails at the container's share instead;
- abuse_yaml_bomb_refused: 1 when the alias bomb got the lab's error frame.

Usage: .venv/bin/python bench/abuse.py [--seconds N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import threading
import time
from urllib.request import Request, urlopen

import common
from common import Learner, percentile, print_table, save_results

# A deployment id of its own: a site's reaper on this engine leaves it alone.
WORKDIR = common.django_setup(
    "dockerlab-bench-abuse-", f"bench-abuse-{os.getpid()}", own_var_dir=True
)

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from sandboxes import services  # noqa: E402
from sandboxes.services import disk  # noqa: E402

PAGE = "/lessons/building-images/"
DISK_SWEEP_S = 10
TARGETS = {
    "abuse_page_p99_ms": ("<=", 500),
    "abuse_other_stream_p99_ms": ("<=", 300),
}
# Container commands are one line each (the lab's own rule for `docker run IMAGE COMMAND`).
TICK = (
    "python3 -u -c \"import time, itertools; s = time.time(); "
    "[(print('%d %.6f' % (i, time.time()), flush=True), "
    "time.sleep(max(0.0, s + (i + 1) * 0.1 - time.time()))) for i in itertools.count()]\""
)
# Each attack, as a container command (image python:3.12-slim).
ATTACKS = {
    "forkbomb": "sh -c 'f() { f | f & }; f; sleep 3600'",
    "memhog": "python3 -c 'b = []; [b.append(bytearray(10**7)) for _ in iter(int, 1)]'",
    "spinner": "sh -c 'while :; do :; done'",
    "flood": "yes " + "x" * 200,
    "diskfill": "dd if=/dev/zero of=/fill bs=1M",
}
BUILD_BOMB = "FROM python:3.12-slim\nRUN sh -c 'f() { f | f & }; f; sleep 30'\n"
YAML_BOMB = (
    'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
    + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n"
        for i in range(8)
    )
    + "services:\n  web:\n    image: python:3.12-slim\n"
)


class Server(common.Server):
    """The site as `make run` serves it, on a free loopback port, sharing our database."""

    def __init__(self) -> None:
        super().__init__(WORKDIR, timeout=60)


class Window:
    """Alice's page loads and log latencies, filed under the current phase."""

    def __init__(self) -> None:
        self.phase = "warmup"
        self.pages: dict[str, list[float]] = {"quiet": [], "abuse": []}
        self.lines: dict[str, list[float]] = {"quiet": [], "abuse": []}
        self.stop = threading.Event()


def load_pages(server: Server, window: Window) -> None:
    while not window.stop.is_set():
        started = time.monotonic()
        try:
            with urlopen(Request(server.url + PAGE), timeout=30) as response:
                response.read()
            took = (time.monotonic() - started) * 1000
        except OSError:
            took = 30_000.0  # a page that did not come counts as the timeout
        if window.phase in window.pages:
            window.pages[window.phase].append(took)
        time.sleep(0.2)


async def follow_ticker(server: Server, alice: Learner, window: Window) -> None:
    async with await alice.socket(server) as ws:
        await ws.send(json.dumps({"action": "logs", "container": "ticker", "tail": 0, "ref": "t"}))
        while not window.stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=1.0)
            except TimeoutError:
                continue
            now = time.time()
            frame = json.loads(raw)
            if frame.get("type") != "output" or window.phase not in window.lines:
                continue
            for line in frame.get("lines", []):
                parts = line.split()
                if len(parts) == 2:
                    window.lines[window.phase].append((now - float(parts[1])) * 1000)


async def mallory_socket(server: Server, mallory: Learner, window: Window, seen: dict) -> None:
    """The abuse that goes through the lab socket: a build bomb, the flood followed, a YAML bomb."""
    async with await mallory.socket(server) as ws:
        await ws.send(json.dumps({"action": "build", "tag": "bomb", "dockerfile": BUILD_BOMB, "ref": "b"}))
        await ws.send(json.dumps({"action": "logs", "container": "flood", "ref": "f"}))
        await ws.send(json.dumps({"action": "compose", "command": "up", "file": YAML_BOMB, "ref": "y"}))
        while not window.stop.is_set():
            try:
                frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=1.0))
            except TimeoutError:
                continue
            except Exception:  # noqa: BLE001 - the server may close an abusive socket
                seen["mallory_socket_closed"] = 1
                return
            if frame.get("ref") == "y" and frame.get("type") == "error":
                seen["yaml_refused"] = 1
                seen["yaml_message"] = frame.get("message", "")[:160]
            if frame.get("type") == "output":
                seen["flood_lines"] = seen.get("flood_lines", 0) + len(frame.get("lines", []))


def watch_disk(mallory: Learner, window: Window, seen: dict) -> None:
    last_sweep = time.monotonic()
    while not window.stop.wait(2.0):
        usage = disk.measure().get(mallory.sandbox.sid)
        if usage is not None:
            seen["disk_peak"] = max(seen.get("disk_peak", 0), usage.total)
        if time.monotonic() - last_sweep >= DISK_SWEEP_S:
            last_sweep = time.monotonic()
            entry = disk.sweep().get(mallory.sandbox.sid) or {}
            if entry.get("stopped"):
                seen["disk_stopped"] = entry["stopped"]


def run(seconds: float) -> dict:
    call_command("migrate", "--noinput", verbosity=0)
    alice, mallory = Learner("alice-bench"), Learner("mallory-bench")
    server = Server()
    window = Window()
    seen: dict = {}
    threads: list[threading.Thread] = []
    try:
        services.run_container(
            alice.sandbox, settings.DOCKERLAB_IMAGES["python"], name="ticker",
            port=None, command=TICK,
        )
        threads.append(threading.Thread(target=load_pages, args=(server, window), daemon=True))
        ticker = threading.Thread(
            target=lambda: asyncio.run(follow_ticker(server, alice, window)), daemon=True
        )
        threads.append(ticker)
        for thread in threads:
            thread.start()
        time.sleep(2)
        print(f"==> quiet: alice alone for {seconds:.0f} s")
        window.phase = "quiet"
        time.sleep(seconds)
        print(f"==> abuse: mallory's attacks for {seconds:.0f} s")
        window.phase = "between"
        before_rss = server.rss_mb()
        peak_rss = before_rss
        for name, command in ATTACKS.items():
            try:
                services.run_container(
                    mallory.sandbox, settings.DOCKERLAB_IMAGES["python"], name=name,
                    port=None, command=command,
                )
            except services.SandboxError as exc:
                seen.setdefault("refused", []).append(f"{name}: {exc.message[:80]}")
        extra = [
            threading.Thread(
                target=lambda: asyncio.run(mallory_socket(server, mallory, window, seen)),
                daemon=True,
            ),
            threading.Thread(target=watch_disk, args=(mallory, window, seen), daemon=True),
        ]
        for thread in extra:
            thread.start()
        window.phase = "abuse"
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            peak_rss = max(peak_rss, server.rss_mb())
            time.sleep(0.5)
        window.phase = "done"
        window.stop.set()
        for thread in threads + extra:
            thread.join(timeout=30)
    finally:
        window.stop.set()
        server.stop()
        for learner in (alice, mallory):
            services.remove_objects(learner.sandbox.sid)
        shutil.rmtree(WORKDIR, ignore_errors=True)
    if seen.get("refused"):
        print("refused at start: " + "; ".join(seen["refused"]))
    if seen.get("yaml_message"):
        print("YAML bomb: " + seen["yaml_message"])
    if seen.get("disk_stopped"):
        print("over its disk limit, stopped: " + ", ".join(seen["disk_stopped"]))
    return {
        "abuse_page_p99_ms": percentile(window.pages["abuse"], 99),
        "abuse_page_quiet_p99_ms": percentile(window.pages["quiet"], 99),
        "abuse_pages_loaded": len(window.pages["abuse"]),
        "abuse_other_stream_p99_ms": percentile(window.lines["abuse"], 99),
        "abuse_other_stream_quiet_p99_ms": percentile(window.lines["quiet"], 99),
        "abuse_other_stream_lines": len(window.lines["abuse"]),
        "abuse_server_rss_growth_mb": round(peak_rss - before_rss, 1),
        "abuse_disk_mb": round(seen.get("disk_peak", 0) / 2**20, 1),
        "abuse_disk_limit_mb": round(disk.limit_bytes() / 2**20, 1),
        "abuse_yaml_bomb_refused": int(seen.get("yaml_refused", 0)),
        "abuse_flood_lines_to_mallory": int(seen.get("flood_lines", 0)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30, help="length of each phase")
    args = parser.parse_args()
    results = run(args.seconds)
    targets = {
        **TARGETS, "abuse_disk_mb": ("<=", results["abuse_disk_limit_mb"], "limit"),
    }
    print_table(results, targets, width=36)
    print(f"\nmerged into {save_results(results).relative_to(common.ROOT)}")


if __name__ == "__main__":
    main()
