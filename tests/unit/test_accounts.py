"""Sign-up, sign-in and sign-out, and what the header shows for each."""

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client

from accounts import limits

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-Passphrase-9"


def _signup(client, username="alice", password=PASSWORD, **extra):
    data = {"username": username, "password1": password, "password2": password, **extra}
    return client.post("/accounts/signup/", data)


def test_the_signup_page_shows_a_form(client):
    response = client.get("/accounts/signup/")
    assert response.status_code == 200
    assert b'name="password1"' in response.content


def test_signing_up_creates_the_user_and_signs_them_in(client):
    response = _signup(client)
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert get_user_model().objects.filter(username="alice").exists()
    page = client.get("/")
    assert b"Signed in as" in page.content and b"alice" in page.content


def test_signup_goes_back_to_the_page_it_came_from(client):
    response = _signup(client, next="/lessons/")
    assert response["Location"] == "/lessons/"


def test_signup_never_redirects_to_another_site(client):
    response = _signup(client, next="https://evil.example/")
    assert response["Location"] == "/"


def test_mismatched_passwords_are_explained_not_saved(client):
    response = client.post(
        "/accounts/signup/",
        {"username": "bob", "password1": PASSWORD, "password2": PASSWORD + "x"},
    )
    assert response.status_code == 200
    assert b"field-errors" in response.content
    assert not get_user_model().objects.filter(username="bob").exists()


def test_a_weak_password_is_refused_with_a_reason(client):
    response = _signup(client, username="carol", password="123")
    assert response.status_code == 200
    assert b"too short" in response.content


def test_signing_in_and_out(client):
    get_user_model().objects.create_user("dave", password=PASSWORD)
    response = client.post("/accounts/login/", {"username": "dave", "password": PASSWORD})
    assert response.status_code == 302
    assert b"Signed in as" in client.get("/").content
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert b"Signed in as" not in client.get("/").content


def test_a_wrong_password_gets_a_message(client):
    get_user_model().objects.create_user("erin", password=PASSWORD)
    response = client.post("/accounts/login/", {"username": "erin", "password": "nope"})
    assert response.status_code == 200
    assert b"form-errors" in response.content


def test_anonymous_visitors_see_sign_in_links_that_come_back(client):
    page = client.get("/lessons/").content.decode()
    assert "/accounts/login/?next=/lessons/" in page
    assert "/accounts/signup/?next=/lessons/" in page


def test_the_sandbox_page_asks_anonymous_visitors_to_sign_in(client):
    response = client.get("/sandbox/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_signed_in_learner_gets_the_sandbox_page(client):
    user = get_user_model().objects.create_user("frank", password=PASSWORD)
    client.force_login(user)
    response = client.get("/sandbox/")
    assert response.status_code == 200
    assert b"data-sandbox-page" in response.content


# --- limits: who may sign up, how often anyone may try ---------------------------


@pytest.fixture(autouse=True)
def fresh_counters():
    cache.clear()
    yield
    cache.clear()


def test_two_hundred_signups_from_one_address_create_only_the_allowed_few(client, settings):
    settings.DOCKERLAB_SIGNUPS_PER_HOUR = 5
    answers = []
    for i in range(200):
        client.logout()
        answers.append(_signup(client, username=f"bulk{i}"))
    assert [a.status_code for a in answers[:5]] == [302] * 5
    refused = answers[5:]
    assert {a.status_code for a in refused} == {429}
    assert all(b"Too many accounts were created from your network" in a.content for a in refused)
    assert get_user_model().objects.filter(username__startswith="bulk").count() == 5
    # Another address is not affected.
    other = _signup(Client(REMOTE_ADDR="192.0.2.7"), username="elsewhere")
    assert other.status_code == 302


def test_sign_up_can_be_closed(client, settings):
    settings.DOCKERLAB_SIGNUP = "closed"
    page = client.get("/accounts/signup/")
    assert b"Sign-up is closed on this site" in page.content
    assert b'name="password1"' not in page.content
    assert _signup(client).status_code == 403
    assert not get_user_model().objects.filter(username="alice").exists()


def test_sign_up_can_require_the_trainers_code(client, settings):
    settings.DOCKERLAB_SIGNUP = "code"
    settings.DOCKERLAB_SIGNUP_CODE = "blue-whale-42"
    assert b'name="code"' in client.get("/accounts/signup/").content
    wrong = _signup(client, code="red-whale-42")
    assert wrong.status_code == 200 and b"sign-up code is not right" in wrong.content
    assert _signup(client, username="bob", code="").status_code == 200
    assert not get_user_model().objects.filter(username__in=["alice", "bob"]).exists()
    assert _signup(client, code=" blue-whale-42 ").status_code == 302
    assert get_user_model().objects.filter(username="alice").exists()


def test_a_code_is_never_accepted_when_none_is_set(settings):
    settings.DOCKERLAB_SIGNUP_CODE = ""
    assert not limits.signup_code_accepted("")
    assert not limits.signup_code_accepted("anything")


def test_repeated_wrong_passwords_lock_the_user_name(client, settings):
    settings.DOCKERLAB_LOGIN_FAILURES_PER_USER = 3
    get_user_model().objects.create_user("gina", password=PASSWORD)
    for _ in range(3):
        assert client.post("/accounts/login/", {"username": "gina", "password": "x"}).status_code == 200
    locked = client.post("/accounts/login/", {"username": "gina", "password": PASSWORD})
    assert locked.status_code == 429
    assert b"Too many failed sign-ins" in locked.content
    assert b"Signed in as" not in client.get("/").content
    # The lock is on the name (from any address), not on everyone.
    elsewhere = Client(REMOTE_ADDR="192.0.2.8")
    assert elsewhere.post("/accounts/login/", {"username": "GINA", "password": PASSWORD}).status_code == 429
    get_user_model().objects.create_user("hank", password=PASSWORD)
    assert client.post("/accounts/login/", {"username": "hank", "password": PASSWORD}).status_code == 302


def test_repeated_failures_from_one_address_lock_that_address(client, settings):
    settings.DOCKERLAB_LOGIN_FAILURES_PER_ADDRESS = 4
    get_user_model().objects.create_user("ivy", password=PASSWORD)
    for i in range(4):
        client.post("/accounts/login/", {"username": f"guess{i}", "password": "x"})
    assert client.post("/accounts/login/", {"username": "ivy", "password": PASSWORD}).status_code == 429
    other = Client(REMOTE_ADDR="192.0.2.9")
    assert other.post("/accounts/login/", {"username": "ivy", "password": PASSWORD}).status_code == 302
