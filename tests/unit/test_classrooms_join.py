"""Joining a class: readable unique codes, the join page, sign-up with a class code,
wrong and expired codes refused with a message, guesses limited per learner and address."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache

from accounts import limits
from classrooms import codes
from classrooms.joining import JoinRefused, find_classroom
from classrooms.models import Classroom, Membership
from tests.unit.classrooms_helpers import PASSWORD, classroom, user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_counters():
    cache.clear()
    yield
    cache.clear()


def _join(client, code: str):
    return client.post("/classes/join/", {"code": code})


def test_codes_are_readable_random_and_unique():
    made = {codes.new_code() for _ in range(2000)}
    assert len(made) == 2000
    for code in made:
        assert re.fullmatch(r"[23456789ABCDEFGHJKMNPQRSTWXYZ]{8}", code)
    assert codes.shown("K7QM3XHP") == "K7QM-3XHP"
    assert codes.normalize(" k7qm-3xhp ") == "K7QM3XHP"
    for bad in ["", "K7QM3XH", "K7QM3XHP1", "K7QM3XH0", "K7QM;XHP", None, 7, "x" * 100]:
        assert codes.normalize(bad) is None
    owner = user("tina", trainer=True)
    rooms = [classroom(owner, f"c{i}") for i in range(30)]
    assert len({room.code for room in rooms}) == 30


def test_a_learner_joins_with_the_code_however_they_type_it(client):
    room = classroom(user("tina", trainer=True))
    learner = user("leo")
    client.force_login(learner)
    response = _join(client, room.shown_code.lower().replace("-", " "))
    assert response.status_code == 302 and response["Location"] == "/classes/"
    assert Membership.objects.filter(classroom=room, user=learner).exists()
    page = client.get("/classes/").content.decode()
    assert f"You joined {room.name}" in page and room.name in page
    assert _join(client, room.code).status_code == 302  # again: still one membership
    assert Membership.objects.filter(user=learner).count() == 1


def test_a_learner_may_be_in_several_classes(client):
    tina = user("tina", trainer=True)
    first, second = classroom(tina, "Monday"), classroom(tina, "Tuesday")
    client.force_login(user("leo"))
    _join(client, first.code)
    _join(client, second.code)
    page = client.get("/classes/").content.decode()
    assert "Monday" in page and "Tuesday" in page


def test_a_wrong_code_is_refused_with_a_message(client):
    client.force_login(user("leo"))
    response = _join(client, "ZZZZ-ZZZZ")
    assert response.status_code == 400
    assert "No class has that code" in response.content.decode()
    response = _join(client, "<script>alert(1)</script>")
    assert response.status_code == 400 and b"<script>alert" not in response.content
    assert not Membership.objects.exists()


def test_an_expired_code_is_refused_saying_the_class_ended(client):
    room = classroom(user("tina", trainer=True), "Last year", days=-1)
    client.force_login(user("leo"))
    response = _join(client, room.code)
    assert response.status_code == 400
    assert "Last year ended on" in response.content.decode()
    assert not Membership.objects.exists()
    with pytest.raises(JoinRefused) as info:
        find_classroom(room.code)
    assert info.value.code == "ended"


def test_the_last_day_still_works():
    room = classroom(user("tina", trainer=True), days=0)
    assert find_classroom(room.code) == room


def test_guesses_are_limited_per_learner(client, settings):
    settings.DOCKERLAB_JOIN_FAILURES_PER_USER = 3
    room = classroom(user("tina", trainer=True))
    client.force_login(user("leo"))
    for _ in range(3):
        assert _join(client, "ZZZZ-ZZZZ").status_code == 400
    response = _join(client, room.code)  # even the right code, until the pause ends
    assert response.status_code == 429
    assert "Too many wrong class codes" in response.content.decode()
    assert not Membership.objects.exists()
    # Another learner behind the same address is not locked by leo's guesses.
    client.force_login(user("mia"))
    assert _join(client, room.code).status_code == 302


def test_guesses_are_limited_per_address(client, settings):
    settings.DOCKERLAB_JOIN_FAILURES_PER_ADDRESS = 4
    room = classroom(user("tina", trainer=True))
    for name in ["a1", "a2"]:
        client.force_login(user(name))
        _join(client, "ZZZZ-ZZZZ")
        _join(client, "YYYY-YYYY")
    client.force_login(user("a3"))
    assert _join(client, room.code).status_code == 429


def test_right_codes_never_count_against_a_classroom_of_learners(client, settings):
    settings.DOCKERLAB_JOIN_FAILURES_PER_ADDRESS = 2
    room = classroom(user("tina", trainer=True))
    for i in range(5):
        client.force_login(user(f"l{i}"))
        assert _join(client, room.code).status_code == 302
    assert room.memberships.count() == 5


def test_the_join_page_needs_an_account(client):
    response = client.get("/classes/join/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- at sign-up -------------------------------------------------------------------------


def _signup(client, username: str, code: str | None = None):
    data = {"username": username, "password1": PASSWORD, "password2": PASSWORD}
    if code is not None:
        data["code"] = code
    return client.post("/accounts/signup/", data)


def test_with_signup_by_code_a_class_code_lets_a_learner_in_and_joins_them(client, settings):
    settings.DOCKERLAB_SIGNUP = "code"
    settings.DOCKERLAB_SIGNUP_CODE = "site-secret"
    room = classroom(user("tina", trainer=True))
    assert limits.signup_code_accepted(room.shown_code)
    assert limits.signup_code_accepted("site-secret")
    assert not limits.signup_code_accepted("ZZZZ-ZZZZ")
    response = _signup(client, "leo", room.shown_code)
    assert response.status_code == 302
    leo = get_user_model().objects.get(username="leo")
    assert Membership.objects.filter(classroom=room, user=leo).exists()
    assert f"You are in the class {room.name}" in client.get("/").content.decode()


def test_with_signup_by_code_the_site_code_still_works_and_joins_no_class(client, settings):
    settings.DOCKERLAB_SIGNUP = "code"
    settings.DOCKERLAB_SIGNUP_CODE = "site-secret"
    classroom(user("tina", trainer=True))
    assert _signup(client, "leo", "site-secret").status_code == 302
    assert not Membership.objects.exists()


def test_with_signup_by_code_wrong_and_expired_codes_are_refused(client, settings):
    settings.DOCKERLAB_SIGNUP = "code"
    settings.DOCKERLAB_SIGNUP_CODE = "site-secret"
    old = classroom(user("tina", trainer=True), "Old class", days=-3)
    response = _signup(client, "leo", "ZZZZ-ZZZZ")
    assert response.status_code == 200
    assert "That sign-up code is not right" in response.content.decode()
    response = _signup(client, "leo", old.code)
    assert "Old class ended on" in response.content.decode()
    assert not limits.signup_code_accepted(old.code)
    assert not get_user_model().objects.filter(username="leo").exists()


def test_signup_code_guesses_count_against_the_address(client, settings):
    settings.DOCKERLAB_SIGNUP = "code"
    settings.DOCKERLAB_SIGNUP_CODE = "site-secret"
    settings.DOCKERLAB_JOIN_FAILURES_PER_ADDRESS = 3
    room = classroom(user("tina", trainer=True))
    for i in range(3):
        _signup(client, f"guess{i}", f"ZZZZ-ZZZ{i + 2}")
    response = _signup(client, "leo", room.code)
    assert "Too many wrong class codes" in response.content.decode()
    assert not get_user_model().objects.filter(username="leo").exists()


def test_with_open_signup_a_class_code_is_optional(client, settings):
    settings.DOCKERLAB_SIGNUP = "open"
    room = classroom(user("tina", trainer=True))
    assert "Class code (optional)" in client.get("/accounts/signup/").content.decode()
    assert _signup(client, "ann").status_code == 302
    client.logout()
    assert _signup(client, "ben", room.code).status_code == 302
    assert list(Membership.objects.values_list("user__username", flat=True)) == ["ben"]
    client.logout()
    response = _signup(client, "cid", "ZZZZ-ZZZZ")
    assert "No class has that code" in response.content.decode()
    assert not get_user_model().objects.filter(username="cid").exists()


def test_a_new_code_replaces_the_old_one(client):
    tina = user("tina", trainer=True)
    room = classroom(tina)
    old = room.code
    client.force_login(tina)
    client.post(f"/classes/{room.pk}/code/")
    room.refresh_from_db()
    assert room.code != old
    with pytest.raises(JoinRefused):
        find_classroom(old)
    assert Classroom.objects.get(code=room.code) == room
