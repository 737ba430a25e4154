#!/usr/bin/env python3
"""The raw-SDK baseline of bench/run.py's streams run, in a process of its own.

Follows containers' logs with docker-py as a program using the SDK directly
would: `APIClient.logs(stream=True, follow=True)`, one thread per follow (so
one engine follow per stream, a container followed twice is followed twice).
Its own process, so it shares no interpreter lock with the bench's websocket
clients or the site.

Protocol, on stdin and stdout (one JSON object a line):
  in:  {"ids": [container id, ...]}        one follow per entry
  out: {"ready": n}                        every follow is open
  in:  {"start": t0, "end": t1}            the window (Unix times)
  out: {"lines": n, "p50_ms": x, "p99_ms": y, "starved": k}
Lines printed by the ticker are "<number> <unix time>"; a line counts when
its time is inside the window, its latency is when it was read minus that.
"""

from __future__ import annotations

import json
import sys
import threading
import time

import docker
from common import percentile


class Follower:
    def __init__(self, api: docker.APIClient, container_id: str):
        self.stream = api.logs(container_id, stream=True, follow=True, tail=0)
        self.latencies: list[float] = []
        self.window = (float("inf"), float("inf"))
        self.thread = threading.Thread(target=self.read, daemon=True)

    def read(self) -> None:
        held = b""
        try:
            for chunk in self.stream:
                now = time.time()
                held += chunk
                *lines, held = held.split(b"\n")
                start, end = self.window
                for line in lines:
                    parts = line.split()
                    try:
                        printed = float(parts[1])
                    except (IndexError, ValueError):
                        continue
                    if start <= printed <= end:
                        self.latencies.append((now - printed) * 1000)
        except Exception:  # closing the stream ends the read
            pass


def main() -> None:
    ids = json.loads(sys.stdin.readline())["ids"]
    threading.stack_size(256 * 1024)
    api = docker.APIClient(version="auto", timeout=3600, max_pool_size=len(ids) + 8)
    followers = [Follower(api, container_id) for container_id in ids]
    for follower in followers:
        follower.thread.start()
    print(json.dumps({"ready": len(followers)}), flush=True)
    window = json.loads(sys.stdin.readline())
    for follower in followers:
        follower.window = (window["start"], window["end"])
    time.sleep(max(0.0, window["end"] - time.time()) + 1.0)
    for follower in followers:
        follower.window = (float("inf"), float("inf"))
        follower.stream.close()
    latencies = [ms for follower in followers for ms in follower.latencies]
    print(json.dumps({
        "lines": len(latencies),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "starved": sum(1 for follower in followers if not follower.latencies),
    }), flush=True)


if __name__ == "__main__":
    main()
