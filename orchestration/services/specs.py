"""The service specs the site writes: the only thing a learner's action sends the manager.

Nothing of what a learner typed is forwarded: a request is parsed into a
`Wanted`, checked, and this module writes the whole spec from it. Every
spec has, whatever was asked:
- the image pinned by digest (orchestration.services.images);
- the sandbox's labels on the service and on every task container;
- no added privileges: all capabilities dropped but the few ordinary images
  need to start (as on the host engine), no mounts except a stack's named
  volumes (volumes of the node's engine, never a path of the node), no
  devices, no host networking, PID or IPC namespace, no sysctls;
- memory, CPU and process limits per task (the sandbox container limits),
  a capped json-file log, a restart policy with a delay;
- the sandbox's own overlay network (or its stack's), `dnsrr` endpoints
  (the swarm's virtual IPs need IPVS, which a kernel may lack), and
  host-mode publishing on a port the node's engine picks for each task:
  learners never choose a node port, so no two of them can collide, and a
  service may run more replicas than there are nodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from sandboxes import labels as label_keys
from sandboxes.services.containers import CAP_ADD

SERVICE_LABEL = "org.dockerlab.swarm.service"  # the learner's name of the service
IMAGE_LABEL = "org.dockerlab.swarm.image"  # the learner's name of its image
PUBLISH_LABEL = "org.dockerlab.swarm.publish"  # "8080:5002", as the learner published it
STACK_LABEL = "org.dockerlab.swarm.stack"
DRAINED_LABEL = "org.dockerlab.swarm.drained"  # nodes drained for this sandbox, comma-separated
# How a task's replacement waits after its container died (the swarm's default is 5 s).
RESTART_DELAY_NS = 2_000_000_000
STOP_GRACE_NS = 3_000_000_000
MONITOR_NS = 5_000_000_000
FAILURE_ACTIONS = ("pause", "continue", "rollback")


@dataclass
class Wanted:
    """A service as the learner asked for it, checked."""

    name: str  # the learner's name (`web`, or a stack's `flask_web`)
    image: str  # pinned: registry/repository:tag@sha256:...
    learner_image: str
    replicas: int = 1
    publish: tuple[int, int] | None = None  # (as the learner sees it, container port)
    env: dict[str, str] = field(default_factory=dict)
    args: list[str] | None = None
    aliases: tuple[str, ...] = ()
    stack: str | None = None
    volumes: dict[str, str] = field(default_factory=dict)  # engine volume name -> path
    healthcheck: dict | None = None
    parallelism: int = 1
    delay_s: float = 0.0
    failure_action: str = "pause"
    drained: tuple[str, ...] = ()


def service_labels(sandbox_labels: dict[str, str], wanted: Wanted) -> dict[str, str]:
    result = {
        **sandbox_labels,
        SERVICE_LABEL: wanted.name,
        IMAGE_LABEL: wanted.learner_image,
    }
    if wanted.publish:
        result[PUBLISH_LABEL] = f"{wanted.publish[0]}:{wanted.publish[1]}"
    if wanted.stack:
        result[STACK_LABEL] = wanted.stack
    if wanted.drained:
        result[DRAINED_LABEL] = ",".join(sorted(wanted.drained))
    return result


def _healthcheck(check: dict | None) -> dict | None:
    if not check:
        return None
    out: dict[str, Any] = {"Test": list(check["test"])}
    for key, engine_key in (
        ("interval", "Interval"), ("timeout", "Timeout"), ("start_period", "StartPeriod"),
    ):
        if key in check:
            out[engine_key] = int(check[key])
    if "retries" in check:
        out["Retries"] = int(check["retries"])
    return out


def task_template(sandbox_labels: dict[str, str], wanted: Wanted, network_id: str) -> dict:
    memory = settings.DOCKERLAB_CONTAINER_MEMORY_MB * 1024 * 1024
    container: dict[str, Any] = {
        "Image": wanted.image,
        "Labels": {**sandbox_labels, SERVICE_LABEL: wanted.name},
        "Env": [f"{key}={value}" for key, value in sorted(wanted.env.items())],
        "CapabilityDrop": ["ALL"],
        "CapabilityAdd": list(CAP_ADD),
        "StopGracePeriod": STOP_GRACE_NS,
        "Mounts": [
            {
                "Type": "volume",
                "Source": source,
                "Target": target,
                "VolumeOptions": {"Labels": dict(sandbox_labels)},
            }
            for source, target in sorted(wanted.volumes.items())
        ],
    }
    if wanted.args is not None:
        container["Args"] = list(wanted.args)
    health = _healthcheck(wanted.healthcheck)
    if health:
        container["Healthcheck"] = health
    return {
        "ContainerSpec": container,
        "Resources": {
            "Limits": {
                "MemoryBytes": memory,
                "NanoCPUs": int(settings.DOCKERLAB_CONTAINER_CPUS * 1_000_000_000),
                "Pids": settings.DOCKERLAB_CONTAINER_PIDS,
            },
        },
        "RestartPolicy": {"Condition": "any", "Delay": RESTART_DELAY_NS, "MaxAttempts": 0},
        "Placement": {
            "Constraints": [f"node.hostname!={node}" for node in sorted(wanted.drained)],
        },
        "Networks": [{"Target": network_id, "Aliases": list(wanted.aliases)}],
        "LogDriver": {
            "Name": "json-file",
            "Options": {"max-size": settings.DOCKERLAB_CONTAINER_LOG_MAX_SIZE, "max-file": "2"},
        },
    }


def _update_config(wanted: Wanted) -> dict:
    return {
        "Parallelism": wanted.parallelism,
        "Delay": int(wanted.delay_s * 1_000_000_000),
        "FailureAction": wanted.failure_action,
        "Monitor": MONITOR_NS,
        "Order": "stop-first",
    }


def endpoint_spec(wanted: Wanted) -> dict:
    ports = []
    if wanted.publish:
        # No PublishedPort: each task gets a free port of its node.
        ports.append({"Protocol": "tcp", "TargetPort": wanted.publish[1], "PublishMode": "host"})
    return {"Mode": "dnsrr", "Ports": ports}


def service_spec(
    engine_name: str, sandbox_labels: dict[str, str], wanted: Wanted, network_id: str
) -> dict:
    """The whole spec of one learner service (create and update alike)."""
    return {
        "Name": engine_name,
        "Labels": service_labels(sandbox_labels, wanted),
        "TaskTemplate": task_template(sandbox_labels, wanted, network_id),
        "Mode": {"Replicated": {"Replicas": wanted.replicas}},
        "UpdateConfig": _update_config(wanted),
        "RollbackConfig": {
            "Parallelism": 1, "Delay": 0, "FailureAction": "pause",
            "Monitor": MONITOR_NS, "Order": "stop-first",
        },
        "EndpointSpec": endpoint_spec(wanted),
    }


def wanted_from(spec: dict, name: str) -> Wanted:
    """A service's spec read back as a Wanted (the base of a scale or an update)."""
    labels = spec.get("Labels") or {}
    template = spec.get("TaskTemplate") or {}
    container = template.get("ContainerSpec") or {}
    publish = None
    if labels.get(PUBLISH_LABEL):
        published, _, target = labels[PUBLISH_LABEL].partition(":")
        publish = (int(published), int(target))
    update = spec.get("UpdateConfig") or {}
    networks = template.get("Networks") or [{}]
    health = container.get("Healthcheck")
    return Wanted(
        name=name,
        image=container.get("Image", ""),
        learner_image=labels.get(IMAGE_LABEL, ""),
        replicas=int(((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas", 1)),
        publish=publish,
        env=dict(item.split("=", 1) for item in container.get("Env") or [] if "=" in item),
        args=container.get("Args"),
        aliases=tuple(networks[0].get("Aliases") or ()),
        stack=labels.get(STACK_LABEL),
        volumes={m["Source"]: m["Target"] for m in container.get("Mounts") or []},
        healthcheck=_health_back(health) if health else None,
        parallelism=int(update.get("Parallelism", 1)),
        delay_s=int(update.get("Delay", 0)) / 1_000_000_000,
        failure_action=update.get("FailureAction", "pause"),
        drained=tuple(n for n in (labels.get(DRAINED_LABEL) or "").split(",") if n),
    )


def _health_back(health: dict) -> dict:
    out: dict[str, Any] = {"test": health.get("Test") or []}
    for key, engine_key in (
        ("interval", "Interval"), ("timeout", "Timeout"), ("start_period", "StartPeriod"),
    ):
        if health.get(engine_key):
            out[key] = health[engine_key]
    if health.get("Retries"):
        out["retries"] = health["Retries"]
    return out


def is_sandbox_object(obj: dict, sid: str, deployment: str) -> bool:
    """Whether a swarm object's labels say it is this sandbox's, of this deployment."""
    labels = (obj.get("Spec") or {}).get("Labels") or obj.get("Labels") or {}
    return labels.get(label_keys.SANDBOX) == sid and labels.get(label_keys.DEPLOYMENT) == deployment
