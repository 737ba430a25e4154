"""What every benchmark in bench/ shares: ports, memory, percentiles, the site
in a process of its own, the results table and bench/results.json.

Invariants:
- Importing this module sets no environment and imports neither Django nor
  the Docker SDK (only puts the project on sys.path): each script sets its
  environment (database, deployment id) before `django.setup()` (see
  `django_setup`), and bench/raw_follow.py runs without Django at all. What
  needs Django imports it inside the function.
- Server processes of our own are tests/servers.py's business (free ports,
  waiting for an answer, stopping); the site here is one of those.
- bench/results.json maps a figure's name to a number. `save_results` with
  `fresh=True` starts it again (bench/run.py, the first of `make bench`);
  every other benchmark merges its figures in and keeps the others'.
- A server started here listens on loopback only, on a free port, logs to a
  file in the benchmark's work directory and is stopped by `stop()`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests import servers  # noqa: E402
from tests.servers import free_port  # noqa: E402

RESULTS = ROOT / "bench" / "results.json"

# The site as `make run` serves it, and Daphne called directly (bench/run.py).
SERVE = [sys.executable, "-m", "dockerlab.serve"]
DAPHNE = [sys.executable, "-m", "daphne"]
ASGI_APP = "dockerlab.asgi:application"


def django_setup(prefix: str, deployment: str, *, own_var_dir: bool = False) -> Path:
    """Point Django at a fresh SQLite database in a new work directory; set it up.

    `deployment` is the deployment id the benchmark's engine objects carry
    (one of its own, so a site's reaper on this engine leaves them alone);
    with `own_var_dir` the site keeps its files (DOCKERLAB_VAR_DIR) in the
    work directory too. Returns the work directory, which the caller removes
    when done.
    """
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dockerlab.settings")
    os.environ["DOCKERLAB_DB"] = str(workdir / "db.sqlite3")
    os.environ["DOCKERLAB_DEPLOYMENT"] = deployment
    if own_var_dir:
        os.environ["DOCKERLAB_VAR_DIR"] = str(workdir / "var")
    import django

    django.setup()
    return workdir


def rss_mb(pid: int) -> float:
    """The resident memory of process `pid` in MiB (NaN if /proc says nothing)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], pct: float) -> float:
    """The nearest-rank `pct` percentile of `values` (NaN when there are none)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1))))
    return ordered[k]


class Server(servers.Server):
    """The site in a process of its own on a free loopback port; `url` once it answers.

    `command` is what runs (SERVE, or DAPHNE with `app`); the benchmark's
    environment goes with it, so it shares the benchmark's database.
    `stop()` is tests/servers.py's.
    """

    def __init__(self, workdir: Path, command: list[str] = SERVE, *, app: str | None = None,
                 log_name: str = "server.log", timeout: float = 30.0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / log_name
        self.log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        argv = [*command, "-b", "127.0.0.1", "-p", str(self.port), *([app] if app else [])]
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, env=dict(os.environ), stdout=self.log, stderr=subprocess.STDOUT,
        )
        try:
            servers.wait_until_answers(self.url + "/lessons/", self.proc, self.log_path, timeout)
        except RuntimeError as exc:
            self.stop()
            raise SystemExit(f"server did not start: {exc}") from None

    def rss_mb(self) -> float:
        return rss_mb(self.proc.pid)


class Learner:
    """A learner of the benchmark's database: the user, a signed-in session, the sandbox.

    `name` is the username (made if missing). Call after `django_setup`.
    """

    def __init__(self, name: str) -> None:
        from django.contrib.auth import get_user_model

        from sandboxes import services

        self.user, _ = get_user_model().objects.get_or_create(username=name)
        self.cookie = session_cookie(self.user)
        self.sandbox = services.sandbox_for(self.user)

    async def socket(self, server: Server):
        """A lab websocket of this learner's on `server`."""
        return await lab_socket(server.url, self.cookie)


def session_cookie(user) -> str:
    """The value of a session cookie signed in as `user` (written to the site's database)."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def lab_socket(url: str, cookie: str):
    """An open lab websocket on the site at `url` (http://...), signed in with `cookie`."""
    from websockets.asyncio.client import connect

    return await connect(
        "ws" + url[len("http"):] + "/ws/lab/",
        additional_headers={"Cookie": f"sessionid={cookie}", "Origin": url},
        max_size=None,
        open_timeout=30,
    )


# (op, bound) or (op, bound, how the bound is shown); op is "<=" or ">=".
Target = tuple[str, float] | tuple[str, float, str]


def meets(value: float, target: Target) -> bool:
    """Whether `value` is within `target`."""
    op, bound = target[0], target[1]
    return value <= bound if op == "<=" else value >= bound


def print_table(results: Mapping[str, float], targets: Mapping[str, Target] | None = None, *,
                width: int = 34, digits: int = 2) -> None:
    """The figures a line each, with the target and whether it was met where one is set.

    Without `targets` there is no target column.
    """
    targets_shown = targets is not None
    value_width = 12 if targets_shown else 10
    print()
    print(f"{'figure':{width}} {'value':>{value_width}}" + ("  target" if targets_shown else ""))
    print("-" * (width + value_width + (16 if targets_shown else 2)))
    for name, value in results.items():
        if isinstance(value, float):
            shown = f"{value:{value_width}.{digits}f}"
        else:
            shown = f"{value:{value_width}d}"
        line = f"{name:{width}} {shown}"
        if targets_shown and name in targets:
            target = targets[name]
            bound = target[2] if len(target) > 2 else f"{target[1]:g}"
            line += f"  {target[0]} {bound}  {'met' if meets(value, target) else 'MISSED'}"
        print(line)


def save_results(results: Mapping[str, float], *, fresh: bool = False) -> Path:
    """Write the figures into bench/results.json, merged with those there unless `fresh`."""
    figures = {} if fresh or not RESULTS.exists() else json.loads(RESULTS.read_text())
    figures.update(results)
    RESULTS.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    return RESULTS
