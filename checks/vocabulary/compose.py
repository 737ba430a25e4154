"""Checks on the sandbox's Compose project: up with services running/healthy, or down."""

from __future__ import annotations

from typing import Any

from checks.base import ENGINE, HISTORY, define, failed, passed
from checks.context import Context
from checks.schema import Boolean, ContainerName, Names
from checks.vocabulary.helpers import latest
from sandboxes import naming
from sandboxes.services import compose
from sandboxes.services.containers import own_volumes


def _describe_up(p: dict[str, Any]) -> str:
    text = f"the compose project {p['project']} is up with {', '.join(p['services'])} running"
    if p.get("healthy"):
        text += f" and {', '.join(p['healthy'])} healthy"
    return text


@define(
    "compose_up",
    summary="The Compose project is up: the given services run, and some are healthy.",
    params={
        "services": Names(required=True, doc="services that must be running"),
        "healthy": Names(doc="services whose health check must pass"),
        "project": ContainerName(default=compose.PROJECT, doc="the project's name"),
    },
    describe=_describe_up,
)
def compose_up(ctx: Context, p: dict[str, Any]):
    project = p["project"]
    rows = {row["service"]: row for row in compose.ps(ctx.sandbox, project)}
    if not rows:
        return failed(
            f"The compose project {project} has no containers: it is not up.",
            "Start it: docker compose up -d --build",
        )
    for service in (*p["services"], *p.get("healthy", ())):
        row = rows.get(service)
        if row is None:
            return failed(
                f"The service {service} of {project} has no container.",
                "Is it in compose.yaml? Start the project again: docker compose up -d --build",
            )
        if row["state"] != "running":
            return failed(
                f"The service {service} is not running ({row['status'] or row['state']}).",
                f"See why in its logs: docker compose logs {service}",
            )
    for service in p.get("healthy", ()):
        status = rows[service]["status"]
        if "(healthy)" not in status:
            return failed(
                f"The service {service} runs but is not healthy yet ({status}).",
                "Its health check has not passed yet: wait a little and check again.",
            )
    return passed(_describe_up(p)[0].upper() + _describe_up(p)[1:] + ".")


@define(
    "compose_down",
    summary="The Compose project was taken down in the lab (and its volumes removed, if asked).",
    params={
        "project": ContainerName(default=compose.PROJECT, doc="the project's name"),
        "volumes": Boolean(default=False, doc="its named volumes must be gone too"),
    },
    describe=lambda p: (
        f"you took the compose project {p['project']} down"
        + (" with its volumes" if p.get("volumes") else "")
    ),
    needs=frozenset({ENGINE, HISTORY}),
)
def compose_down(ctx: Context, p: dict[str, Any]):
    project = p["project"]
    left = compose.ps(ctx.sandbox, project)
    if left:
        names = ", ".join(row["name"] for row in left)
        return failed(
            f"{project} still has containers: {names}.", "Take it down: docker compose down"
        )
    if p.get("volumes"):
        prefix = f"{project}_"
        volumes = [naming.strip(ctx.sandbox.sid, v["Name"]) for v in own_volumes(ctx.sandbox)]
        kept = [v for v in volumes if v.startswith(prefix)]
        if kept:
            return failed(
                f"The volume {kept[0]} is still there.",
                "Remove the project's volumes too: docker compose down -v",
            )
    entry = latest(
        ctx.history, lambda e: e.action == "compose" and e.args.get("command") in ("up", "down")
    )
    if entry is None or entry.args.get("command") != "down" or not entry.ok:
        return failed(
            f"You have not taken the project {project} down in the lab yet.",
            "Bring it up first, then: docker compose down" + (" -v" if p.get("volumes") else ""),
        )
    return passed(f"{project} is down" + (", its volumes removed." if p.get("volumes") else "."))
