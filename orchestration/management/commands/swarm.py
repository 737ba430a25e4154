"""`manage.py swarm`: bring the classroom swarm up, report on it, take it down."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from engine import client
from orchestration.errors import SwarmDisabled, SwarmError
from orchestration.services import swarm
from orchestration.topology import SwarmConfigError


class Command(BaseCommand):
    help = (
        "The classroom swarm: `up` starts (or repairs) its nodes, registry and network, "
        "`status` reports (exit 1 unless all is well), `down` removes it."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["up", "status", "down"])
        parser.add_argument(
            "--volumes",
            action="store_true",
            help="With down: remove the nodes' and the registry's data too.",
        )

    def handle(self, *args, action, volumes=False, **options):
        started = time.monotonic()
        try:
            if action == "down":
                swarm.down(self.say, volumes=volumes)
                self.say(f"==> swarm: down in {time.monotonic() - started:.1f}s")
                return
            report = swarm.up(self.say) if action == "up" else swarm.status()
        except SwarmDisabled as exc:
            self.say(f"==> swarm: {exc}; nothing to do.")
            return
        except (SwarmError, SwarmConfigError) as exc:
            raise CommandError(str(exc), returncode=1) from None
        except client.EngineError as exc:
            raise CommandError(exc.message, returncode=1) from None
        for row in report.rows:
            self.say(f"{row.subject:<34} {row.detail}")
        if not report.ok:
            failing = ", ".join(row.subject for row in report.rows if not row.ok)
            fix = "" if action == "up" else " Run `make swarm` to bring it up."
            raise CommandError(f"The classroom swarm is not ready: {failing}.{fix}", returncode=1)
        elapsed = time.monotonic() - started
        self.say(f"==> swarm: ready ({action} in {elapsed:.1f}s)")

    def say(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()
