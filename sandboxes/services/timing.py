"""How long a container takes to start, measured here against the engine.

`time_starts(sandbox, runs)` does what `docker run --rm IMAGE echo ...` does,
`runs` times one after the other, with the configured Python lesson image,
and times each phase on this server's clock (time.perf_counter) as the
engine answers:

- create: the engine makes the container (its writable layer, its config);
- start: from asking the engine to start it until the engine says it runs
  (namespaces, cgroups, the network, the process);
- first output: from then until the command's first bytes arrive on an
  attach made before the start, as `docker run` attaches;
- remove: after the command exited, removing the container.

What it shows is this engine, on this machine, now, with the lab's limits:
the page says so. Virtual machine boot times are not measured here; the
figures in CITED_VM_BOOTS are published ones, each with its source.

Invariants:
- Bounded: 1 to MAX_RUNS runs; each run waits at most RUN_SECONDS for its
  output and its exit; the whole measurement stops starting new runs after
  BUDGET_SECONDS (the rest are counted as skipped). One measurement per
  sandbox at a time (`busy` otherwise).
- Every container is the lab's own, like a check's probe: the sandbox's
  labels plus org.dockerlab.timing=1, the sandbox's limits and network, no
  published port, a fixed command. At most one exists at a time, and it is
  removed in a `finally` whatever happens (a crash leaves one the reaper
  removes: it carries the sandbox's labels). It does not count against the
  container quota; the lab's capacity is asked first, as for any run.
"""

from __future__ import annotations

import contextlib
import secrets
import statistics
import threading
import time
from typing import Any

from engine import client
from engine import images as lesson_images
from sandboxes import labels, naming
from sandboxes.errors import BadRequest, SandboxError
from sandboxes.models import Sandbox
from sandboxes.services import capacity
from sandboxes.services.common import (
    drop_idle_network,
    engine_call,
    ensure_network,
    sandbox_lock,
)
from sandboxes.services.containers import _host_config
from sandboxes.services.images import require_present

DEFAULT_RUNS = 5
MAX_RUNS = 10
RUN_SECONDS = 10.0
BUDGET_SECONDS = 30.0
GREETING = "Hello from a new container"
COMMAND = ["echo", GREETING]
MAX_OUTPUT = 200

# Published virtual machine boot times, for the chart beside the measured
# starts. Each is a figure its source states, labelled with what it measured;
# none is measured here.
CITED_VM_BOOTS: tuple[dict[str, Any], ...] = (
    {
        "label": "Firecracker microVM, to the guest's init",
        "seconds": 0.125,
        "note": "at most, with a minimal kernel and root filesystem",
        "source": "Firecracker's published specification (SPECIFICATION.md, AWS)",
    },
    {
        "label": "Linux cloud VM, request to first SSH login (Rackspace, 2012)",
        "seconds": 44.2,
        "note": "average",
        "source": "Mao and Humphrey, A Performance Study on the VM Startup Time "
        "in the Cloud, IEEE CLOUD 2012",
    },
    {
        "label": "Linux cloud VM, request to first SSH login (Amazon EC2, 2012)",
        "seconds": 96.9,
        "note": "average",
        "source": "Mao and Humphrey, A Performance Study on the VM Startup Time "
        "in the Cloud, IEEE CLOUD 2012",
    },
)

_running: set[str] = set()
_running_guard = threading.Lock()


@contextlib.contextmanager
def _one_at_a_time(sandbox: Sandbox):
    with _running_guard:
        if sandbox.sid in _running:
            raise SandboxError(
                "A timing is already running in your sandbox: wait for its chart.",
                code="busy",
            )
        _running.add(sandbox.sid)
    try:
        yield
    finally:
        with _running_guard:
            _running.discard(sandbox.sid)


def check_runs(runs: Any) -> int:
    if isinstance(runs, bool) or not isinstance(runs, int) or not 1 <= runs <= MAX_RUNS:
        raise BadRequest(f"Time from 1 to {MAX_RUNS} container starts.")
    return runs


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _first_output(stream) -> bytes:
    """The first bytes the attached container writes (b"" if it writes none)."""
    try:
        for chunk in stream:
            if chunk:
                return chunk
    except OSError:  # the read timed out (RUN_SECONDS) or the engine went away
        return b""
    return b""


def _one_run(sandbox: Sandbox, image: str, network: str, number: int) -> dict:
    """Create, attach, start, read, wait and remove one container; its timings."""
    api = client.api(timeout=RUN_SECONDS)
    name = naming.engine_container(
        sandbox.sid, f"timing-{number}-{secrets.token_hex(2)}"
    )
    stream = None
    container_id = None
    try:
        started = time.perf_counter()
        with engine_call(sandbox):
            container_id = api.create_container(
                image,
                name=name,
                command=COMMAND,
                labels={**sandbox.labels(), labels.TIMING: "1"},
                host_config=_host_config(api, sandbox, network, None),
                detach=True,
            )["Id"]
        created = time.perf_counter()
        with engine_call(sandbox):
            stream = api.attach(container_id, stdout=True, stderr=True, stream=True)
        starting = time.perf_counter()
        with engine_call(sandbox):
            api.start(container_id)
        running = time.perf_counter()
        output = _first_output(stream)
        answered = time.perf_counter()
        if not output:
            raise SandboxError(
                f"Run {number} printed nothing within {RUN_SECONDS:.0f} s; the timing "
                "stopped there.",
                code="engine_error",
            )
        with engine_call(sandbox):
            api.wait(container_id, timeout=RUN_SECONDS)
        exited = time.perf_counter()
        with engine_call(sandbox):
            api.remove_container(container_id, force=True, v=True)
        removed = time.perf_counter()
        container_id = None
        return {
            "run": number,
            "create_ms": _ms(created - started),
            "start_ms": _ms(running - starting),
            "output_ms": _ms(answered - running),
            "total_ms": _ms(answered - started),
            "remove_ms": _ms(removed - exited),
            "output": output.decode("utf-8", "replace").strip()[:MAX_OUTPUT],
        }
    finally:
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()
        if container_id is not None:
            with contextlib.suppress(SandboxError), engine_call(sandbox):
                client.api().remove_container(container_id, force=True, v=True)


def time_starts(sandbox: Sandbox, runs: int = DEFAULT_RUNS) -> dict:
    """Start `runs` containers one after the other and time each (see above).

    Returns {image, command, runs: [...], skipped, median_total_ms,
    budget_seconds, vm_boots}; each run: run, create_ms, start_ms,
    output_ms, total_ms, remove_ms, output.
    """
    runs = check_runs(runs)
    image = lesson_images.configured()["python"]
    with _one_at_a_time(sandbox):
        require_present(image, sandbox)
        capacity.admit(sandbox)
        with sandbox_lock(sandbox):
            network = ensure_network(sandbox)
        results = []
        deadline = time.monotonic() + BUDGET_SECONDS
        try:
            for number in range(1, runs + 1):
                if time.monotonic() > deadline:
                    break
                results.append(_one_run(sandbox, image, network, number))
        finally:
            with contextlib.suppress(SandboxError):
                drop_idle_network(sandbox)
    totals = [run["total_ms"] for run in results]
    return {
        "image": image,
        "command": " ".join(COMMAND[:1] + [f'"{GREETING}"']),
        "runs": results,
        "skipped": runs - len(results),
        "median_total_ms": round(statistics.median(totals), 1) if totals else None,
        "budget_seconds": BUDGET_SECONDS,
        "vm_boots": [dict(boot) for boot in CITED_VM_BOOTS],
    }
