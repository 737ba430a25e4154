"""What the site container can and cannot do here, said once as it starts.

Never fails the start: a site whose engine is away still serves lessons and
accounts, and says so on its pages. The lines go to the container's log
(`scripts/deploy.sh compose logs site`), where a trainer looks first:

- the engine: its version and where it is, or why it does not answer;
- loopback: learners' containers publish their ports on the engine host's
  127.0.0.1, where the app proxy connects and the registry relay listens;
  that is this container's 127.0.0.1 only with `network_mode: host`;
- build process limits: they are written into the host's cgroups, which a
  container sees read-only unless /sys/fs/cgroup is mounted read-write.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dockerlab.settings")

import django

django.setup()

from django.conf import settings

from engine import client, pool


def say(line: str) -> None:
    print(f"preflight: {line}", flush=True)


def engine() -> None:
    """Each engine of the pool (engine/pool.py): whether it answers."""
    engines = pool.engines()
    for each in engines:
        where = each.url or os.environ.get("DOCKER_HOST") or "the local socket"
        if len(engines) > 1:
            where = f"{where} (engine {each.name})"
        with pool.using(each.name):
            try:
                facts = client.ping(timeout=10)
            except client.EngineError as exc:
                say(f"the Docker engine at {where} does not answer: {exc.message}")
                say("  its sandboxes cannot run until it does; lessons and accounts work meanwhile")
                continue
        say(f"Docker engine {facts['version']} at {where}")


def loopback() -> None:
    remote = [each for each in pool.engines() if not each.local]
    for each in remote:
        say(f"the engine {each.name} is on another machine: learners' apps and registries")
        say(f"  publish on its {each.publish_host}, where the app proxy reaches them; pushes")
        say("  and pulls need DOCKERLAB_REGISTRY_RELAY_HOST to be an address it reaches")
    if not remote and not Path("/sys/class/net/docker0").exists():
        # The engine's default bridge is visible only in the host's network.
        say("this container does not seem to share the host's network (no docker0):")
        say("  opening a learner's app and registry push/pull need network_mode: host")


def cgroups() -> None:
    pids = Path("/sys/fs/cgroup/pids")
    if pids.is_dir() and os.access(pids, os.W_OK):
        say("build steps get a process limit (the host's cgroups are writable)")
    else:
        say("build steps run without a process limit: the host's cgroups are")
        say("  read-only in this container (memory and CPU limits still apply)")


def main() -> None:
    say(
        f"database {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, "
        f"channel layer {settings.CHANNEL_LAYERS['default']['BACKEND'].rsplit('.', 1)[-1]}, "
        f"deployment {settings.DOCKERLAB_DEPLOYMENT}"
    )
    engine()
    loopback()
    cgroups()


if __name__ == "__main__":
    main()
