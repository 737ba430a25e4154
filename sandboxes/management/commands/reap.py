"""`manage.py reap`: remove engine objects of expired sandboxes.

Run once (cron, timers), or with `--every SECONDS` as a long-lived sweeper
(`make run` starts one beside the server). It sweeps only objects labelled
with this deployment's id (DOCKERLAB_DEPLOYMENT); of those, objects of a
sandbox this database does not know are removed too, which is how a restart
with a fresh database reconciles. Live sandboxes lose what builds that no
longer run left behind (a server killed mid-build): step containers and the
unfinished builds' images; those removals are logged.
"""

import time

from django.core.management.base import BaseCommand, CommandError

from engine.client import EngineError

from sandboxes.errors import SandboxError
from sandboxes.services import reaper


class Command(BaseCommand):
    help = "Remove containers, images, volumes and networks of expired or unknown sandboxes."

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
            return
        if every < 10 or options["sandbox"]:
            raise CommandError("--every takes at least 10 seconds, and no --sandbox.")
        while True:
            try:
                self.sweep(options)
            except (CommandError, EngineError) as exc:
                # An engine that is down for a while must not end the sweeper.
                self.stderr.write(f"reap: {exc}")
            time.sleep(every)

    def sweep(self, options) -> None:
        try:
            if options["sandbox"]:
                result = {options["sandbox"]: reaper.remove_objects(options["sandbox"])}
            else:
                result = reaper.reap()
        except SandboxError as exc:
            raise CommandError(exc.message) from None
        if not result:
            self.stdout.write("Nothing to reap.")
        for sid, removed in result.items():
            self.stdout.write(f"{sid}: {reaper.describe(removed)}")
