"""Everything a learner can do to their sandbox on the engine (all synchronous).

Each action resolves the object it names among the caller's own sandbox's
objects (by label) before touching anything, so another sandbox's object is
"not found" exactly like one that never existed. Names are checked by
`sandboxes.naming` and namespaced (`dl-<sid>/flask-app:latest`, `dl-<sid>-web`);
what comes back drops the prefix.

Known limits, by design of the engine rather than oversight:
- Build steps (RUN) get a process cap only where the engine is local, on
  cgroup v1 with the cgroupfs driver (see services.buildlimits); elsewhere
  they keep memory, CPU quota and no network, and a warning is logged.
- The container quota is checked under a lock per process; two server
  processes could each let one container too many through at the same time.
- The reaper treats objects labelled with this deployment's id but unknown to
  its database as orphans; other deployments' objects are left alone.
- Disk: where the engine has quotas (XFS with pquota), container writable
  layers, volumes and build steps have sizes; the sandbox's total is
  measured (`disk`), and one over its limit is stopped and refused. Between
  two measurements a sandbox can run past its total by what its containers
  and volumes may each hold.
- Each sandbox network takes an address pool. An engine started by
  `scripts/engine-up.sh` gets a thousand /24 pools (172.20.0.0/14); another
  engine's defaults give about 30, so set `default-address-pools` in its
  daemon.json for a classroom.
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
from sandboxes.services.disk import usage as disk_usage
from sandboxes.services.containers import (
    find_container,
    inspect,
    list_state,
    prune,
    published_port,
    remove_container,
    remove_volume,
    run_container,
    stop_container,
)
from sandboxes.services.images import find_image, remove_image
from sandboxes.services.logs import LogStream, LogTarget, follow_logs, log_target, read_logs
from sandboxes.services.reaper import reap, remove_objects

__all__ = [
    "BadRequest",
    "BuildStream",
    "InvalidName",
    "LogStream",
    "LogTarget",
    "NotInSandbox",
    "QuotaExceeded",
    "SandboxError",
    "build_image",
    "disk_usage",
    "ensure_network",
    "find_container",
    "find_image",
    "follow_logs",
    "inspect",
    "list_state",
    "log_target",
    "prune",
    "published_port",
    "read_logs",
    "reap",
    "remove_objects",
    "remove_container",
    "remove_volume",
    "remove_image",
    "run_container",
    "sandbox_for",
    "stop_container",
]
