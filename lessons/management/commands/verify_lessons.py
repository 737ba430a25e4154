"""`manage.py verify_lessons [--lesson SLUG] [-v]`: run the lessons' solutions and checks.

Each lesson gets a sandbox of its own on the engine, removed afterwards
(see lessons.verify). Prints one line per step and challenge, then
"N passed, N failed"; exits non-zero when any check failed.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from lessons import loader
from lessons.verify import verify


class Command(BaseCommand):
    help = "Run every lesson's solution in a fresh sandbox and check each step and challenge."

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        # A bare -v means "say more" here (Django's own -v wants a number).
        for action in parser._actions:
            if "--verbosity" in action.option_strings:
                action.nargs = "?"
                action.const = 2
        return parser

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--lesson",
            action="append",
            metavar="SLUG",
            help="verify only this lesson (may be given more than once)",
        )

    def handle(self, *args, lesson=None, verbosity=1, **options) -> None:
        lessons = loader.all_lessons()
        if lesson:
            known = {item.slug for item in lessons}
            unknown = [slug for slug in lesson if slug not in known]
            if unknown:
                raise CommandError(
                    f"No lesson {unknown[0]!r} (lessons: {', '.join(sorted(known))})."
                )
            lessons = [item for item in lessons if item.slug in lesson]
        started = time.monotonic()
        tally = verify(lessons, say=self.stdout.write, verbose=int(verbosity) >= 2)
        self.stdout.write(
            f"{tally.passed} passed, {tally.failed} failed ({time.monotonic() - started:.0f} s)"
        )
        if tally.failed:
            raise CommandError(f"{tally.failed} checks failed.")
