"""Two containers reach each other by name, shown by a probe on the sandbox's network.

The probe is a short-lived container of the lab's own, never the learner's:
made from the configured Python lesson image, on this sandbox's network
only, with the sandbox's limits and labels plus `org.dockerlab.probe=1`, and
removed in a `finally` whatever happens. It resolves the name and opens one
TCP connection, nothing more. Only names of the sandbox's own containers
(or Compose services) are probed, so it never even asks about another
sandbox's; and since it sits on this sandbox's network alone, it could not
reach one anyway. It does not count against the learner's container quota.
"""

from __future__ import annotations

import contextlib
import secrets
from typing import Any

from checks.base import define, failed, passed
from checks.context import Context
from checks.schema import ContainerName, Port, Seconds
from engine import client
from engine import images as lesson_images
from sandboxes import labels, naming
from sandboxes.errors import SandboxError
from sandboxes.services.common import engine_call
from sandboxes.services.compose import SERVICE_LABEL
from sandboxes.services.containers import _host_config
from sandboxes.services.images import require_present

PROBE_LABEL = labels.PROBE
# Prints one word: open, refused, timeout or noname.
PROBE_SCRIPT = """\
import socket, sys
host, port, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
try:
    address = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)[0][4]
except OSError:
    print("noname"); sys.exit(0)
s = socket.socket(); s.settimeout(limit)
try:
    s.connect(address); print("open")
except socket.timeout:
    print("timeout")
except OSError:
    print("refused")
"""


def probe(
    ctx: Context, host: str, port: int, seconds: float, network: str | None = None
) -> str:
    """Connect from a probe on a network of the sandbox to host:port; one word back.

    `network` is an engine network of the sandbox (the one the reaching
    container is on); None is the sandbox's default network. `host` and
    `port` must be checked values (a container name, a port number): they
    are passed as arguments, never through a shell.
    """
    sandbox = ctx.sandbox
    image = lesson_images.configured()["python"]
    require_present(image, sandbox)
    api = client.api()
    name = naming.container_prefix(sandbox.sid) + f"probe-{secrets.token_hex(3)}"
    with engine_call(sandbox):
        created = api.create_container(
            image,
            name=name,
            command=["python", "-c", PROBE_SCRIPT, host, str(port), f"{seconds:g}"],
            labels={**sandbox.labels(), PROBE_LABEL: "1"},
            host_config=_host_config(api, sandbox, network or sandbox.network, None),
            detach=True,
        )
    try:
        with engine_call(sandbox):
            api.start(created["Id"])
        try:
            with client.translate_errors():
                client.api(timeout=seconds + 10).wait(created["Id"], timeout=seconds + 8)
        except client.EngineError:
            return "timeout"
        with engine_call(sandbox):
            output = api.logs(created["Id"], stdout=True, stderr=True, tail=5)
        words = output.decode("utf-8", "replace").split()
        return words[-1] if words else "noname"
    finally:
        with contextlib.suppress(SandboxError), engine_call(sandbox):
            api.remove_container(created["Id"], force=True, v=True)


def _target(ctx: Context, name: str) -> dict | None:
    """The sandbox container answering to `name` on its network (its name or Compose service)."""
    found = ctx.container(name)
    if found is not None:
        return found
    for container in ctx.containers():
        if (container.get("Labels") or {}).get(SERVICE_LABEL) == name:
            return container
    return None


def _network_of(ctx: Context, container: dict) -> str | None:
    """The sandbox network `container` is on (its default one first), for the probe to join.

    Only the sandbox's own networks count (engine names `dl-<sid>-...`), so
    a probe never joins anything outside the sandbox.
    """
    attached = ((container.get("NetworkSettings") or {}).get("Networks") or {}).keys()
    own = sorted(
        name for name in attached if name.startswith(naming.container_prefix(ctx.sandbox.sid))
    )
    if ctx.sandbox.network in own:
        return ctx.sandbox.network
    return own[0] if own else None


@define(
    "reaches",
    summary="From one container's network, another container answers by its name on a port "
    "(shown by a probe container that is removed afterwards).",
    params={
        "from": ContainerName(required=True, doc="the container that must reach the other"),
        "to": ContainerName(required=True, doc="the name it reaches the other by"),
        "port": Port(required=True, doc="the port that must answer"),
        "timeout": Seconds(
            minimum=1, maximum=20, default=5, doc="how long the connection may take"
        ),
    },
    describe=lambda p: f"{p['from']} reaches {p['to']} by name on port {p['port']}",
    budget=lambda p: p["timeout"] + 15,
)
def reaches(ctx: Context, p: dict[str, Any]):
    source, target, port = p["from"], p["to"], p["port"]
    found = ctx.container(source)
    if found is None or found.get("State") != "running":
        what = "There is no container called" if found is None else "Not running:"
        return failed(
            f"{what} {source}, so nothing reaches {target} from it.", f"Start {source} first."
        )
    other = _target(ctx, target)
    if other is None:
        return failed(
            f"There is no container called {target} in your sandbox, so {source} cannot reach "
            "it by that name.",
            f"Start it with --name {target}: containers of your sandbox find each other by name.",
        )
    if other.get("State") != "running":
        return failed(
            f"{target} is not running, so nothing answers there.",
            f"See why in its logs: docker logs {target}",
        )
    outcome = probe(ctx, target, port, ctx.remaining(p["timeout"]), _network_of(ctx, found))
    if outcome == "open":
        return passed(f"{source} reaches {target} by name on port {port}.")
    if outcome == "refused":
        return failed(
            f"{target} is there, but nothing listens on port {port} inside it: is it still "
            "starting, or listening on another port?",
            f"Wait a little and check again; its logs say what it does: docker logs {target}",
        )
    if outcome == "noname":
        return failed(f"The name {target} does not resolve on your sandbox's network.")
    return failed(
        f"{target} did not answer on port {port} within {p['timeout']:.0f} s.",
        f"Is it still starting? Its logs say: docker logs {target}",
        timed_out=True,
    )
