"""The site container's health check: the front and every server process answer.

Asks nginx (DOCKERLAB_LISTEN) and each process behind it (DOCKERLAB_WORKERS
loopback ports from DOCKERLAB_WORKER_PORT) for /healthz, which checks the
database, the cache and the channel layer. Exit 0 when all say 200; else
exit 1 naming the first that did not. Plain Python, no Django: it runs every
few seconds.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def host_header() -> str:
    """A host name the site accepts (the first allowed one that is a plain name)."""
    for host in os.environ.get("DOCKERLAB_ALLOWED_HOSTS", "127.0.0.1").split(","):
        host = host.strip().lstrip(".")
        if host and host != "*":
            return host
    return "127.0.0.1"


def targets() -> list[str]:
    listen = os.environ.get("DOCKERLAB_LISTEN", "0.0.0.0:80")
    address, _, port = listen.rpartition(":")
    if address in ("", "0.0.0.0", "*", "[::]"):
        address = "127.0.0.1"
    first = int(os.environ.get("DOCKERLAB_WORKER_PORT", "8001"))
    workers = int(os.environ.get("DOCKERLAB_WORKERS", "3"))
    return [f"http://{address}:{port}"] + [
        f"http://127.0.0.1:{first + i}" for i in range(workers)
    ]


def main() -> int:
    host = host_header()
    for base in targets():
        request = urllib.request.Request(base + "/healthz", headers={"Host": host})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError as exc:
            print(f"{base}: {exc}")
            return 1
        if status != 200:
            print(f"{base}/healthz answered {status}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
