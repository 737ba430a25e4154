"""The trainer role: `manage.py trainer add/remove/list`, the admin, and what it opens."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from classrooms import roles
from tests.unit.classrooms_helpers import PASSWORD, user

pytestmark = pytest.mark.django_db


def _trainer(name: str) -> bool:
    return roles.is_trainer(get_user_model().objects.get(username=name))


def _run(*args) -> str:
    out = StringIO()
    call_command("trainer", *args, stdout=out)
    return out.getvalue()


def test_add_makes_an_existing_account_a_trainer_and_remove_takes_it_back():
    user("tina")
    assert not _trainer("tina")
    assert "tina is a trainer" in _run("add", "tina")
    assert _trainer("tina")
    assert Group.objects.get(name=roles.GROUP).user_set.filter(username="tina").exists()
    assert _run("list").strip() == "tina"
    assert "no longer a trainer" in _run("remove", "tina")
    assert not _trainer("tina")
    assert "No trainers yet" in _run("list")


def test_add_refuses_an_unknown_user_and_says_how_to_create_one():
    with pytest.raises(CommandError, match="--create"):
        _run("add", "nobody")


def test_add_create_makes_the_account_with_the_password_from_the_environment(monkeypatch):
    monkeypatch.setenv("DOCKERLAB_TRAINER_PASSWORD", PASSWORD)
    assert "Created the account tom" in _run("add", "tom", "--create", "--noinput")
    tom = get_user_model().objects.get(username="tom")
    assert tom.check_password(PASSWORD) and roles.is_trainer(tom)


def test_add_create_refuses_a_weak_or_missing_password(monkeypatch):
    monkeypatch.delenv("DOCKERLAB_TRAINER_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="DOCKERLAB_TRAINER_PASSWORD"):
        _run("add", "tom", "--create", "--noinput")
    monkeypatch.setenv("DOCKERLAB_TRAINER_PASSWORD", "123")
    with pytest.raises(CommandError, match="too short"):
        _run("add", "tom", "--create", "--noinput")
    assert not get_user_model().objects.filter(username="tom").exists()


def test_a_superuser_is_a_trainer_and_the_list_says_why():
    get_user_model().objects.create_superuser("root", password=PASSWORD)
    assert _trainer("root")
    assert "root (superuser)" in _run("list")
    assert "still a trainer as a superuser" in _run("remove", "root")


def test_an_inactive_account_is_no_trainer():
    made = user("sleepy", trainer=True)
    made.is_active = False
    made.save()
    assert not _trainer("sleepy")


def test_the_admin_makes_a_trainer_by_ticking_the_trainers_group(client):
    admin = get_user_model().objects.create_superuser("root", password=PASSWORD)
    learner = user("lea")
    client.force_login(admin)
    page = client.get(f"/admin/auth/user/{learner.pk}/change/")
    assert page.status_code == 200
    group = Group.objects.get(name=roles.GROUP)  # made by the migrations
    assert f'value="{group.pk}"' in page.content.decode()
    form = page.context["adminform"].form
    data = {
        key: value
        for key, value in form.initial.items()
        if value is not None and not isinstance(value, (list, tuple))
    }
    data.update(
        username="lea",
        groups=[group.pk],
        date_joined_0="2026-01-01",
        date_joined_1="10:00:00",
        is_active="on",
    )
    data.pop("password", None)
    data.pop("last_login", None)
    response = client.post(f"/admin/auth/user/{learner.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert _trainer("lea")


def test_the_menu_says_classes_to_trainers_and_my_classes_to_learners(client):
    client.force_login(user("tina", trainer=True))
    assert ">Classes</a>" in client.get("/lessons/").content.decode()
    client.force_login(user("leo"))
    assert ">My classes</a>" in client.get("/lessons/").content.decode()
