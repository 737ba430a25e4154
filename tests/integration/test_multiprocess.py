"""Several server processes sharing PostgreSQL and Redis, as `make run-multi` and
the deployment run them.

Real PostgreSQL and Redis (scripts/stores.sh, on ports of the test's own), two
Daphne processes, real websockets and the real engine. A learner's tabs may be
served by different processes: what one does must reach the others.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache.backends.redis import RedisCache

from dockerlab import stores as dockerlab_stores
from tests.servers import (
    ROOT,
    Server,
    Stores,
    StoresFailed,
    free_port,
    lab_socket,
    migrate,
    sign_up,
    site_env,
    wait_until_answers,
)

FRAME_WAIT = 60.0
QUIET_SECONDS = 7.0


@pytest.fixture(scope="module")
def stores():
    stores = Stores()
    try:
        stores.start()
    except StoresFailed as exc:
        stores.stop()
        pytest.fail(
            f"{exc}\nThese tests need PostgreSQL and Redis (`make test` installs them).",
            pytrace=False,
        )
    yield stores
    stores.stop()


@pytest.fixture(scope="module")
def two_servers(stores, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("multi")
    env = site_env(stores)
    migrate(env)
    servers: list[Server] = []
    try:
        servers.append(Server(env, workdir, "a"))
        servers.append(Server(env, workdir, "b"))
        yield servers
    finally:
        for server in servers:
            server.stop()


async def next_frame(ws, accept, timeout: float = FRAME_WAIT) -> dict:
    """The next frame `accept` takes; fails naming what came instead."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            pytest.fail(f"no expected frame within {timeout:.0f} s; got: {seen[-10:]}")
        try:
            frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=remaining))
        except TimeoutError:
            continue
        if accept(frame):
            return frame
        seen.append(frame)


def of_type(kind: str, **fields):
    return lambda frame: frame.get("type") == kind and all(
        frame.get(key) == value for key, value in fields.items()
    )


async def joined(ws) -> str:
    """Wait for the socket's hello and for its group membership; the sandbox id.

    The server handles a socket's messages in order, so the answer to a
    "state" request means its connect (and the group join) is done.
    """
    hello = await next_frame(ws, of_type("hello"))
    await ws.send(json.dumps({"action": "state", "ref": "joined"}))
    await next_frame(ws, of_type("state", ref="joined"))
    return hello["sandbox"]


def remove_sandbox(sid: str | None) -> None:
    if sid:
        from sandboxes import services

        services.remove_objects(sid)


def test_each_process_reports_its_database_cache_and_channel_layer_healthy(two_servers):
    for server in two_servers:
        with urllib.request.urlopen(server.url + "/healthz", timeout=30) as response:
            body = json.loads(response.read())
        assert body == {
            "ok": True,
            "checks": {"database": "ok", "cache": "ok", "channel_layer": "ok"},
        }


def test_an_account_made_on_one_process_is_signed_in_on_the_other(two_servers):
    a, b = two_servers
    session = sign_up(a.url, f"multi-{secrets.token_hex(3)}")
    request = urllib.request.Request(b.url + "/sandbox/", headers={"Cookie": f"sessionid={session}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        # Not sent to the sign-in page: process B read A's session from PostgreSQL.
        assert response.status == 200
        assert "/accounts/login/" not in response.url


async def test_an_action_in_a_tab_on_one_process_updates_the_tab_on_the_other(two_servers):
    a, b = two_servers
    session = await asyncio.to_thread(sign_up, a.url, f"fan-{secrets.token_hex(3)}")
    sid = None
    ws_a = await lab_socket(a.url, session)
    ws_b = await lab_socket(b.url, session)
    try:
        sid = await joined(ws_a)
        assert await joined(ws_b) == sid
        # Quiet for longer than a Redis client's default read timeout (5 s in
        # redis-py 8): the sockets must still be open and listening after it.
        await asyncio.sleep(QUIET_SECONDS)
        await ws_a.send(
            json.dumps(
                {
                    "action": "run",
                    "image": settings.DOCKERLAB_IMAGES["python"],
                    "name": "fanout",
                    "command": "sleep 120",
                    "publish": False,
                    "ref": "run",
                }
            )
        )
        result = await next_frame(ws_a, of_type("result", ref="run"))
        assert result["data"]["name"] == "fanout"
        # The tab on process B hears of it through Redis, with no request of its own.
        state = await next_frame(ws_b, of_type("state"))
        assert "ref" not in state
        assert [c["name"] for c in state["containers"]] == ["fanout"]
        # The acting tab gets its own update once, not again through the group.
        await next_frame(ws_a, lambda f: f.get("type") == "state" and "ref" not in f)
        with pytest.raises(TimeoutError):
            while True:
                frame = json.loads(await asyncio.wait_for(ws_a.recv(), timeout=1.5))
                assert frame.get("type") != "state", f"a second state frame on A: {frame}"
    finally:
        await ws_a.close()
        await ws_b.close()
        await asyncio.to_thread(remove_sandbox, sid)


async def test_a_learners_socket_limit_holds_across_processes(two_servers):
    """Tabs spread over two processes count against one limit (slots in Redis)."""
    a, b = two_servers
    limit = settings.DOCKERLAB_WS_SOCKETS_PER_USER
    session = await asyncio.to_thread(sign_up, a.url, f"slots-{secrets.token_hex(3)}")
    sockets = []
    sid = None
    try:
        for n in range(limit):
            ws = await lab_socket((a if n % 2 else b).url, session)
            sockets.append(ws)
            sid = await joined(ws)
        extra = await lab_socket(a.url, session)
        refused = await next_frame(extra, of_type("error"))
        assert refused["code"] == "too_many_sockets"
        await extra.wait_closed()
        assert extra.close_code == 4429
        # One tab closed on B frees a slot that a tab on A can take.
        await sockets.pop(0).close()
        again = await lab_socket(a.url, session)
        sockets.append(again)
        assert await joined(again) == sid
    finally:
        for ws in sockets:
            await ws.close()
        await asyncio.to_thread(remove_sandbox, sid)


def test_slot_leases_are_shared_and_a_dead_holders_run_out(stores):
    """Two stores on one Redis are two processes: one limit; a holder that stops
    renewing (its process died) frees its slots when the lease ends."""
    from sandboxes.slots import RedisSlots

    url = stores.env["DOCKERLAB_REDIS_URL"]
    first, second = RedisSlots(url, lease_s=1.5), RedisSlots(url, lease_s=1.5)
    key = f"test:{secrets.token_hex(4)}"
    try:
        held = [first.take(key, 3), second.take(key, 3), first.take(key, 3)]
        assert all(held)
        assert second.take(key, 3) is None
        assert first.count(key) == second.count(key) == 3
        # The holder renews its own leases past their first end.
        for _ in range(3):
            time.sleep(0.75)
            assert first.renew() == 2
        assert second.take(key, 3) is None
        # The first "process" dies: nothing renews its two slots any more.
        first.close()
        deadline = time.monotonic() + 10
        while second.count(key) > 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert second.count(key) == 1
        token = second.take(key, 3)
        assert token is not None
        second.give_back(key, token)
        assert second.count(key) == 1
    finally:
        second.close()


def test_a_value_one_process_caches_is_read_by_another(stores, monkeypatch):
    env = site_env(stores)
    key = f"shared-{secrets.token_hex(4)}"
    code = f"from django.core.cache import cache; cache.set({key!r}, 'from-another', 60)"
    proc = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", code],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    # This process reads it with the cache the same settings give it.
    for name, value in stores.env.items():
        monkeypatch.setenv(name, value)
    config = dockerlab_stores.cache("DOCKERLAB_CACHE_URL", fallback="DOCKERLAB_REDIS_URL")
    assert config["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    cache = RedisCache(config["LOCATION"], {"KEY_PREFIX": config["KEY_PREFIX"]})
    try:
        assert cache.get(key) == "from-another"
    finally:
        cache.delete(key)
        cache.close()


# -- the front: scripts/serve-multi.sh (nginx before several processes) ---------


@pytest.fixture(scope="module")
def front(stores, tmp_path_factory):
    """scripts/serve-multi.sh with two processes; its static root holds one probe file."""
    workdir = tmp_path_factory.mktemp("front")
    # Where nginx's workers (www-data) may read it, unlike pytest's own temp dirs.
    static_root = Path(tempfile.mkdtemp(prefix="dockerlab-static-"))
    static_root.chmod(0o755)
    (static_root / "probe.txt").write_text("collected\n")
    (static_root / "probe.txt").chmod(0o644)
    env = site_env(
        stores,
        DOCKERLAB_STATIC_ROOT=str(static_root),
        DOCKERLAB_NGINX_DIR=str(workdir / "nginx"),
        DOCKERLAB_WORKER_PORT=str(free_port_pair()),
        DOCKERLAB_PYTHON=sys.executable,
    )
    migrate(env)
    port = free_port()
    log_path = workdir / "serve-multi.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [str(ROOT / "scripts" / "serve-multi.sh"), f"127.0.0.1:{port}", "2"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers(url + "/healthz", proc, log_path, timeout=120, healthy=True)
        yield url, proc, env
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
        log.close()
        shutil.rmtree(static_root, ignore_errors=True)


def free_port_pair() -> int:
    """A port whose next one is free too (the front's two processes)."""
    for _ in range(50):
        port = free_port()
        if port < 65535 and port_free(port + 1):
            return port
    raise RuntimeError("no two free ports in a row")


def port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_the_front_serves_static_files_itself_and_pages_from_the_processes(front):
    url, _, _ = front
    with urllib.request.urlopen(url + "/static/probe.txt", timeout=30) as response:
        assert response.read() == b"collected\n"
    # A file only the app's finders know is not there: nginx answered, not Django.
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(url + "/static/js/lab.js", timeout=30)
    assert missing.value.code == 404
    assert b"nginx" in missing.value.read()
    with urllib.request.urlopen(url + "/healthz", timeout=30) as response:
        assert json.loads(response.read())["ok"] is True


async def test_websockets_pass_the_front_and_tabs_hear_each_other(front):
    url, _, _ = front
    session = await asyncio.to_thread(sign_up, url, f"front-{secrets.token_hex(3)}")
    sid = None
    tabs = [await lab_socket(url, session) for _ in range(3)]
    try:
        sid = await joined(tabs[0])
        for tab in tabs[1:]:
            assert await joined(tab) == sid
        await tabs[0].send(json.dumps({"action": "prune", "ref": "p"}))
        await next_frame(tabs[0], of_type("result", ref="p"))
        # With least_conn over two processes, some of these tabs sit on the
        # other process than the first: every one of them hears of the prune.
        for tab in tabs[1:]:
            state = await next_frame(tab, of_type("state"))
            assert state["containers"] == []
    finally:
        for tab in tabs:
            await tab.close()
        await asyncio.to_thread(remove_sandbox, sid)


def test_the_front_and_its_processes_stop_together(front):
    url, proc, env = front
    first = int(env["DOCKERLAB_WORKER_PORT"])
    proc.terminate()
    assert proc.wait(timeout=30) == 0
    for port in (first, first + 1, int(url.rsplit(":", 1)[1])):
        assert not listening(port), f"something still listens on {port} after the front stopped"


def listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
