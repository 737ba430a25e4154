"""A live dockerlab site under Daphne, in its own process, for browser tests.

The real ASGI app on a free loopback port with its own SQLite file. It can
be stopped and started again on the same port and database (a server
restart under an open page), and pointed at another engine through `env`
(DOCKERLAB_ENGINE_URL).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """The site served as `make run` serves it (dockerlab.serve); `url` is its base URL."""

    def __init__(self, env: dict[str, str] | None = None):
        self.workdir = Path(tempfile.mkdtemp(prefix="dockerlab-live-"))
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "dockerlab.settings",
            "DOCKERLAB_DB": str(self.workdir / "db.sqlite3"),
            "DOCKERLAB_VAR_DIR": str(ROOT / "var"),
            # Every test signs a learner up from this one address.
            "DOCKERLAB_SIGNUPS_PER_HOUR": "1000",
            **(env or {}),
        }
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self._log = None
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT, env=self.env, check=True,
        )

    @property
    def log_path(self) -> Path:
        return self.workdir / "daphne.log"

    def start(self, timeout: float = 30) -> None:
        """Start the server and wait until it serves a page."""
        self._log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dockerlab.serve", "-b", "127.0.0.1", "-p", str(self.port)],
            cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                urlopen(self.url + "/lessons/", timeout=2).read()
                return
            except (URLError, ConnectionError, OSError):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("live server did not start:\n" + self.log_path.read_text())
                time.sleep(0.2)

    def stop(self) -> None:
        """Stop Daphne (its open websockets drop); the database stays."""
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
