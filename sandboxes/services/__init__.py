"""Everything a learner can do to their sandbox on the engine (all synchronous).

Each action resolves the object it names among the caller's own sandbox's
objects (by label) before touching anything; see the sandbox contract in
docs and the modules below.
"""

from sandboxes.errors import (
    BadRequest,
    InvalidName,
    NotInSandbox,
    QuotaExceeded,
    SandboxError,
)
from sandboxes.services.builds import BuildStream, build_image
from sandboxes.services.common import ensure_network, sandbox_for
from sandboxes.services.containers import (
    find_container,
    inspect,
    list_state,
    prune,
    published_port,
    remove_container,
    run_container,
    stop_container,
)
from sandboxes.services.images import find_image, remove_image
from sandboxes.services.logs import LogStream, follow_logs
from sandboxes.services.reaper import reap, remove_objects

__all__ = [
    "BadRequest",
    "BuildStream",
    "InvalidName",
    "LogStream",
    "NotInSandbox",
    "QuotaExceeded",
    "SandboxError",
    "build_image",
    "ensure_network",
    "find_container",
    "find_image",
    "follow_logs",
    "inspect",
    "list_state",
    "prune",
    "published_port",
    "reap",
    "remove_objects",
    "remove_container",
    "remove_image",
    "run_container",
    "sandbox_for",
    "stop_container",
]
