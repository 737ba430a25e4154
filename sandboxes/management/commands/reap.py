"""`manage.py reap`: remove engine objects of expired sandboxes (cron, timers)."""

from django.core.management.base import BaseCommand, CommandError

from sandboxes.errors import SandboxError
from sandboxes.services import reaper


class Command(BaseCommand):
    help = "Remove containers, images and networks of expired or unknown sandboxes."

    def add_arguments(self, parser):
        parser.add_argument(
            "--sandbox",
            help="Remove everything of this one sandbox id, expired or not.",
        )

    def handle(self, *args, **options):
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
            self.stdout.write(
                f"{sid}: {removed['containers']} containers, "
                f"{removed['images']} images, {removed['networks']} networks removed"
            )
