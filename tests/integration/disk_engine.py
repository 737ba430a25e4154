"""Whether the engine under test has disk quotas, and whether it should.

`scripts/engine-up.sh` gives a dockerd it starts an XFS data root with
project quotas wherever the kernel supports them; `make test` runs it on a
fresh machine, so there the engine has quotas and the quota tests must see
them. A local engine on such a kernel without them is a set-up error and
fails loudly. A kernel built without XFS quotas (CONFIG_XFS_QUOTA) cannot
have them at all; there the same tests check the fallback: nothing is
sized, and the measurement stops what fills past the limit.
"""

from __future__ import annotations

import gzip
import os
import platform
from pathlib import Path

import pytest
from django.conf import settings

from sandboxes.services import disk


def engine_is_local() -> bool:
    if settings.DOCKERLAB_ENGINE_URL:
        return False
    return os.environ.get("DOCKER_HOST", "unix://").startswith("unix://")


def kernel_has_xfs_quotas() -> bool:
    if Path("/proc/fs/xfs/xqmstat").exists():
        return True
    for config in (Path("/proc/config.gz"), Path(f"/boot/config-{platform.release()}")):
        try:
            opener = gzip.open if config.suffix == ".gz" else open
            with opener(config, "rt") as fh:
                return any(line.strip() == "CONFIG_XFS_QUOTA=y" for line in fh)
        except OSError:
            continue
    return False


def quotas_expected() -> bool:
    """True when scripts/engine-up.sh would have given this engine quotas."""
    return (
        engine_is_local()
        and os.environ.get("DOCKERLAB_ENGINE_XFS", "1") != "0"
        and kernel_has_xfs_quotas()
    )


def require_expected_quotas() -> disk.Quotas:
    """The engine's quotas; fails if the engine should have them but has not."""
    disk.forget()
    found = disk.quotas()
    if quotas_expected() and not (found.layers and found.volumes):
        pytest.fail(
            "This kernel supports XFS project quotas, but the engine under test "
            f"cannot size {'volumes' if found.layers else 'writable layers'}: its "
            "data root is not XFS mounted with pquota. Start the engine with "
            "scripts/engine-up.sh (as root, with no engine running), which gives it "
            "one, or set DOCKERLAB_ENGINE_XFS=0 where quotas are not wanted.",
            pytrace=False,
        )
    return found
