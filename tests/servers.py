"""Several server processes of a test's (or a benchmark's) own, and what they share.

- `Stores`: PostgreSQL and Redis started by scripts/stores.sh (the same
  script `make run-multi` uses) in a directory of their own, on free
  loopback ports; stopped and removed afterwards.
- `Server`: one server process on a free loopback port, started with the
  command scripts/serve-multi.sh uses (`--server-command`), sharing the stores.
- `sign_up`: an account made through the site's own sign-up form, as a
  browser would; gives back the session cookie.
- `lab_socket`: a lab websocket opened with that cookie.

Nothing here is a stand-in: real PostgreSQL, Redis, Daphne and websockets.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def server_command() -> list[str]:
    """The command one server process runs, as scripts/serve-multi.sh has it."""
    proc = subprocess.run(
        [str(ROOT / "scripts" / "serve-multi.sh"), "--server-command"],
        env={**os.environ, "DOCKERLAB_PYTHON": sys.executable},
        capture_output=True, text=True, check=True,
    )
    return proc.stdout.splitlines()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StoresFailed(Exception):
    """scripts/stores.sh could not start PostgreSQL or Redis."""


class Stores:
    """PostgreSQL and Redis of our own; `env` holds the URLs for the servers."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="dockerlab-stores-"))
        self.dir.chmod(0o755)  # the servers run as the postgres and redis users
        self.script_env = {
            **os.environ,
            "DOCKERLAB_STORES_DIR": str(self.dir),
            "DOCKERLAB_PG_PORT": str(free_port()),
            "DOCKERLAB_REDIS_PORT": str(free_port()),
        }
        self.env: dict[str, str] = {}

    def _script(self, command: str) -> str:
        proc = subprocess.run(
            [str(ROOT / "scripts" / "stores.sh"), command],
            env=self.script_env, capture_output=True, text=True, timeout=180, check=False,
        )
        if proc.returncode != 0:
            raise StoresFailed(
                f"scripts/stores.sh {command} failed (exit {proc.returncode}):\n"
                f"{proc.stdout}{proc.stderr}"
            )
        return proc.stdout

    def start(self) -> dict[str, str]:
        self._script("up")
        for line in self._script("env").splitlines():
            name, _, value = line.partition("=")
            self.env[name] = value
        return self.env

    def stop(self) -> None:
        try:
            self._script("down")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def site_env(stores: Stores, **extra: str) -> dict[str, str]:
    """The environment of server processes sharing `stores`."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dockerlab.settings",
        "DOCKERLAB_VAR_DIR": str(ROOT / "var"),
        **stores.env,
        **extra,
    }


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT, env=env, check=True, timeout=300,
    )


def wait_until_answers(
    url: str, proc: subprocess.Popen | None, log: Path, timeout=60.0, *, healthy=False
) -> None:
    """Wait until `url` answers (with `healthy`: answers 200); fail with the log."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                response.read()
                return
        except urllib.error.HTTPError:
            if not healthy:
                return  # it answers; what it says is the test's business
            if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
                raise RuntimeError(f"{url} is not healthy:\n{log.read_text()[-4000:]}") from None
            time.sleep(0.3)
        except OSError:
            if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer:\n{log.read_text()[-4000:]}") from None
            time.sleep(0.2)


class Server:
    """One server process on a free loopback port; `url` once it answers."""

    def __init__(self, env: dict[str, str], workdir: Path, name: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"{name}.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [*server_command(), "-b", "127.0.0.1", "-p", str(self.port),
             "dockerlab.asgi:application"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        wait_until_answers(self.url + "/accounts/login/", self.proc, self.log_path)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def sign_up(base_url: str, username: str, password: str = "a-long-lab-passw0rd") -> str:
    """Create an account through the sign-up page; the session cookie's value.

    `base_url` is where the browser would be (a server process, or the front).
    """
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(jar), _NoRedirect()
    )
    with opener.open(base_url + "/accounts/signup/", timeout=30) as response:
        page = response.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token, "the sign-up page carries no CSRF token"
    form = urllib.parse.urlencode(
        {
            "csrfmiddlewaretoken": token.group(1),
            "username": username,
            "password1": password,
            "password2": password,
        }
    ).encode()
    request = urllib.request.Request(
        base_url + "/accounts/signup/", data=form, headers={"Origin": base_url}
    )
    try:
        opener.open(request, timeout=30)
        raise AssertionError("sign-up did not redirect: the form was refused")
    except urllib.error.HTTPError as exc:
        assert exc.code == 302, f"sign-up answered {exc.code}: {exc.read()[:2000]!r}"
    cookies = {cookie.name: cookie.value for cookie in jar}
    assert "sessionid" in cookies, "sign-up set no session cookie"
    return cookies["sessionid"]


async def lab_socket(base_url: str, session: str):
    """An open lab websocket (websockets' client) signed in with `session`."""
    from websockets.asyncio.client import connect

    ws_url = "ws" + base_url[len("http"):] + "/ws/lab/"
    return await connect(
        ws_url,
        additional_headers={"Cookie": f"sessionid={session}", "Origin": base_url},
        max_size=None,
        open_timeout=30,
    )
