#!/usr/bin/env python3
"""dockerlab benchmark: a learner's state reaching their tabs on other processes.

Two server processes share PostgreSQL and Redis (scripts/stores.sh, ports
of the benchmark's own), as `make run-multi` and the deployment run them.
One learner has three tabs: the acting tab and a second tab on process A,
a third on process B. The acting tab sends an action that changes the
sandbox's state (prune); each sample times, from the send:

- the acting tab's own state frame (the baseline: the action itself, engine
  calls included);
- the state frame in the other tab on the same process (through Redis);
- the state frame in the tab on the other process (through Redis) - the
  figure `two_process_state_fanout_*`.

The "added" figures are the other process's tab minus the acting tab, per
sample: what crossing to another process costs on top of the action.

Prints a table and merges its figures into bench/results.json (figure name
-> number, as bench/run.py writes it).
Usage: .venv/bin/python bench/fanout.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from common import ROOT, percentile, print_table, save_results

# A deployment id of its own: a site's reaper on this engine leaves it alone.
os.environ["DOCKERLAB_DEPLOYMENT"] = f"bench-fanout-{os.getpid()}"

from tests.servers import Server, Stores, lab_socket, migrate, sign_up, site_env


async def recv_json(ws, timeout: float = 60) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def joined(ws) -> None:
    """Past the hello and the group join (the answer to a state request)."""
    while (await recv_json(ws)).get("type") != "hello":
        pass
    await ws.send(json.dumps({"action": "state", "ref": "joined"}))
    while (await recv_json(ws)).get("ref") != "joined":
        pass


async def until_state(ws, began: float) -> float:
    """Milliseconds from `began` to the next unsolicited state frame on `ws`."""
    while True:
        frame = await recv_json(ws)
        if frame.get("type") == "state" and "ref" not in frame:
            return (time.perf_counter() - began) * 1000
        if frame.get("type") == "error":
            raise SystemExit(f"the lab refused the action: {frame}")


async def measure(a_url: str, b_url: str, session: str, samples: int) -> dict:
    acting = await lab_socket(a_url, session)
    same = await lab_socket(a_url, session)
    other = await lab_socket(b_url, session)
    times: dict[str, list[float]] = {"acting": [], "same": [], "other": []}
    try:
        for ws in (acting, same, other):
            await joined(ws)
        for i in range(samples + 3):
            began = time.perf_counter()
            await acting.send(json.dumps({"action": "prune", "ref": f"p{i}"}))
            got = await asyncio.gather(
                until_state(acting, began), until_state(same, began), until_state(other, began)
            )
            if i >= 3:  # the first rounds warm connections and caches
                for name, value in zip(("acting", "same", "other"), got):
                    times[name].append(value)
            await asyncio.sleep(0.05)
    finally:
        for ws in (acting, same, other):
            await ws.close()
    added = [o - a for o, a in zip(times["other"], times["acting"])]
    return {
        "two_process_state_fanout_p50_ms": percentile(times["other"], 50),
        "two_process_state_fanout_p99_ms": percentile(times["other"], 99),
        "two_process_state_same_process_p50_ms": percentile(times["same"], 50),
        "two_process_state_same_process_p99_ms": percentile(times["same"], 99),
        "two_process_state_acting_tab_p50_ms": percentile(times["acting"], 50),
        "two_process_state_acting_tab_p99_ms": percentile(times["acting"], 99),
        "two_process_state_added_p50_ms": percentile(added, 50),
        "two_process_state_added_p99_ms": percentile(added, 99),
        "two_process_state_samples": len(times["other"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples (a smoke check)")
    args = parser.parse_args()
    samples = 20 if args.quick else 200

    workdir = Path(tempfile.mkdtemp(prefix="dockerlab-fanout-"))
    stores = Stores()
    servers: list[Server] = []
    try:
        print("==> PostgreSQL and Redis of the benchmark's own")
        stores.start()
        env = site_env(stores)
        migrate(env)
        print("==> two server processes")
        servers = [Server(env, workdir, "a"), Server(env, workdir, "b")]
        session = sign_up(servers[0].url, f"fanout{os.getpid()}")
        print(f"==> {samples} actions in one tab, state frames in three")
        results = asyncio.run(measure(servers[0].url, servers[1].url, session, samples))
    finally:
        for server in servers:
            server.stop()
        stores.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print_table(results, width=40)
    out = save_results(results)
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
