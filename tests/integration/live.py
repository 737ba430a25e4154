"""A live dockerlab server in a subprocess (as `make run` starts it), and clients for it.

The server is `python -m dockerlab.serve` on a free loopback port with its
own SQLite file; learners sign up through the site itself.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a-long-Passphrase-9"


@dataclass
class Live:
    url: str
    port: int
    pid: int
    log: Path

    def rss_kb(self) -> int:
        """The server process's resident memory."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS for the server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def live_server(command: list[str] | None = None, **env: str) -> Iterator[Live]:
    """Start the site; yield it; stop it and drop its files afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="dockerlab-live-"))
    environ = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dockerlab.settings",
        "DOCKERLAB_DB": str(workdir / "db.sqlite3"),
        "DOCKERLAB_VAR_DIR": str(ROOT / "var"),
        "DOCKERLAB_SIGNUPS_PER_HOUR": "1000",
        **env,
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT, env=environ, check=True,
    )
    port = free_port()
    log_path = workdir / "server.log"
    log = open(log_path, "w")
    argv = command or [sys.executable, "-m", "dockerlab.serve"]
    proc = subprocess.Popen(
        [*argv, "-b", "127.0.0.1", "-p", str(port)],
        cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/lessons/", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("server did not start:\n" + log_path.read_text())
                time.sleep(0.2)
        yield Live(url=url, port=port, pid=proc.pid, log=log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


def sign_up(url: str, username: str) -> str:
    """Sign a learner up through the site; return their session cookie."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(url + "/accounts/signup/", timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token, "username": username,
         "password1": PASSWORD, "password2": PASSWORD}
    ).encode()
    request = urllib.request.Request(url + "/accounts/signup/", data=form, headers={"Referer": url})
    opener.open(request, timeout=10).read()
    cookies = {cookie.name: cookie.value for cookie in jar}
    assert "sessionid" in cookies, f"sign-up of {username} failed"
    return cookies["sessionid"]


def ws_headers(live: Live, session: str) -> dict[str, str]:
    return {"Cookie": f"sessionid={session}", "Origin": live.url}
