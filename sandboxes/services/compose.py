"""`docker compose` for the sample app's compose file, inside one sandbox.

The lab reads the sample's compose.yaml and does what `docker compose up -d
--build`, `ps` and `down [-v]` would: build what has a `build:`, create the
named volumes, start the services in dependency order (waiting for a
dependency's health check where `depends_on` asks for it) and remove them
again. Every object goes through the sandbox services, so it carries the
sandbox's labels, names, network and limits. Only the parts of the Compose
file format the lessons use are read; anything else is refused by name
rather than silently ignored.

Reading a file costs bounded time and memory whatever a learner writes: the
YAML is read by a loader that refuses aliases (a few hundred bytes of nested
aliases otherwise expand into billions of values once our checks walk them),
and caps the number of nodes and their nesting (see `LabLoader`).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings

from engine import client
from sandboxes import labels, naming
from sandboxes.errors import BadRequest, NotInSandbox, SandboxError
from sandboxes.models import Sandbox
from sandboxes.services import disk
from sandboxes.services.builds import build_image, sample_dir
from sandboxes.services.common import engine_call
from sandboxes.services.containers import (
    container_view,
    find_container,
    parse_command,
    remove_container,
    run_container,
)
from sandboxes.services.images import runnable_image

PROJECT_LABEL = labels.COMPOSE_PROJECT
SERVICE_LABEL = labels.COMPOSE_SERVICE
CONFIG_LABEL = labels.COMPOSE_CONFIG
SERVICE_KEYS = {
    "image", "build", "ports", "environment", "depends_on", "healthcheck", "volumes", "command",
}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
HEALTH_TIMEOUT = 120.0
# The project is named after the sample's folder, as `docker compose` would.
PROJECT = "flaskapp"
MAX_FILE = 16 * 1024
MAX_VOLUMES = 5
# A lesson's compose file has under a hundred YAML nodes, nested five deep.
MAX_NODES = 2000
MAX_DEPTH = 20
# Health check timings: the engine takes 1 ms, which would run a check in a
# loop; an hour-long interval would never decide anything within a lesson.
HEALTH_MIN_NS = 1_000_000_000
HEALTH_MAX_NS = 600 * 1_000_000_000
HEALTH_MAX_RETRIES = 100
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$")


@dataclass
class Service:
    name: str
    image: str  # what the container runs: a lesson image or the sandbox's build
    build: str | None = None  # the sample Dockerfile to build, when the service builds
    port: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    depends: dict[str, str] = field(default_factory=dict)  # service -> condition
    healthcheck: dict | None = None
    volumes: dict[str, str] = field(default_factory=dict)  # project volume -> path
    command: list[str] | None = None

    def container(self, project: str) -> str:
        return f"{project}-{self.name}-1"


@dataclass
class Project:
    name: str
    services: dict[str, Service]
    volumes: list[str]

    def order(self) -> list[Service]:
        """Services with every dependency before its dependents."""
        done: list[str] = []

        def visit(name: str, path: tuple[str, ...]) -> None:
            if name in done:
                return
            if name in path:
                raise BadRequest(f"services: {' -> '.join((*path, name))} depend on each other.")
            for dependency in self.services[name].depends:
                visit(dependency, (*path, name))
            done.append(name)

        for name in self.services:
            visit(name, ())
        return [self.services[name] for name in done]

    def volume(self, sandbox: Sandbox, name: str) -> str:
        """The engine name of one of the project's volumes in this sandbox."""
        return naming.container_prefix(sandbox.sid) + f"{self.name}_{name}"


# --- reading the file -----------------------------------------------------------


class LabLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing aliases and capping nodes and nesting.

    Safe loading already builds only plain values, but an alias is a shared
    reference: nine levels of nine aliases are 349 bytes of text and 387
    million values to anything that walks or prints the result. Compose
    files in the lessons never need aliases, so the first one ends the
    reading (before anything is built), as do too many nodes or too deep a
    nesting (which would otherwise hit Python's recursion limit).
    """

    def __init__(self, stream):
        super().__init__(stream)
        self._nodes = 0
        self._depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise BadRequest(
                f"compose.yaml line {event.start_mark.line + 1}: the alias *{event.anchor[:40]} "
                "is not supported in the lab. Anchors and aliases (&name, *name, <<) are "
                "not needed in the lessons' Compose files: write the values out in full."
            )
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise BadRequest(f"compose.yaml is too long: at most {MAX_NODES} values.")
        if self._depth >= MAX_DEPTH:
            raise BadRequest(f"compose.yaml is nested too deeply (at most {MAX_DEPTH} levels).")
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def read_yaml(text: str) -> Any:
    """The YAML document in `text`, read within our limits; BadRequest if unusable."""
    if not isinstance(text, str) or len(text) > MAX_FILE:
        raise BadRequest(f"The compose file must be text of at most {MAX_FILE // 1024} KiB.")
    try:
        # The reader checks every character as the loader is made.
        loader = LabLoader(text)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise BadRequest(f"compose.yaml is not valid YAML: {exc}") from None
    except (ValueError, OverflowError) as exc:
        # A scalar that looks like a date or a number but is not one (2026-13-01).
        raise BadRequest(f"compose.yaml has a value that cannot be read: {exc}") from None


def _where(*parts: Any) -> str:
    return ".".join(str(p) for p in parts)


def _unknown(keys: Any, allowed: set[str]) -> str | None:
    """The first key (by name) not in `allowed`, whatever type the keys are."""
    extra = sorted(str(key) for key in keys if key not in allowed)
    return extra[0] if extra else None


def _duration_ns(value: Any, where: str) -> int:
    text = str(value).strip()[:40] if isinstance(value, (str, int)) else ""
    match = _DURATION.fullmatch(text) if text.isascii() else None
    if not match or not any(match.groups()):
        raise BadRequest(f"{where}: {text or value!r} is not a duration like 2s, 500ms or 1m30s.")
    hours, minutes, seconds, millis = (int(g or 0) for g in match.groups())
    return ((hours * 60 + minutes) * 60 + seconds) * 1_000_000_000 + millis * 1_000_000


def _port(value: Any, where: str) -> int:
    """The container port of a `ports:` entry; the lab picks the host port."""
    text = str(value).split("/")[0]
    try:
        port = int(text.rsplit(":", 1)[-1])
    except ValueError:
        raise BadRequest(f"{where}: {value!r} is not a port mapping like 127.0.0.1:5002:5002.") from None
    if not 1 <= port <= 65535:
        raise BadRequest(f"{where}: {port} is not a port number.")
    return port


def _env(value: Any, where: str) -> dict[str, str]:
    if isinstance(value, list):
        pairs = {}
        for item in value:
            key, sep, val = str(item).partition("=")
            if not sep:
                raise BadRequest(f"{where}: {item!r} is not NAME=value.")
            pairs[key] = val
        return pairs
    if isinstance(value, dict):
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    raise BadRequest(f"{where} must be a mapping of NAME: value or a list of NAME=value.")


def _healthcheck(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise BadRequest(f"{where} must be a mapping.")
    unknown = _unknown(value, {"test", "interval", "timeout", "retries", "start_period"})
    if unknown is not None:
        raise BadRequest(f"{where}.{unknown} is not supported in the lab.")
    test = value.get("test")
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    if not (isinstance(test, list) and test and all(isinstance(t, str) for t in test)):
        raise BadRequest(f"{where}.test must be a command, like [\"CMD\", \"healthcheck.sh\"].")
    check: dict[str, Any] = {"test": test}
    for key in ("interval", "timeout", "start_period"):
        if key in value:
            check[key] = _duration_ns(value[key], f"{where}.{key}")
            if not HEALTH_MIN_NS <= check[key] <= HEALTH_MAX_NS:
                raise BadRequest(
                    f"{where}.{key} must be from 1s to {HEALTH_MAX_NS // 60_000_000_000}m."
                )
    if "retries" in value:
        retries = value["retries"]
        if isinstance(retries, bool) or not isinstance(retries, int):
            retries = 0
        if not 0 < retries <= HEALTH_MAX_RETRIES:
            raise BadRequest(
                f"{where}.retries must be a whole number from 1 to {HEALTH_MAX_RETRIES}."
            )
        check["retries"] = retries
    return check


def _depends(value: Any, where: str) -> dict[str, str]:
    if isinstance(value, list):
        return {str(name): "service_started" for name in value}
    if isinstance(value, dict):
        result = {}
        for name, spec in value.items():
            condition = (spec or {}).get("condition", "service_started") if isinstance(spec, dict) else None
            if not isinstance(condition, str) or condition not in CONDITIONS:
                raise BadRequest(
                    f"{_where(where, name)}.condition must be one of {', '.join(sorted(CONDITIONS))}."
                )
            result[str(name)] = condition
        return result
    raise BadRequest(f"{where} must be a list of services or a mapping.")


def _build(value: Any, where: str, directory: Path) -> str:
    if isinstance(value, str):
        context, dockerfile = value, "Dockerfile"
    elif isinstance(value, dict):
        context, dockerfile = value.get("context", "."), value.get("dockerfile", "Dockerfile")
    else:
        raise BadRequest(f"{where} must be a path or a mapping.")
    if str(context).rstrip("/") not in (".", ""):
        raise BadRequest(f"{where}: the lab builds from the sample app's own folder (context: .).")
    if not re.match(r"^Dockerfile[A-Za-z0-9._-]*$", str(dockerfile)) or not (
        directory / str(dockerfile)
    ).is_file():
        raise BadRequest(f"{where}.dockerfile: {dockerfile!r} is not one of the sample's Dockerfiles.")
    return str(dockerfile)


def _service(name: Any, raw: Any, project: str, directory: Path, volumes: list[str]) -> Service:
    where = _where("services", name)
    if not isinstance(raw, dict):
        raise BadRequest(f"{where} must be a mapping.")
    if not isinstance(name, str) or not naming.NAME_RE.match(name):
        raise BadRequest(f"{where}: a service name is lower-case letters, digits, '-', '_' or '.'.")
    unknown = _unknown(raw, SERVICE_KEYS)
    if unknown is not None:
        raise BadRequest(f"{where}.{unknown} is not supported in the lab.")
    build = _build(raw["build"], f"{where}.build", directory) if "build" in raw else None
    image = raw.get("image")
    if image is None and build is None:
        raise BadRequest(f"{where} needs an image or a build.")
    if image is not None and not isinstance(image, str):
        raise BadRequest(f"{where}.image must be an image name.")
    service = Service(name=name, image=image or f"{project}-{name}", build=build)
    ports = raw.get("ports") or []
    if not isinstance(ports, list) or len(ports) > 1:
        raise BadRequest(f"{where}.ports: the lab publishes at most one port per service.")
    if ports:
        service.port = _port(ports[0], f"{where}.ports[0]")
    if "environment" in raw:
        service.env = _env(raw["environment"], f"{where}.environment")
    if "depends_on" in raw:
        service.depends = _depends(raw["depends_on"], f"{where}.depends_on")
    if "healthcheck" in raw:
        service.healthcheck = _healthcheck(raw["healthcheck"], f"{where}.healthcheck")
    mounts = raw.get("volumes") or []
    if not isinstance(mounts, list):
        raise BadRequest(f"{where}.volumes must be a list like [db-data:/var/lib/mysql].")
    for index, entry in enumerate(mounts):
        source, sep, target = str(entry).partition(":")
        target = target.split(":")[0]
        if not sep or source not in volumes:
            raise BadRequest(
                f"{where}.volumes[{index}]: the lab mounts only the file's named volumes "
                "(no folders of the host)."
            )
        service.volumes[source] = target
    if raw.get("command") is not None:
        service.command = parse_command(raw["command"])
    return service


def load(text: str, project: str, directory: Path) -> Project:
    """A compose file's project, checked; BadRequest names what is wrong."""
    data = read_yaml(text)
    if not isinstance(data, dict) or not isinstance(data.get("services"), dict):
        raise BadRequest("compose.yaml needs a services: mapping.")
    unknown = _unknown(data, {"services", "volumes", "name"})
    if unknown is not None:
        raise BadRequest(f"{unknown} (top level) is not supported in the lab.")
    if not isinstance(data.get("volumes") or {}, dict):
        raise BadRequest("volumes (top level) must be a mapping of volume names.")
    volumes = list((data.get("volumes") or {}).keys())
    if len(volumes) > MAX_VOLUMES:
        raise BadRequest(f"volumes: the lab creates at most {MAX_VOLUMES} volumes per project.")
    if len(data["services"]) > settings.DOCKERLAB_MAX_CONTAINERS:
        raise BadRequest(
            f"services: your sandbox holds at most {settings.DOCKERLAB_MAX_CONTAINERS} containers."
        )
    for volume in volumes:
        if not isinstance(volume, str) or not naming.NAME_RE.match(volume):
            raise BadRequest(f"volumes.{volume}: a volume name is lower-case letters, digits, '-', '_'.")
    services = {
        name: _service(name, raw, project, directory, volumes)
        for name, raw in data["services"].items()
    }
    for service in services.values():
        for dependency in service.depends:
            if dependency not in services:
                raise BadRequest(f"services.{service.name}.depends_on: there is no service {dependency!r}.")
    result = Project(name=project, services=services, volumes=volumes)
    result.order()  # refuses dependency cycles
    return result


def sample_project(text: str | None = None) -> Project:
    """The sample's compose.yaml, or a learner's `text` in its place (same folder)."""
    directory = sample_dir()
    if text is None:
        path = directory / "compose.yaml"
        if not path.is_file():
            raise SandboxError("The sample app has no compose.yaml.", code="not_found")
        text = path.read_text()
    elif not isinstance(text, str) or len(text.encode("utf-8")) > MAX_FILE:
        raise BadRequest("The compose file must be text of at most 16 KiB.")
    return load(text, PROJECT, directory)


# --- up, ps, down ------------------------------------------------------------------


def _project_containers(sandbox: Sandbox, project: str) -> list[dict]:
    flt = {"label": [*sandbox.label_filter()["label"], f"{PROJECT_LABEL}={project}"]}
    with engine_call(sandbox):
        return client.api().containers(all=True, filters=flt)


def ps(sandbox: Sandbox, project: str = PROJECT) -> list[dict]:
    """The project's containers, like `docker compose ps -a`."""
    rows = []
    for container in _project_containers(sandbox, project):
        view = container_view(sandbox, container)
        view["service"] = (container.get("Labels") or {}).get(SERVICE_LABEL, "")
        rows.append(view)
    return sorted(rows, key=lambda row: row["service"])


def down(sandbox: Sandbox, volumes: bool = False, project: str = PROJECT) -> dict:
    """Remove the project's containers (and, with `volumes`, its named volumes).

    Found by the project label, not by a file: whatever compose file brought
    the project up, `down` takes all of it away (newest container first).
    """
    containers = sorted(
        _project_containers(sandbox, project),
        key=lambda container: container.get("Created", 0),
        reverse=True,
    )
    removed = []
    for container in containers:
        name = container_view(sandbox, container)["name"]
        try:
            remove_container(sandbox, container["Id"])
        except NotInSandbox:
            continue
        removed.append(name)
    dropped = []
    if volumes:
        flt = {"label": [*sandbox.label_filter()["label"], f"{PROJECT_LABEL}={project}"]}
        with engine_call(sandbox):
            api = client.api()
            for volume in (api.volumes(filters=flt) or {}).get("Volumes") or []:
                api.remove_volume(volume["Name"], force=True)
                dropped.append(naming.strip(sandbox.sid, volume["Name"]))
    return {"removed": removed, "volumes": sorted(dropped)}


class ComposeUp:
    """`docker compose up -d --build` as events; iterate once, `close()` from any thread.

    Events have the shape of a build's: {"kind": "step", "step", "steps",
    "text"}, {"kind": "line", "text"}, {"kind": "error", "message"} and
    finally {"kind": "done", "services": [...]}.
    """

    def __init__(self, sandbox: Sandbox, project: Project, build: bool = True):
        self.sandbox = sandbox
        self.project = project
        self.build = build
        self.tag = f"compose up ({project.name})"
        order = project.order()
        self.steps = (
            len(project.volumes)
            + sum(1 for s in order if s.build and build)
            + len(order)
            + sum(1 for s in order for c in s.depends.values() if c != "service_started")
        )
        self._step = 0
        self._closed = threading.Event()
        self._current = None  # the build stream running now, to close it

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        self._closed.set()
        current = self._current
        if current is not None:
            current.close()

    def _next(self, text: str) -> dict:
        self._step += 1
        return {"kind": "step", "step": self._step, "steps": self.steps, "text": text}

    def __iter__(self) -> Iterator[dict]:
        try:
            yield from self._up()
        except SandboxError as exc:
            if not self.closed:
                yield {"kind": "error", "message": naming.strip(self.sandbox.sid, exc.message)}

    def _up(self) -> Iterator[dict]:
        sandbox, project = self.sandbox, self.project
        for name in project.volumes:
            yield self._next(f"Volume {project.name}_{name}")
            yield from self._line(self._ensure_volume(project.volume(sandbox, name)))
        for service in project.order():
            if self.closed:
                return
            if service.build and self.build:
                yield self._next(f"Building {service.name} ({service.build}) as {service.image}")
                ok = yield from self._build(service)
                if not ok:
                    return
            for dependency, condition in service.depends.items():
                if condition == "service_started":
                    continue
                yield self._next(f"Waiting for {dependency}: {condition.replace('_', ' ')}")
                ok = yield from self._wait(project.services[dependency], condition)
                if not ok:
                    return
            yield self._next(f"Container {service.container(project.name)}")
            yield from self._line(self._start(service))
        yield {"kind": "done", "services": ps(sandbox, project.name)}

    @staticmethod
    def _line(text: str) -> Iterator[dict]:
        yield {"kind": "line", "text": text + "\n"}

    def _ensure_volume(self, engine_name: str) -> str:
        labels = {**self.sandbox.labels(), PROJECT_LABEL: self.project.name}
        with engine_call(self.sandbox):
            api = client.api()
            found = (api.volumes(filters={"name": engine_name}) or {}).get("Volumes") or []
            for volume in found:
                if volume.get("Name") != engine_name:
                    continue
                if (volume.get("Labels") or {}).get("org.dockerlab.sandbox") != self.sandbox.sid:
                    raise SandboxError("That volume exists but is not this sandbox's.", code="conflict")
                return " Exists"
            api.create_volume(
                name=engine_name,
                driver="local",
                labels=labels,
                driver_opts=disk.volume_driver_opts(),
            )
        return " Created"

    def _build(self, service: Service) -> Iterator[dict]:
        dockerfile = None
        if service.build != "Dockerfile":
            dockerfile = (sample_dir() / service.build).read_text()
        stream = build_image(self.sandbox, service.image, dockerfile)
        self._current = stream
        try:
            for event in stream:
                kind = event.get("kind")
                if kind == "step":
                    yield {"kind": "line", "text": f" {event.get('text', '')}\n"}
                elif kind == "line":
                    yield event
                elif kind == "error":
                    yield {"kind": "error", "message": f"Building {service.name}: {event.get('message')}"}
                    return False
                elif kind == "done":
                    return True
        finally:
            self._current = None
        return False

    def _start(self, service: Service) -> str:
        """Create the service's container, or keep it if nothing about it changed.

        Like `docker compose`, a container whose configuration (or image)
        differs from the file's is recreated; an unchanged one is kept, and
        started if it had stopped.
        """
        name = service.container(self.project.name)
        config = self._config_hash(service)
        try:
            existing = find_container(self.sandbox, name)
        except NotInSandbox:
            existing = None
        said = " Created and started"
        if existing is not None:
            if (existing.get("Labels") or {}).get(CONFIG_LABEL) == config:
                if existing.get("State") == "running":
                    return " Running"
                with engine_call(self.sandbox):
                    client.api().start(existing["Id"])
                return " Started"
            remove_container(self.sandbox, existing["Id"])
            said = " Recreated"
        run_container(
            self.sandbox,
            service.image,
            name=name,
            port=service.port,
            env=service.env,
            command=service.command,
            aliases=(service.name,),
            labels={
                PROJECT_LABEL: self.project.name,
                SERVICE_LABEL: service.name,
                CONFIG_LABEL: config,
            },
            volumes={self.project.volume(self.sandbox, v): p for v, p in service.volumes.items()},
            healthcheck=service.healthcheck,
        )
        return said

    def _config_hash(self, service: Service) -> str:
        """What the container is made from: the service's settings and its image."""
        engine_ref, _ = runnable_image(self.sandbox, service.image)
        with engine_call(self.sandbox):
            image_id = client.api().inspect_image(engine_ref)["Id"]
        spec = {
            "image": image_id,
            "port": service.port,
            "env": service.env,
            "command": service.command,
            "healthcheck": service.healthcheck,
            "volumes": service.volumes,
        }
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]

    def _wait(self, dependency: Service, condition: str) -> Iterator[dict]:
        name = dependency.container(self.project.name)
        deadline = time.monotonic() + HEALTH_TIMEOUT
        said = None
        while not self.closed:
            container = find_container(self.sandbox, name)
            with engine_call(self.sandbox):
                state = client.api().inspect_container(container["Id"]).get("State") or {}
            health = (state.get("Health") or {}).get("Status")
            if condition == "service_healthy" and health == "healthy":
                yield from self._line(f" {dependency.name} is healthy")
                return True
            if condition == "service_completed_successfully" and not state.get("Running"):
                if state.get("ExitCode") == 0:
                    yield from self._line(f" {dependency.name} completed")
                    return True
            if not state.get("Running") or health == "unhealthy":
                detail = f"exited with code {state.get('ExitCode')}" if not state.get("Running") else "unhealthy"
                yield {"kind": "error", "message": f"{dependency.name} is {detail}: see its logs."}
                return False
            if time.monotonic() > deadline:
                yield {"kind": "error", "message": f"{dependency.name} was not {condition.split('_')[1]} within {HEALTH_TIMEOUT:.0f} s."}
                return False
            now = health or state.get("Status")
            if now != said:
                yield from self._line(f" {dependency.name}: {now}")
                said = now
            self._closed.wait(0.5)
        return False


def up(sandbox: Sandbox, build: bool = True, file: str | None = None) -> ComposeUp:
    """Start bringing the project up (the sample's file, or the learner's); iterate for events."""
    return ComposeUp(sandbox, sample_project(file), build=build)
