"""`docker stack deploy/ls/ps/rm`: a Compose file's services as a stack on the swarm.

The file is read by the lab's Compose reader (sandboxes.services.compose:
bounded YAML, the same keys, the same refusals), then each service becomes
a swarm service written by orchestration.services.specs, like any other:
named `<stack>_<service>` for the learner (`dl-<sid>-<stack>_<service>` on
the swarm), on the stack's own overlay network (`<stack>_default`) where the
services find each other by their short names, each image pushed and
pinned by digest.

As `docker stack deploy` does, `build:` and `depends_on:` are ignored (a
swarm pulls images, it never builds; it starts every service at once). So a
service needs an `image:`: the sample's compose.yaml, which only builds
`web`, is refused with the reason. The file's named volumes become volumes
of the node's engine where the task runs, labelled with the sandbox (the
reaper removes them from every node). A redeploy updates the stack's
services in place and creates the new ones.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

from orchestration import naming as names
from orchestration.services import images, learner
from orchestration.services import specs as spec_mod
from orchestration.services.specs import Wanted
from sandboxes.errors import BadRequest, NotInSandbox, SandboxError
from sandboxes.models import Sandbox
from sandboxes.services import compose
from sandboxes.services.builds import sample_dir
from sandboxes.services.common import sandbox_lock

SAMPLE_FILE_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,40}\.ya?ml\Z")
IGNORED = ("build", "depends_on")


def sample_files() -> dict[str, str]:
    """The sample app's YAML files a `-c` may name, by file name."""
    directory = sample_dir()
    if not directory.is_dir():
        return {}
    return {
        path.name: path.read_text(encoding="utf-8")
        for path in sorted(directory.iterdir())
        if SAMPLE_FILE_RE.match(path.name) and path.is_file()
    }


def file_text(file: str | None, text: str | None) -> str:
    """The Compose text to deploy: the learner's edit, else a sample file by name."""
    if text is not None:
        return text
    known = sample_files()
    name = file or "compose.yaml"
    if name not in known:
        raise BadRequest(
            f"-c {str(name)[:40]}: the lab deploys the sample app's files "
            f"({', '.join(known) or 'none'}), or your edit of one."
        )
    return known[name]


def read(stack: str, text: str) -> tuple[list[Wanted], list[str]]:
    """The stack's services from a Compose file, checked; and notes for the learner."""
    names.check_stack(stack)
    raw = compose.read_yaml(text)
    project = compose.load(text, stack, sample_dir())
    notes: list[str] = []
    wanted = []
    for name, service in project.services.items():
        entry = raw["services"][name]
        skipped = [key for key in IGNORED if key in entry]
        if skipped:
            notes.append(f"Ignoring unsupported options for {name}: {', '.join(skipped)}")
        if "image" not in entry:
            raise BadRequest(
                f"services.{name} has no image: `docker stack deploy` ignores build: (a "
                "swarm's nodes pull images, they never build them). Build it first "
                f"(docker build -t flask-app .) and name it with image: flask-app under {name}."
            )
        try:
            names.check_service(name)
        except SandboxError:
            raise BadRequest(
                f"services.{name}: a stack's service name is lower-case letters and digits "
                "with single - or _ between them."
            ) from None
        publish = None
        if service.port is not None:
            publish = names.parse_publish(str(entry["ports"][0]))
        wanted.append(Wanted(
            name=names.stack_service(stack, name),
            image="",
            learner_image=str(entry["image"]),
            replicas=1,
            publish=publish,
            env=dict(service.env),
            args=service.command,
            aliases=(name,),
            stack=stack,
            volumes={
                f"{stack}_{volume}": path
                for volume, path in service.volumes.items()
            },
            healthcheck=service.healthcheck,
        ))
    return wanted, notes


def _stack_services(sandbox: Sandbox, stack: str, services: list[dict]) -> list[dict]:
    return [
        s for s in services
        if ((s.get("Spec") or {}).get("Labels") or {}).get(spec_mod.STACK_LABEL) == stack
    ]


def deploy(
    sandbox: Sandbox, stack: str, file: str | None = None, text: str | None = None
) -> Iterator[dict]:
    """`docker stack deploy -c FILE STACK`; events as a build's, then "done" with the stack."""
    wanted, notes = read(stack, file_text(file, text))
    for wanted_one in wanted:
        wanted_one.volumes = {
            names.prefix(sandbox.sid) + source: path for source, path in wanted_one.volumes.items()
        }
    services = learner.own_services(sandbox)
    existing = {learner.learner_name(sandbox, s): s for s in _stack_services(sandbox, stack, services)}
    others = [s for s in services if learner.learner_name(sandbox, s) not in existing]
    clashing = [w.name for w in wanted if any(learner.learner_name(sandbox, s) == w.name for s in others)]
    if clashing:
        raise SandboxError(
            f"You already have a service called {clashing[0]} outside the stack {stack}: "
            "remove it first.",
            code="conflict",
        )
    learner._check_room(sandbox, others, wanted)
    for wanted_one in wanted:
        images.resolve(sandbox, wanted_one.learner_image)
    for note in notes:
        yield {"kind": "line", "text": note + "\n"}
    for wanted_one in wanted:
        for event in images.push(sandbox, wanted_one.learner_image):
            if event["kind"] == "pushed":
                wanted_one.image = event["image"].pinned
                wanted_one.learner_image = event["image"].learner
            else:
                yield event
    drained = tuple(sorted(learner.drained(sandbox, services)))
    for wanted_one in wanted:
        wanted_one.drained = drained

    made: set[str] = set()  # services this deploy created

    def create_all(network: str) -> list[str]:
        # The stack's network may be on its way out (the stack was just
        # removed): learner.on_network makes a new one and calls this again,
        # which updates what an earlier try created.
        lines = []
        for wanted_one in wanted:
            if _create_or_update(sandbox, wanted_one, existing, network):
                made.add(wanted_one.name)
            verb = "Creating" if wanted_one.name in made else "Updating"
            lines.append(f"{verb} service {wanted_one.name}\n")
        return lines

    with sandbox_lock(sandbox):
        done = learner.on_network(sandbox, names.stack_network(sandbox.sid, stack), create_all)
    yield {"kind": "line", "text": f"Creating network {stack}_default\n"}
    for line in done:
        yield {"kind": "line", "text": line}
    yield {"kind": "done", "image": stack, "stack": {"name": stack, "services": len(wanted)}}


def _create_or_update(
    sandbox: Sandbox, wanted: Wanted, existing: dict[str, dict], network: str
) -> bool:
    """Create the service, or update the stack's own; whether it was created."""
    engine_name = names.engine_service(sandbox.sid, wanted.name)
    spec = spec_mod.service_spec(engine_name, sandbox.labels(), wanted, network)
    current = existing.get(wanted.name)
    with learner.swarm_call(sandbox):
        api = learner.manager()
        if current is None:
            created = learner._post(api, "/services/create", spec)
            # Should a later service's create be refused (a network on its
            # way out), the retry on a new network updates this one.
            existing[wanted.name] = {"ID": created["ID"]}
            return True
        fresh = api.inspect_service(current["ID"])
        learner._post(
            api, "/services/{0}/update", spec,
            {"version": fresh["Version"]["Index"]}, current["ID"],
        )
    return False


def list_stacks(sandbox: Sandbox) -> list[dict]:
    """`docker stack ls`."""
    counts: dict[str, int] = {}
    for service in learner.own_services(sandbox):
        stack = ((service.get("Spec") or {}).get("Labels") or {}).get(spec_mod.STACK_LABEL)
        if stack:
            counts[stack] = counts.get(stack, 0) + 1
    return [{"name": name, "services": count} for name, count in sorted(counts.items())]


def _find(sandbox: Sandbox, stack: str) -> list[dict]:
    names.check_stack(stack)
    found = _stack_services(sandbox, stack, learner.own_services(sandbox))
    if not found:
        raise NotInSandbox(f"There is no stack {stack!r} in your sandbox.")
    return found


def list_tasks(sandbox: Sandbox, stack: str) -> list[dict]:
    """`docker stack ps STACK`."""
    services = _find(sandbox, stack)
    tasks = [t for t in learner.tasks_of(sandbox, services) if learner.recent(t)]
    hostnames = learner.hostnames_by_id(learner.node_entries(sandbox))
    by_id = {s["ID"]: s for s in services}
    views = [learner.task_view(sandbox, t, by_id[t["ServiceID"]], hostnames) for t in tasks]
    return sorted(views, key=lambda v: (v["service"], v["slot"], v["created"]))


def remove(sandbox: Sandbox, stack: str, wait: float = 15.0) -> dict:
    """`docker stack rm STACK`: its services, then its network once no task holds it."""
    services = _find(sandbox, stack)
    removed = []
    with learner.swarm_call(sandbox):
        api = learner.manager()
        for service in services:
            try:
                api.remove_service(service["ID"])
            except Exception:  # gone meanwhile: the outcome asked for
                if not _gone(api, service["ID"]):
                    raise
            removed.append(learner.learner_name(sandbox, service))
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        learner.drop_idle_networks(sandbox)
        if not _network_left(sandbox, stack):
            break
        time.sleep(0.5)
    return {"removed": sorted(removed), "stack": stack}


def _gone(api, service_id: str) -> bool:
    try:
        api.inspect_service(service_id)
    except Exception:
        return True
    return False


def _network_left(sandbox: Sandbox, stack: str) -> bool:
    name = names.stack_network(sandbox.sid, stack)
    with learner.swarm_call(sandbox):
        return any(n.get("Name") == name for n in learner.manager().networks(names=[name]) or [])
