"""`manage.py kit`: make the lesson images available (the classroom kit)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from engine import client, kit, pool


class Command(BaseCommand):
    help = (
        "Make every configured lesson image available: keep what is present, "
        "else pull it, else build a local equivalent from Debian packages."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "roles",
            nargs="*",
            help=(
                "Only these image roles (python, mariadb, registry, python-build; "
                "swarmnode with orchestration)."
            ),
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="Only report which lesson images are present; exit 1 if any is missing.",
        )
        parser.add_argument(
            "--no-pull", action="store_true", help="Build missing images without trying a pull."
        )
        parser.add_argument(
            "--rebuild",
            action="store_true",
            help="Rebuild images the kit built before (never touches pulled images).",
        )
        parser.add_argument(
            "--deploy",
            action="store_true",
            help="The deployment's images (PostgreSQL, Redis for docker-compose.yml) "
            "instead of the lesson images.",
        )
        parser.add_argument(
            "--engine",
            default="",
            help="Which engine of the pool (DOCKERLAB_ENGINES) to make them on; "
            "default: the first. Every engine that holds sandboxes needs them.",
        )

    def handle(self, *args, engine="", **options):
        if engine and engine not in pool.names():
            raise CommandError(
                f"No engine {engine!r} in the pool; it has: {', '.join(pool.names())}.",
                returncode=2,
            )
        with pool.using(engine):
            return self.handle_engine(*args, **options)

    def handle_engine(self, *args, roles=(), check=False, no_pull=False, rebuild=False, **options):
        verbose = options.get("verbosity", 1) >= 2
        if options.get("deploy"):
            if roles:
                raise CommandError("--deploy makes every deployment image; it takes no roles.")
            return self.handle_deploy(check, no_pull, rebuild, verbose)
        try:
            if check:
                return self.report()
            started = time.monotonic()
            kit.make_images(
                self.say,
                pull=not no_pull,
                rebuild=rebuild,
                roles=roles or None,
                verbose=verbose,
            )
            self.say(f"==> kit: done in {time.monotonic() - started:.1f}s")
        except client.EngineError as exc:
            raise CommandError(exc.message, returncode=1) from None
        except kit.KitError as exc:
            raise CommandError(str(exc), returncode=1) from None

    def say(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()

    def report(self) -> None:
        plan = kit.current_plan()
        for role, name in plan.images.items():
            state = plan.states[role]
            shown = {kit.PRESENT: "present", kit.KIT_BUILT: "present (kit build)"}.get(
                state, "MISSING"
            )
            self.say(f"{role:<12} {name:<38} {shown}")
        if plan.missing:
            raise CommandError(
                f"{len(plan.missing)} kit image(s) missing: {', '.join(plan.missing)}. "
                "Run `make kit` to make them.",
                returncode=1,
            )
        self.say("All lesson images are present.")

    def handle_deploy(self, check: bool, no_pull: bool, rebuild: bool, verbose: bool) -> None:
        """The deployment's images: report them, or make those missing."""
        try:
            if check:
                plan = kit.deploy_plan()
                for role, name in plan.images.items():
                    self.say(f"{role:<9} {name:<30} {plan.states[role]}")
                if plan.missing:
                    raise CommandError(
                        f"deployment image(s) missing: {', '.join(plan.missing)}. "
                        "Run `manage.py kit --deploy` to make them.",
                        returncode=1,
                    )
                return
            started = time.monotonic()
            kit.make_deploy_images(self.say, pull=not no_pull, rebuild=rebuild, verbose=verbose)
            self.say(f"==> kit: deployment images done in {time.monotonic() - started:.1f}s")
        except client.EngineError as exc:
            raise CommandError(exc.message, returncode=1) from None
        except kit.KitError as exc:
            raise CommandError(str(exc), returncode=1) from None
