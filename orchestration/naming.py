"""Names of a learner's swarm objects: services, stacks, tasks and their engine forms.

A learner types `web` and `flask`; the swarm holds `dl-<sid>-web`, the
stack's services `dl-<sid>-flask_web`, networks `dl-<sid>-net` and
`dl-<sid>-flask_default`. Names are checked against an allow-list before
anything reaches the manager, and everything shown back drops the prefix.

The swarm's own rule for service names is a DNS label: letters, digits,
'-' and '_' between them, at most 63 characters. Learner names are stricter
(lower case, at most 40, so the prefix always fits) and a stack's name has
no '_', so `<stack>_<service>` splits one way only.
"""

from __future__ import annotations

import re

from sandboxes import naming
from sandboxes.errors import InvalidName

SERVICE_RE = re.compile(r"^[a-z0-9](?:[-_]?[a-z0-9]+)*\Z")
STACK_RE = re.compile(r"^[a-z0-9](?:-?[a-z0-9]+)*\Z")
MAX_SERVICE = 40
MAX_STACK = 20
# `web.2` (a service's task by slot, as `docker service ps` names it), or a task id.
TASK_SLOT_RE = re.compile(r"^([a-z0-9][a-z0-9_-]{0,39})\.([1-9][0-9]{0,2})(?:\.([a-z0-9]{1,25}))?\Z")
ID_RE = re.compile(r"^[a-z0-9]{1,25}\Z")
# The learner's own view of a published port: `8080:5002`.
PUBLISH_RE = re.compile(r"^(?:([0-9]{1,5}):)?([0-9]{1,5})\Z")


def _shown(value: object) -> str:
    text = str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def check_service(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidName("Give a service name, like web.")
    if len(name) > MAX_SERVICE or not SERVICE_RE.match(name):
        raise InvalidName(
            f"The service name {_shown(name)} is not allowed: use lower-case letters and "
            f"digits, with single - or _ between them (at most {MAX_SERVICE} characters)."
        )
    return name


def check_stack(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidName("Give a stack name, like flask.")
    if len(name) > MAX_STACK or not STACK_RE.match(name):
        raise InvalidName(
            f"The stack name {_shown(name)} is not allowed: use lower-case letters and "
            f"digits, with single - between them (at most {MAX_STACK} characters)."
        )
    return name


def prefix(sid: str) -> str:
    return naming.container_prefix(sid)


def engine_service(sid: str, name: str) -> str:
    """`web` -> `dl-<sid>-web`."""
    return prefix(sid) + check_service(name)


def stack_service(stack: str, service: str) -> str:
    """The learner's name of a stack's service: `flask_web`."""
    return f"{check_stack(stack)}_{check_service(service)}"


def learner_service(sid: str, engine_name: str) -> str | None:
    """The learner's name of an engine service name, None if not this sandbox's."""
    head = prefix(sid)
    return engine_name[len(head):] if engine_name.startswith(head) else None


def network(sid: str) -> str:
    """The sandbox's own overlay network on the swarm (its services meet there)."""
    return prefix(sid) + "net"


def stack_network(sid: str, stack: str) -> str:
    return prefix(sid) + f"{check_stack(stack)}_default"


def parse_publish(value: object) -> tuple[int, int]:
    """`8080:5002` -> (8080, 5002); `5002` -> (5002, 5002). Ports as the learner sees them."""
    text = str(value).strip() if isinstance(value, (str, int)) else ""
    for prefix_ in ("published=", "target="):
        if prefix_ in text:
            return _long_publish(text)
    host, _, proto = text.partition("/")
    if proto and proto != "tcp":
        raise InvalidName(f"-p {_shown(value)}: the lab publishes TCP ports only.")
    if host.count(":") == 2:  # 127.0.0.1:8080:5002: the address means nothing on a swarm
        host = host.split(":", 1)[1]
    found = PUBLISH_RE.match(host)
    if not found:
        raise InvalidName(f"-p {_shown(value)} is not a port mapping like 8080:5002.")
    target = int(found.group(2))
    published = int(found.group(1) or target)
    for port in (published, target):
        if not 1 <= port <= 65535:
            raise InvalidName(f"-p {_shown(value)}: {port} is not a port number.")
    return published, target


def _long_publish(text: str) -> tuple[int, int]:
    """`published=8080,target=5002[,mode=host][,protocol=tcp]`."""
    fields: dict[str, str] = {}
    for part in text.split(","):
        key, eq, value = part.partition("=")
        if not eq or key not in ("published", "target", "mode", "protocol"):
            raise InvalidName(f"-p {_shown(text)}: {_shown(part)} is not understood.")
        fields[key] = value
    if fields.get("protocol", "tcp") != "tcp":
        raise InvalidName(f"-p {_shown(text)}: the lab publishes TCP ports only.")
    if "target" not in fields:
        raise InvalidName(f"-p {_shown(text)} needs target=PORT.")
    return parse_publish(f"{fields.get('published', fields['target'])}:{fields['target']}")
