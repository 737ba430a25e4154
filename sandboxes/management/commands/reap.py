"""`manage.py reap`: remove engine objects of expired sandboxes, and hold disk limits.

Run once (cron, timers), or with `--every SECONDS` as a long-lived sweeper
(`make run` starts one beside the server). It sweeps only objects labelled
with this deployment's id (DOCKERLAB_DEPLOYMENT); of those, objects of a
sandbox this database does not know are removed too, which is how a restart
with a fresh database reconciles. Live sandboxes lose what builds that no
longer run left behind (a server killed mid-build): step containers and the
unfinished builds' images; those removals are logged.

Each run also measures every sandbox's disk use (sandboxes.services.disk):
a sandbox over its limit has its running containers stopped. The long-lived
sweeper measures every DOCKERLAB_DISK_CHECK_EVERY seconds, which is usually
more often than it reaps.
"""

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from engine.client import EngineError
from sandboxes.errors import SandboxError
from sandboxes.services import disk, reaper


class Command(BaseCommand):
    help = (
        "Remove containers, images, volumes and networks of expired or unknown "
        "sandboxes, and stop sandboxes over their disk limit."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--sandbox",
            help="Remove everything of this one sandbox id, expired or not.",
        )
        parser.add_argument(
            "--every",
            type=int,
            metavar="SECONDS",
            help="Keep running, sweeping every SECONDS (at least 10).",
        )

    def handle(self, *args, **options):
        every = options["every"]
        if every is None:
            self.sweep(options)
            if not options["sandbox"]:
                self.measure(quiet=False)
            return
        if every < 10 or options["sandbox"]:
            raise CommandError("--every takes at least 10 seconds, and no --sandbox.")
        disk_every = settings.DOCKERLAB_DISK_CHECK_EVERY
        next_reap = next_disk = time.monotonic()
        while True:
            now = time.monotonic()
            if now >= next_reap:
                self.guarded(self.sweep, options)
                next_reap = now + every
            if now >= next_disk:
                self.guarded(self.measure)
                next_disk = now + disk_every
            time.sleep(max(0.0, min(next_reap, next_disk) - time.monotonic()))

    def guarded(self, job, *args) -> None:
        try:
            job(*args)
        except (CommandError, EngineError, OSError) as exc:
            # An engine that is down for a while (or a full disk under the
            # record) must not end the sweeper.
            self.stderr.write(f"reap: {exc}")

    def sweep(self, options) -> None:
        try:
            if options["sandbox"]:
                sid = options["sandbox"]
                result = {sid: reaper.remove_everywhere(sid)}
            else:
                result = reaper.reap()
        except SandboxError as exc:
            raise CommandError(exc.message) from None
        if not result:
            self.stdout.write("Nothing to reap.")
        for sid, removed in result.items():
            self.stdout.write(f"{sid}: {reaper.describe(removed)}")

    def measure(self, quiet: bool = True) -> None:
        """Measure disk use; report sandboxes over their limit (all, if not quiet)."""
        try:
            entries = disk.sweep()
        except SandboxError as exc:
            raise CommandError(f"disk: {exc.message}") from None
        for sid, entry in sorted(entries.items()):
            if entry["over"] or not quiet:
                line = (
                    f"disk: {sid} uses {disk.shown(entry['used'])} "
                    f"of {disk.shown(entry['limit'])}"
                )
                if entry["over"]:
                    stopped = ", ".join(entry["stopped"]) or "none running"
                    line += f", over its limit (stopped: {stopped})"
                self.stdout.write(line)
        if not quiet and not entries:
            self.stdout.write("disk: no sandbox holds anything.")
