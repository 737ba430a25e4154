"""The front's nginx configuration (deploy/nginx-conf.sh), as text.

That nginx accepts it and that it serves as described is tested live in
tests/integration/test_multiprocess.py.
"""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def conf(*args: str) -> str:
    return subprocess.run(
        [str(ROOT / "deploy" / "nginx-conf.sh"), *args],
        capture_output=True, text=True, check=True,
    ).stdout


def location(text: str, path: str) -> str:
    start = text.index(f"location {path} {{")
    return text[start : text.index("\n        }", start)]


def test_it_balances_over_every_process_without_stickiness():
    text = conf("0.0.0.0:80", "/app/staticfiles", "/run/x", "127.0.0.1:8001", "127.0.0.1:8002")
    upstream = text[text.index("upstream dockerlab {") :]
    assert "least_conn;" in upstream
    assert "server 127.0.0.1:8001 " in upstream and "server 127.0.0.1:8002 " in upstream
    for sticky in ("ip_hash", "hash ", "sticky"):
        assert sticky not in upstream


def test_the_client_address_replaces_any_forwarded_for_the_client_sent():
    text = conf("0.0.0.0:80", "/s", "/run/x", "127.0.0.1:8001")
    assert "$proxy_add_x_forwarded_for" not in text
    for path in ("/ws/", "/"):
        block = location(text, path)
        assert "proxy_set_header X-Forwarded-For $remote_addr;" in block
        assert "proxy_set_header Host $http_host;" in block
        assert "proxy_set_header X-Forwarded-Proto $scheme;" in block


def test_websockets_are_upgraded_and_may_stay_quiet_for_long():
    block = location(conf("0.0.0.0:80", "/s", "/run/x", "127.0.0.1:8001"), "/ws/")
    assert "proxy_http_version 1.1;" in block
    assert "proxy_set_header Upgrade $http_upgrade;" in block
    assert "proxy_set_header Connection $connection_upgrade;" in block
    assert "proxy_read_timeout 1h;" in block


def test_static_files_come_from_the_collected_root_or_from_the_processes():
    text = conf("127.0.0.1:8000", "/app/staticfiles/", "/run/x", "127.0.0.1:8001")
    assert "alias /app/staticfiles/;" in location(text, "/static/")
    assert "location /static/" not in conf("127.0.0.1:8000", "-", "/run/x", "127.0.0.1:8001")


def test_everything_nginx_writes_stays_in_its_state_directory():
    text = conf("127.0.0.1:8000", "-", "/srv/state", "127.0.0.1:8001")
    for line in ("pid /srv/state/nginx.pid;", "client_body_temp_path /srv/state/body;",
                 "proxy_temp_path /srv/state/proxy;"):
        assert line in text
