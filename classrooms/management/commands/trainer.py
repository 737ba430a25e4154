"""manage.py trainer add USERNAME [--create] | remove USERNAME | list

Gives or takes the trainer role (classrooms.roles: the "trainers" group,
which holds the classrooms.teach permission). `add --create` makes the
account first if there is none, asking for its password, or with
--noinput taking it from DOCKERLAB_TRAINER_PASSWORD.
"""

from __future__ import annotations

import getpass
import os

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from classrooms import roles


class Command(BaseCommand):
    help = "Give or take the trainer role, or list trainers."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="what", required=True)
        add = sub.add_parser("add", help="make USERNAME a trainer")
        add.add_argument("username")
        add.add_argument(
            "--create", action="store_true", help="create the account if there is none"
        )
        add.add_argument(
            "--noinput",
            "--no-input",
            action="store_true",
            help="with --create: the password from DOCKERLAB_TRAINER_PASSWORD",
        )
        remove = sub.add_parser("remove", help="take the trainer role from USERNAME")
        remove.add_argument("username")
        sub.add_parser("list", help="list the trainers")

    def handle(self, *args, what: str, **options) -> None:
        if what == "list":
            self._list()
        elif what == "add":
            self._add(options["username"], options["create"], options["noinput"])
        else:
            self._remove(options["username"])

    def _user(self, username: str):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(
                f"There is no user {username!r}: they sign up first, or use "
                f"`manage.py trainer add {username} --create`."
            )
        return user

    def _add(self, username: str, create: bool, noinput: bool) -> None:
        users = get_user_model()
        if create and not users.objects.filter(username=username).exists():
            password = self._new_password(username, noinput)
            users.objects.create_user(username, password=password)
            self.stdout.write(f"Created the account {username}.")
        user = self._user(username)
        if not user.is_active:
            raise CommandError(
                f"{username} is not active: activate the account in the admin."
            )
        roles.make_trainer(user)
        self.stdout.write(
            f"{username} is a trainer: they see Classes in the site's menu."
        )

    def _new_password(self, username: str, noinput: bool) -> str:
        if noinput:
            password = os.environ.get("DOCKERLAB_TRAINER_PASSWORD", "")
            if not password:
                raise CommandError("With --noinput, set DOCKERLAB_TRAINER_PASSWORD.")
        else:
            password = getpass.getpass(f"Password for {username}: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The passwords differ.")
        try:
            password_validation.validate_password(
                password, get_user_model()(username=username)
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        return password

    def _remove(self, username: str) -> None:
        user = self._user(username)
        roles.unmake_trainer(user)
        user = self._user(username)  # a fresh object: has_perm caches
        if roles.is_trainer(user):
            self.stdout.write(
                f"{username} is no longer in the trainers group, but is still a trainer "
                "as a superuser."
            )
        else:
            self.stdout.write(f"{username} is no longer a trainer.")

    def _list(self) -> None:
        found = list(roles.trainers())
        if not found:
            self.stdout.write("No trainers yet: manage.py trainer add USERNAME")
        for user in found:
            note = " (superuser)" if user.is_superuser else ""
            self.stdout.write(f"{user.get_username()}{note}")
